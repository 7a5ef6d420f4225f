// Each bound the service puts on what callers make pild hold, hit: upload
// streams and their bytes, watch streams, coredump downloads, the worker
// pool (with the lane Stop always gets) and the deadline of a call that
// sets none. The callers here are root, whom only the totals bind; the
// per-caller shares are hit as other users in tests/e2e/hardening_test.py.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "server/watch_hub.h"
#include "tests/server/served.h"

namespace pil::server::testing {
namespace {

using ::testing::HasSubstr;

absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

std::unique_ptr<v1::LifecycleService::Stub> Stub(const Served& served) {
  return v1::LifecycleService::NewStub(grpc::CreateChannel(
      served.address(), grpc::InsecureChannelCredentials()));
}

// `call()` again every 10 ms (at most 500 times) while `again(status)`;
// the last result. Places given back reach the next caller a moment after
// the answer that gave them back.
template <typename Call>
auto RetryWhile(Call call,
                const std::function<bool(const absl::Status&)>& again) {
  auto result = call();
  for (int i = 0; i < 500 && again(StatusOf(result)); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    result = call();
  }
  return result;
}

std::function<bool(const absl::Status&)> Reason(const std::string& reason) {
  return [reason](const absl::Status& s) { return ReasonOf(s) == reason; };
}

bool Failed(const absl::Status& s) { return !s.ok(); }

// An upload stream that has sent its header and stays open.
struct OpenUpload {
  OpenUpload(v1::LifecycleService::Stub& stub, uint64_t size)
      : writer(stub.UploadFirmware(&context, &response)) {
    v1::UploadFirmwareRequest header;
    header.mutable_header()->set_size(size);
    header.mutable_header()->set_name("held.mbn");
    writer->Write(header);
  }
  // Ends the stream; its status.
  absl::Status Finish() {
    writer->WritesDone();
    return FromGrpcStatus(writer->Finish());
  }
  grpc::ClientContext context;
  v1::UploadFirmwareResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadFirmwareRequest>> writer;
};

// Holds an upload of `size` bytes open and returns it once `probe` is
// refused with `reason`. (Calls arrive in any order: a probe that came
// first takes the place, the held one is refused, and both are tried again.)
std::unique_ptr<OpenUpload> HoldUntilRefused(
    v1::LifecycleService::Stub& stub, uint64_t size,
    const std::function<absl::Status()>& probe, const std::string& reason) {
  for (int i = 0; i < 200; ++i) {
    auto held = std::make_unique<OpenUpload>(stub, size);
    if (ReasonOf(probe()) == reason) return held;
    (void)held->Finish();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return nullptr;
}

TEST(ServiceLimits, UploadStreamsAreBounded) {
  ServedOptions options;
  options.service.max_uploads = 1;
  Served served(options);
  auto stub = Stub(served);
  auto client = served.Client();
  absl::Status third;
  auto held = HoldUntilRefused(
      *stub, 1 << 20,
      [&] {
        third = client.Upload("third.mbn", std::string(100, 'x')).status();
        return third;
      },
      "TOO_MANY_UPLOADS");
  ASSERT_NE(held, nullptr) << third;
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("upload streams"));
  EXPECT_EQ(ReasonOf(held->Finish()), "UPLOAD_SIZE_MISMATCH");
  // The place is given back (just after the answer): a real image goes in.
  auto image = SimEngine::Signed(0x9bb00000, 0x200000, 0xe);
  auto good = RetryWhile([&] { return client.Upload("vpu.mbn", image); },
                         Reason("TOO_MANY_UPLOADS"));
  EXPECT_TRUE(good.ok()) << good.status();
}

TEST(ServiceLimits, UploadBytesAreBoundedBeforeAnyIsHeld) {
  ServedOptions options;
  options.service.upload_budget = 3 << 20;
  Served served(options);
  auto stub = Stub(served);
  auto client = served.Client();
  absl::Status over;
  auto held = HoldUntilRefused(
      *stub, 2 << 20,
      [&] {
        over =
            client.Upload("big.mbn", std::string((1 << 20) + 1, 'x')).status();
        return over;
      },
      "UPLOAD_BUDGET_EXHAUSTED");
  ASSERT_NE(held, nullptr) << over;
  EXPECT_THAT(over.message(), HasSubstr("bytes of uploads in flight"));
  // Beyond the whole budget is never possible: too large, not "retry".
  EXPECT_EQ(
      ReasonOf(
          client.Upload("huge.mbn", std::string((3 << 20) + 1, 'x')).status()),
      "UPLOAD_TOO_LARGE");
  EXPECT_EQ(ReasonOf(held->Finish()), "UPLOAD_SIZE_MISMATCH");
}

TEST(ServiceLimits, WatchStreamsAreBounded) {
  ServedOptions options;
  options.service.max_watches = 2;
  Served served(options);
  std::vector<std::thread> watchers;
  std::atomic<int> started{0};
  absl::Notification stop;
  for (int i = 0; i < 2; ++i) {
    watchers.emplace_back([&] {
      auto client = served.Client();
      bool first = true;  // each watcher counts once, at its first event
      (void)client.Watch("", [&](const v1::WatchEvent&) {
        if (first) ++started;
        first = false;
        return !stop.HasBeenNotified();
      });
    });
  }
  while (started < 2) absl::SleepFor(absl::Milliseconds(5));
  auto client = served.Client();
  absl::Status third =
      client.Watch("", [](const v1::WatchEvent&) { return false; });
  EXPECT_EQ(ReasonOf(third), "TOO_MANY_WATCHES");
  // A watch that ends gives its place back (after the next event wakes the
  // watchers that were told to stop).
  stop.Notify();
  ASSERT_TRUE(client.Start("adsp").ok());
  for (std::thread& t : watchers) t.join();
  absl::Status again = RetryWhile(
      [&] {
        return client.Watch("", [](const v1::WatchEvent&) { return false; });
      },
      Failed);
  EXPECT_TRUE(again.ok()) << again;
}

TEST(ServiceLimits, CoredumpDownloadsAreBoundedAndShareOneBuffer) {
  ServedOptions options;
  options.profile.add_faults()->set_coprocessor("cdsp");
  options.profile.mutable_faults(0)->set_watchdog_after_ms(5);
  options.service.max_downloads = 1;
  Served served(options);
  auto client = served.Client();
  ASSERT_TRUE(client.Start("cdsp").ok());
  auto dump = RetryWhile(
      [&] { return served.sim().engine().GetCoredump("cdsp", 0); }, Failed);
  ASSERT_TRUE(dump.ok()) << dump.status();
  // Every copy of the record shares the one immutable file.
  EXPECT_EQ(served.sim().engine().GetCoredump("cdsp", 0)->bytes.get(),
            dump->bytes.get());

  // A download held open (its first message read, no more) is the one.
  auto stub = Stub(served);
  grpc::ClientContext held;
  v1::GetCoredumpRequest request;
  request.set_name("cdsp");
  auto reader = stub->GetCoredump(&held, request);
  v1::CoredumpChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  std::string bytes;
  EXPECT_EQ(ReasonOf(client.GetCoredump("cdsp", 0, &bytes).status()),
            "TOO_MANY_DOWNLOADS");
  held.TryCancel();
  while (reader->Read(&chunk)) {
  }
  (void)reader->Finish();
  auto info =
      RetryWhile([&] { return client.GetCoredump("cdsp", 0, &bytes); }, Failed);
  EXPECT_TRUE(info.ok()) << info.status();
}

// Watchers are served by the hub's own thread: one stuck in delivery does
// not hold the engine (whose lock every transition needs).
TEST(ServiceLimits, AStuckWatcherDoesNotHoldTransitions) {
  SimEngine sim("sm8550-el2-sim", Fast());
  WatchHub hub(&sim.engine(), 16);
  absl::Notification stuck, release;
  std::atomic<bool> armed{false};
  Quota quota("watch streams", "TOO_MANY_WATCHES", 1, 1);
  auto* watch = StartWatch(
      &hub, "", std::nullopt, std::move(*quota.Take("")),
      [&](const std::string&) {
        if (armed) {
          if (!stuck.HasBeenNotified()) stuck.Notify();
          release.WaitForNotification();
        }
        return false;  // delivers nothing: the call is not a real one
      },
      [] { return absl::OkStatus(); });
  armed = true;
  auto started = std::async(std::launch::async, [&] {
    return sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).status();
  });
  const bool done =
      started.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  release.Notify();
  EXPECT_TRUE(done) << "a stuck watcher held the engine";
  EXPECT_TRUE(started.get().ok());
  EXPECT_TRUE(stuck.HasBeenNotified());
  watch->OnDone();  // never bound to a call: ended by hand
}

// One worker, held by a Reset waiting for a core that never becomes ready:
// other blocking calls are SERVER_BUSY, a Stop is still served.
TEST(ServiceLimits, StopHasALaneOfItsOwn) {
  ServedOptions options;
  options.profile.add_faults()->set_coprocessor("adsp");
  options.profile.mutable_faults(0)->set_never_ready(true);
  options.service.max_blocking_calls = 1;
  Served served(options);
  auto client = served.Client();
  ASSERT_TRUE(client.Start("cdsp").ok());
  ASSERT_TRUE(client.Authenticate("adsp").ok());
  ASSERT_TRUE(client.Map("adsp").ok());
  // (The probes below may take the worker for a moment: the holder retries.)
  auto holder = std::async(std::launch::async, [&] {
    return RetryWhile(
        [&] {
          return served.Client().Reset("adsp", absl::Seconds(3)).status();
        },
        Reason("SERVER_BUSY"));
  });
  auto busy = RetryWhile(
      [&] { return client.GetCoprocessor("video", /*observe_hardware=*/true); },
      [](const absl::Status& s) { return s.ok(); });
  EXPECT_EQ(ReasonOf(busy.status()), "SERVER_BUSY");
  auto stopped = client.Stop("cdsp");
  EXPECT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(ReasonOf(holder.get()), "READY_TIMEOUT");
}

TEST(ServiceLimits, ACallWithoutADeadlineGetsTheDefaultOne) {
  ServedOptions options;
  options.profile.add_faults()->set_coprocessor("adsp");
  options.profile.mutable_faults(0)->set_never_ready(true);
  options.service.default_deadline = absl::Milliseconds(300);
  Served served(options);
  // No deadline from the client, a ready timeout far beyond the default.
  auto stub = Stub(served);
  grpc::ClientContext context;
  v1::StartRequest request;
  request.set_name("adsp");
  request.mutable_ready_timeout()->set_seconds(20);
  v1::TransitionResponse response;
  const absl::Status started =
      FromGrpcStatus(stub->Start(&context, request, &response));
  EXPECT_EQ(ReasonOf(started), "DEADLINE_EXCEEDED");
  EXPECT_EQ(served.Client().GetCoprocessor("adsp")->state(), v1::STATE_OFFLINE);
}

}  // namespace
}  // namespace pil::server::testing
