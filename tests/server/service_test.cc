// The gRPC front end and the C++ client library together, in one process:
// pild's service behind its own Unix listener on an in-process simulated
// SoC, called through PildClient as a HAL would.
#include "server/service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/pild_client.h"
#include "common/error.h"
#include "common/grpc_runtime.h"
#include "common/rpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/elf.h"
#include "server/access/policy.h"
#include "server/gate.h"
#include "server/unix_listener.h"
#include "tests/server/engine_testing.h"
#include "tests/server/served.h"

namespace pil::server {
namespace {

using testing::Fast;
using ::testing::HasSubstr;
using testing::Served;
using testing::ServedOptions;
using testing::SimEngine;

TEST(Service, ClientLibraryDrivesAWholeLifecycle) {
  Served served;
  auto client = served.Client();
  auto auth = client.Authenticate("video");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->coprocessor().state(), v1::STATE_AUTHENTICATED);
  EXPECT_TRUE(auth->coprocessor().hardware().metadata_held());
  auto mapped = client.Map("video");
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  ASSERT_EQ(mapped->coprocessor().hardware().mappings_size(), 1);
  EXPECT_THAT(mapped->coprocessor().hardware().mappings(0).permissions(),
              ::testing::ElementsAre(v1::MAPPING_PERMISSION_READ,
                                     v1::MAPPING_PERMISSION_WRITE,
                                     v1::MAPPING_PERMISSION_EXECUTE,
                                     v1::MAPPING_PERMISSION_PRIVILEGED));
  EXPECT_EQ(mapped->coprocessor().hardware().mappings(0).owner(),
            v1::MAPPING_OWNER_OS);
  auto reset = client.Reset("video", absl::Seconds(2));
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->coprocessor().state(), v1::STATE_RUNNING);
  auto stopped = client.Stop("video");
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  served.sim().ExpectClean("video");

  v1::GetHistoryRequest request;
  request.set_name("video");
  auto page = client.GetHistory(request);
  ASSERT_TRUE(page.ok());
  const auto& history = page->entries();
  ASSERT_EQ(history.size(), 4);
  EXPECT_EQ(history[0].operation(), v1::OPERATION_STOP);
  EXPECT_EQ(history[0].outcome(), v1::OUTCOME_OK);
  EXPECT_EQ(history[0].caller().uid(), static_cast<int64_t>(getuid()));
  EXPECT_EQ(history[0].caller().gid(), static_cast<int64_t>(getgid()));
  EXPECT_EQ(history[0].caller().pid(), static_cast<int64_t>(getpid()));
  EXPECT_EQ(history[3].operation(), v1::OPERATION_AUTHENTICATE);
  EXPECT_EQ(history[3].request_id().size(), 36u);  // a fresh UUID
}

