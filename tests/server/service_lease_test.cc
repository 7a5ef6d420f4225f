// Lease over gRPC in-process: the grant, a second lease refused, the bound,
// and the stop when the stream ends. (Other callers being kept off needs
// another process: tests/e2e/lifecycle_test.py.)
#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/time/clock.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "gtest/gtest.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "tests/server/served.h"

namespace pil::server::testing {
namespace {

class LeaseCall {
 public:
  LeaseCall(v1::LifecycleService::Stub* stub, const std::string& name) {
    v1::LeaseRequest request;
    request.add_names(name);
    request.set_holder("test");
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    reader_ = stub->Lease(&context_, request);
  }
  // The grant, or the status the call ended with.
  absl::StatusOr<v1::LeaseResponse> Grant() {
    v1::LeaseResponse grant;
    if (reader_->Read(&grant)) return grant;
    return FromGrpcStatus(reader_->Finish());
  }
  void End() {
    context_.TryCancel();
    v1::LeaseResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    (void)reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::LeaseResponse>> reader_;
};

TEST(ServiceLease, TheEndOfTheStreamStopsWhatItHeld) {
  ServedOptions options;
  options.service.max_leases = 1;
  Served served(options);
  auto client = served.Client();
  auto stub = v1::LifecycleService::NewStub(grpc::CreateChannel(
      served.address(), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(client.Start("video").ok());
  LeaseCall lease(stub.get(), "video");
  auto grant = lease.Grant();
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->names(0), "video");
  LeaseCall again(stub.get(), "video");
  EXPECT_EQ(ReasonOf(again.Grant().status()), "LEASED");
  LeaseCall other(stub.get(), "adsp");
  EXPECT_EQ(ReasonOf(other.Grant().status()), "TOO_MANY_LEASES");
  LeaseCall unknown(stub.get(), "gpu");
  EXPECT_EQ(ReasonOf(unknown.Grant().status()), "UNKNOWN_COPROCESSOR");
  lease.End();
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (served.sim().engine().Get("video")->state != State::kOffline &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  served.sim().ExpectClean("video");
  // The bound is free again.
  LeaseCall next(stub.get(), "adsp");
  EXPECT_TRUE(next.Grant().ok());
  next.End();
}

}  // namespace
}  // namespace pil::server::testing
