#include "tests/server/served.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_runtime.h"

namespace pil::server::testing {

sim::v1::Profile Fast() {
  sim::v1::Profile profile;
  profile.mutable_timings()->set_boot_ms(1);
  profile.mutable_timings()->set_stop_ack_ms(1);
  profile.mutable_timings()->set_handover_ms(1);
  return profile;
}

Served::Served(ServedOptions options)
    : sim_("sm8550-el2-sim", options.profile) {
  KeepGrpcRuntime();
  // (TEST_TMPDIR is too deep for a socket address.)
  socket_ = absl::StrCat("/tmp/pild-service-test-", getpid(), "-", counter_++,
                         ".sock");
  listener_ = std::move(*UnixListener::Listen(socket_));
  access::Policy policy;
  if (options.policy) {
    policy = std::move(*options.policy);
  } else if (getuid() != 0) {
    policy = *access::Policy::Parse(
        absl::StrCat("rule { uid: ", getuid(), " role: ADMIN }"), "test",
        {"adsp", "video", "cdsp"});
  }
  gate_ = std::make_unique<Gate>(&sim_.history(), std::move(policy));
  ServerFacts facts;
  facts.backend = "sim";
  facts.plaintext_tcp = options.plaintext_tcp;
  service_ = std::make_unique<LifecycleService>(
      &sim_.engine(), &sim_.store(), gate_.get(), facts, options.service);
  health_ = std::make_unique<HealthService>(gate_.get());
  grpc::ServerBuilder builder;
  if (options.plaintext_tcp) {
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &tcp_port_);
  }
  builder.RegisterService(service_.get());
  builder.RegisterService(health_.get());
  server_ = builder.BuildAndStart();
  listener_->Start(server_.get());
  health_->SetServingStatus(true);
  service_->ReportHealth(health_.get());
}

Served::~Served() {
  service_->ReportHealth(nullptr);
  listener_->Stop();
  server_->Shutdown(std::chrono::system_clock::now());
}

client::PildClient Served::Client(absl::Duration timeout, bool tcp) {
  client::PildClient::Options options;
  options.address = tcp ? tcp_address() : address();
  options.timeout = timeout;
  options.transition_timeout = timeout;
  return client::PildClient(options);
}

std::shared_ptr<grpc::Channel> Served::TcpChannel() const {
  return grpc::CreateChannel(tcp_address(), grpc::InsecureChannelCredentials());
}

std::string Served::tcp_address() const {
  return absl::StrCat("127.0.0.1:", tcp_port_);
}

}  // namespace pil::server::testing