TEST(Service, TheSocketIsForOwnerAndGroupOnly) {
  Served served;
  struct stat st {};
  ASSERT_EQ(::stat(served.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST(Service, RequestsAreValidatedBeforeTheEngine) {
  Served served;
  auto client = served.Client();
  EXPECT_EQ(ReasonOf(client.Start("").status()), "MISSING_FIELD");
  EXPECT_EQ(ReasonOf(client.Map("video", std::string(200, 'x')).status()),
            "BAD_REQUEST_ID");
  EXPECT_EQ(
      ReasonOf(client.Start("video", client::Firmware::Upload("abc")).status()),
      "BAD_SHA256");
  EXPECT_EQ(
      ReasonOf(
          client.Start("video", client::Firmware::Named("/etc/x")).status()),
      "FIRMWARE_NAME_INVALID");
  auto bad_timeout = client.Reset("video", absl::Hours(2));
  EXPECT_EQ(ReasonOf(bad_timeout.status()), "BAD_TIMEOUT");
  EXPECT_THAT(bad_timeout.status().message(), HasSubstr("at most 1h"));
  EXPECT_EQ(ReasonOf(client.GetCoprocessor("gpu").status()),
            "UNKNOWN_COPROCESSOR");
  v1::GetHistoryRequest gpu;
  gpu.set_name("gpu");
  EXPECT_EQ(ReasonOf(client.GetHistory(gpu).status()), "UNKNOWN_COPROCESSOR");
  EXPECT_EQ(ReasonOf(client.GetCoprocessor(std::string(200, 'x')).status()),
            "BAD_NAME");
  EXPECT_TRUE(served.sim().history().Latest("", 10).empty());
}

TEST(Service, UploadsAreCheckedAndValidatedBeforeBeingKept) {
  ServedOptions options;
  options.service.max_upload_size = 8 << 20;
  Served served(options);
  auto client = served.Client();
  const std::string image = SimEngine::Signed(0x9bb00000, 0x300000, 0xe, 7);
  int progress_calls = 0;
  auto uploaded =
      client.Upload("vpu.mbn", image, [&](uint64_t done, uint64_t total) {
        ++progress_calls;
        EXPECT_LE(done, total);
      });
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->size(), image.size());
  EXPECT_TRUE(uploaded->report().ok());
  EXPECT_EQ(uploaded->report().version(), 7u);
  EXPECT_GE(progress_calls, 1);
  auto started =
      client.Start("video", client::Firmware::Upload(uploaded->sha256()));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->coprocessor().image().source(),
            "upload:" + uploaded->sha256());

  std::string corrupted = image;
  corrupted[corrupted.size() - 300] ^= 1;
  EXPECT_EQ(ReasonOf(client.Upload("bad.mbn", corrupted).status()),
            "HASH_MISMATCH");
  EXPECT_EQ(
      ReasonOf(client.Upload("big.mbn", std::string(9 << 20, 'x')).status()),
      "UPLOAD_TOO_LARGE");
}

TEST(Service, CoredumpsDownloadInChunksAndCheckOut) {
  sim::v1::Profile profile = Fast();
  sim::v1::Fault* fault = profile.add_faults();
  fault->set_coprocessor("cdsp");
  fault->set_watchdog_after_ms(5);
  ServedOptions options;
  options.profile = profile;
  Served served(options);
  auto client = served.Client();
  ASSERT_TRUE(client.Start("cdsp").ok());
  std::string bytes;
  absl::StatusOr<v1::CoredumpInfo> info;
  for (int i = 0; i < 500; ++i) {
    info = client.GetCoredump("cdsp", 0, &bytes);
    if (info.ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->reason(), "WATCHDOG");
  EXPECT_GT(bytes.size(), size_t{1} << 20);  // more than one chunk
  auto elf = image::ParseElfHeaders(bytes);
  ASSERT_TRUE(elf.ok());
  EXPECT_EQ(elf->header.type, 4);
  EXPECT_EQ(ReasonOf(client.GetCoredump("adsp", 0, &bytes).status()),
            "NO_COREDUMP");
}

TEST(Service, WatchDeliversInOrderAndEndsASlowWatcher) {
  Served served;
  auto client = served.Client();
  // A watcher that reads everything, on its own thread.
  std::atomic<int> changes{0};
  std::atomic<bool> stop_watching{false};
  std::thread fast([&] {
    auto watcher = served.Client(absl::Seconds(60));
    uint64_t last_sequence = 0;
    absl::Status s = watcher.Watch("video", [&](const v1::WatchEvent& e) {
      if (!e.initial()) {
        EXPECT_GT(e.sequence(), last_sequence);
        last_sequence = e.sequence();
        ++changes;
      }
      return !stop_watching.load();
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  // A watcher that never reads after its first event, on a connection of
  // its own with a fixed 64 KiB flow-control window, so that what it does
  // not read piles up in pild's queue for it.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto slow_stub = v1::LifecycleService::NewStub(grpc::CreateCustomChannel(
      served.address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext slow_context;
  slow_context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::WatchRequest request;
  request.set_name("video");
  auto slow = slow_stub->Watch(&slow_context, request);
  v1::WatchEvent first;
  ASSERT_TRUE(slow->Read(&first));
  EXPECT_TRUE(first.initial());

  // Enough changes to fill the transport's buffers and then the queue.
  constexpr int kCycles = 150;
  for (int i = 0; i < kCycles; ++i) {
    ASSERT_TRUE(client.Start("video").ok());
    ASSERT_TRUE(client.Stop("video").ok());
  }
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (changes.load() < kCycles * 5 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(changes.load(), kCycles * 5);
  stop_watching = true;
  // One more change wakes the fast watcher up to notice.
  ASSERT_TRUE(client.Start("video").ok());
  fast.join();

  v1::WatchEvent event;
  while (slow->Read(&event)) {
  }
  grpc::Status ended = slow->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(ended)), "WATCH_TOO_SLOW");
}

TEST(Service, BlockingCallsBeyondThePoolAreRefusedNotQueuedForever) {
  sim::v1::Profile profile = Fast();
  sim::v1::Fault* fault = profile.add_faults();
  fault->set_coprocessor("video");
  fault->set_never_ready(true);
  ServedOptions options;
  options.profile = profile;
  options.service.max_blocking_calls = 1;
  Served served(options);
  std::thread slow([&] {
    auto client = served.Client();
    auto started = client.Start("video", client::Firmware::Default(),
                                absl::Milliseconds(500));
    EXPECT_EQ(ReasonOf(started.status()), "READY_TIMEOUT");
  });
  absl::SleepFor(absl::Milliseconds(150));
  auto client = served.Client();
  auto refused = client.Start("cdsp");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(refused.status()), "SERVER_BUSY");
  // Queries do not need the pool.
  EXPECT_TRUE(client.GetCoprocessor("video").ok());
  slow.join();
  EXPECT_TRUE(client.Start("cdsp").ok());
}

TEST(ClientLibrary, RequestIdsAreVersion4Uuids) {
  const std::string a = client::NewRequestId(), b = client::NewRequestId();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
}

TEST(ClientLibrary, UnreachableServerIsUnavailable) {
  client::PildClient::Options options;
  options.address = "unix:/nonexistent/pild.sock";
  options.timeout = absl::Milliseconds(300);
  client::PildClient client(options);
  auto list = client.ListCoprocessors();
  EXPECT_TRUE(list.status().code() == absl::StatusCode::kUnavailable ||
              list.status().code() == absl::StatusCode::kDeadlineExceeded)
      << list.status();
}

}  // namespace
}  // namespace pil::server
