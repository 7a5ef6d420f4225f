// The cost of pild's API over its Unix socket against a bare gRPC echo in
// the same server, and of many concurrent Watch streams.
//
//   ./bazelw run -c opt //bench:rpc_bench
//
// One process hosts pild's LifecycleService (engine over an in-process
// simulated SM8550 board, behind pild's own Unix listener with peer
// credentials) and an Echo service that returns a payload as large as a
// serialized Coprocessor. A synchronous client calls each in turn:
// get_coprocessor is one GetCoprocessor("video") round trip, echo the same
// round trip through the bare handler. The ratio is printed (goal <= 1.2).
//
// watch_streams/N opens N Watch streams on one channel, waits for every
// initial event, then starts and stops a coprocessor and waits until every
// stream has seen all of its changes; counters: the process's resident
// memory per open stream (rss_kib_per_stream, client and server sides
// together; later repetitions reuse what earlier ones freed), the
// process's whole resident memory with the N streams open (rss_mib_open),
// and the time from the last change being emitted to the last
// stream receiving it (fanout_ms).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "bench/proto/echo.grpc.pb.h"
#include "benchmark/benchmark.h"
#include "common/file.h"
#include "common/grpc_runtime.h"
#include "platform/devicetree/discovery.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/soc.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "server/access/policy.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/gate.h"
#include "server/history.h"
#include "server/service.h"
#include "server/status_proto.h"
#include "server/unix_listener.h"

namespace pil::bench {
namespace {

std::pair<double, double>& PairedRatio() {
  static std::pair<double, double> medians;
  return medians;
}

class EchoService final : public Echo::CallbackService {
 public:
  explicit EchoService(size_t size) : payload_(size, 'x') {}
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const EchoRequest*,
                                 EchoResponse* response) override {
    response->set_payload(payload_);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::string payload_;
};

// pild's service and the echo, on one server behind a Unix socket.
class Server {
 public:
  Server() {
    const std::string dtb = *ReadFile(RealData("dtb/sm8550-qrd.dtb"));
    sim::v1::Profile profile;
    profile.mutable_timings()->set_boot_ms(1);
    profile.mutable_timings()->set_stop_ack_ms(1);
    soc_ = std::move(*sim::SimSoc::Create(dtb, profile, ""));
    board_ = *devicetree::Discover(dtb);
    store_ = std::make_unique<server::FirmwareStore>(
        std::vector<std::string>{RealData("firmware")});
    backend_ = std::make_unique<pas::PasBackend>(soc_.get(), board_,
                                                 pas::PasOptions());
    engine_ = std::make_unique<server::LifecycleEngine>(
        backend_.get(), board_, store_.get(), &history_);
    (void)engine_->Adopt();
    socket_ = absl::StrCat("/tmp/pild-rpc-bench-", getpid(), ".sock");
    listener_ = std::move(*server::UnixListener::Listen(socket_));
    // Root only, as pild without --policy: the benchmark runs as root.
    gate_ = std::make_unique<server::Gate>(&history_, access::Policy());
    service_ = std::make_unique<server::LifecycleService>(
        engine_.get(), store_.get(), gate_.get(), server::ServerFacts{});
    auto video = engine_->Get("video");
    echo_ = std::make_unique<EchoService>(
        server::CoprocessorToProto(*video).ByteSizeLong());
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    builder.RegisterService(echo_.get());
    server_ = builder.BuildAndStart();
    listener_->Start(server_.get());
  }
  ~Server() {
    listener_->Stop();
    server_->Shutdown();
    server_.reset();
    service_.reset();
    engine_.reset();
  }
  std::string address() const { return "unix:" + socket_; }
  server::LifecycleEngine& engine() { return *engine_; }

 private:
  std::unique_ptr<sim::SimSoc> soc_;
  std::unique_ptr<pas::PasBackend> backend_;
  devicetree::Board board_;
  std::unique_ptr<server::FirmwareStore> store_;
  server::History history_;
  std::unique_ptr<server::LifecycleEngine> engine_;
  std::string socket_;
  std::unique_ptr<server::UnixListener> listener_;
  std::unique_ptr<server::Gate> gate_;
  std::unique_ptr<server::LifecycleService> service_;
  std::unique_ptr<EchoService> echo_;
  std::unique_ptr<grpc::Server> server_;
};

Server& TheServer() {
  static Server* server = new Server();
  return *server;
}

std::shared_ptr<grpc::Channel> Channel() {
  static auto channel = grpc::CreateChannel(TheServer().address(),
                                            grpc::InsecureChannelCredentials());
  return channel;
}

void GetCoprocessor(benchmark::State& state) {
  auto stub = v1::LifecycleService::NewStub(Channel());
  v1::GetCoprocessorRequest request;
  request.set_name("video");
  for (auto _ : state) {
    grpc::ClientContext context;
    v1::Coprocessor response;
    grpc::Status status = stub->GetCoprocessor(&context, request, &response);
    if (!status.ok()) state.SkipWithError(status.error_message().c_str());
  }
}

// GetCoprocessor and the echo alternately, each call timed, so that both
// see the same machine conditions; counters: the median of each and their
// ratio.
void Paired(benchmark::State& state) {
  auto lifecycle = v1::LifecycleService::NewStub(Channel());
  auto echo = Echo::NewStub(Channel());
  v1::GetCoprocessorRequest get_request;
  get_request.set_name("video");
  EchoRequest echo_request;
  echo_request.set_name("video");
  std::vector<double> get_us, echo_us;
  auto timed = [](const std::function<grpc::Status()>& call,
                  std::vector<double>* samples) {
    const absl::Time start = absl::Now();
    grpc::Status status = call();
    samples->push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    return status.ok();
  };
  for (auto _ : state) {
    bool ok = timed(
        [&] {
          grpc::ClientContext context;
          v1::Coprocessor response;
          return lifecycle->GetCoprocessor(&context, get_request, &response);
        },
        &get_us);
    ok &= timed(
        [&] {
          grpc::ClientContext context;
          EchoResponse response;
          return echo->Echo(&context, echo_request, &response);
        },
        &echo_us);
    if (!ok) state.SkipWithError("call failed");
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double get = median(get_us), bare = median(echo_us);
  state.counters["get_us"] = get;
  state.counters["echo_us"] = bare;
  state.counters["ratio"] = bare > 0 ? get / bare : 0;
  PairedRatio() = {get, bare};
}

// The work GetCoprocessor adds to a bare call, without gRPC: the engine's
// snapshot, its conversion to a message, serializing and parsing it.
void GetCoprocessorWork(benchmark::State& state) {
  Server& server = TheServer();
  for (auto _ : state) {
    auto status = server.engine().Get("video");
    const std::string wire =
        server::CoprocessorToProto(*status).SerializeAsString();
    v1::Coprocessor parsed;
    parsed.ParseFromString(wire);
    benchmark::DoNotOptimize(parsed);
  }
}

void BareEcho(benchmark::State& state) {
  auto stub = Echo::NewStub(Channel());
  EchoRequest request;
  request.set_name("video");
  for (auto _ : state) {
    grpc::ClientContext context;
    EchoResponse response;
    grpc::Status status = stub->Echo(&context, request, &response);
    if (!status.ok()) state.SkipWithError(status.error_message().c_str());
  }
}

// One Watch stream of "video": counts the initial event and the changes,
// and notes when the last awaited change arrived.
class Watcher : public grpc::ClientReadReactor<v1::WatchEvent> {
 public:
  Watcher(v1::LifecycleService::Stub* stub, std::atomic<int>* initial_left,
          std::atomic<int>* changes_left, int changes)
      : initial_left_(initial_left),
        changes_left_(changes_left),
        changes_(changes) {
    v1::WatchRequest request;
    request.set_name("video");
    stub->async()->Watch(&context_, &request, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (event_.initial()) {
      --*initial_left_;
    } else if (++seen_ == changes_) {
      last_ = absl::Now();
      const auto& t = event_.time();
      emitted_ =
          absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
      --*changes_left_;
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  void Cancel() { context_.TryCancel(); }
  void AwaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
  // From the last change's emission to its arrival here.
  absl::Duration Latency() const { return last_ - emitted_; }

 private:
  grpc::ClientContext context_;
  v1::WatchEvent event_;
  std::atomic<int>* initial_left_;
  std::atomic<int>* changes_left_;
  const int changes_;
  int seen_ = 0;
  absl::Time last_, emitted_;
  absl::Mutex mu_;
  bool done_ = false;
};

bool WaitFor(const std::atomic<int>& left) {
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (left.load() > 0 && absl::Now() < until) {
    absl::SleepFor(absl::Microseconds(200));
  }
  return left.load() == 0;
}

void WatchStreams(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Server& server = TheServer();
  auto stub = v1::LifecycleService::NewStub(Channel());
  // A start and a stop: authenticated, mapped, running, stopping, offline.
  constexpr int kChanges = 5;
  double rss_per_stream = 0, rss_open_mib = 0, fanout_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const long before = ResidentKib();
    std::atomic<int> initial_left{n}, changes_left{n};
    std::vector<std::unique_ptr<Watcher>> watchers;
    for (int i = 0; i < n; ++i) {
      watchers.push_back(std::make_unique<Watcher>(stub.get(), &initial_left,
                                                   &changes_left, kChanges));
    }
    if (!WaitFor(initial_left)) state.SkipWithError("streams did not open");
    const long open = ResidentKib();
    rss_per_stream = static_cast<double>(open - before) / n;
    rss_open_mib = static_cast<double>(open) / 1024;
    state.ResumeTiming();
    // Timed: a whole Start and Stop, delivered to every stream.
    auto started = server.engine().Start("video", {}, absl::ZeroDuration(), {});
    auto stopped = server.engine().Stop("video", absl::ZeroDuration(), {});
    if (!started.ok() || !stopped.ok()) state.SkipWithError("start failed");
    if (!WaitFor(changes_left)) state.SkipWithError("events were lost");
    state.PauseTiming();
    absl::Duration worst;
    for (const auto& w : watchers) worst = std::max(worst, w->Latency());
    fanout_ms = absl::ToDoubleMilliseconds(worst);
    for (auto& w : watchers) w->Cancel();
    for (auto& w : watchers) w->AwaitDone();
    state.ResumeTiming();
  }
  state.counters["rss_kib_per_stream"] = rss_per_stream;
  state.counters["rss_mib_open"] = rss_open_mib;
  state.counters["fanout_ms"] = fanout_ms;
}

}  // namespace
}  // namespace pil::bench

int main(int argc, char** argv) {
  using namespace pil::bench;
  pil::KeepGrpcRuntime();
  benchmark::RegisterBenchmark("get_coprocessor", GetCoprocessor)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("paired_round_trips", Paired)
      ->MinTime(3)
      ->Repetitions(1)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("get_coprocessor_work", GetCoprocessorWork)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("echo", BareEcho)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  for (int n : {1, 100, 1000, 2000}) {
    benchmark::RegisterBenchmark("watch_streams", WatchStreams)
        ->Arg(n)
        ->Iterations(1)
        ->Repetitions(5)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  const auto medians = RunWithMedians(argc, argv);
  if (medians.count("get_coprocessor") && medians.count("echo")) {
    const double get = medians.at("get_coprocessor");
    const double echo = medians.at("echo");
    std::printf(
        "\nmedian round trip (us), separate runs: GetCoprocessor %.1f, "
        "bare echo %.1f: %.2fx\n",
        get, echo, get / echo);
  }
  const auto [paired_get, paired_echo] = PairedRatio();
  if (paired_echo > 0) {
    std::printf(
        "median round trip (us), alternating calls: GetCoprocessor "
        "%.1f, bare echo %.1f: %.2fx\n",
        paired_get, paired_echo, paired_get / paired_echo);
  }
  return 0;
}
