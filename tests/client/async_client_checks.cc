// Checks of client/async_client.h against a running pild, run by
// async_client_test.py: PILD_ADDRESS names it, on the real qrb5165-rb5
// board with Debian's firmware, its cdsp made never to come up
// (never_ready) and its adsp sound.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/async_client.h"
#include "common/error.h"
#include "gtest/gtest.h"

namespace pil::client {
namespace {

std::string Address() {
  const char* address = std::getenv("PILD_ADDRESS");
  if (address == nullptr) {
    ADD_FAILURE() << "PILD_ADDRESS is not set: run by async_client_test.py";
    return "unix:/nonexistent";
  }
  return address;
}

std::unique_ptr<AsyncClient> Connect() {
  AsyncClient::Options options;
  options.address = Address();
  return AsyncClient::Create(options);
}

// Runs `begin` and waits for its `done` (tests may block; HALs may not).
template <typename T>
absl::StatusOr<T> Await(const std::function<Call(Done<T>)>& begin,
                        Call* call = nullptr,
                        const std::function<void()>& meanwhile = nullptr) {
  absl::Notification finished;
  absl::StatusOr<T> result = absl::UnknownError("done not called");
  Call started = begin([&](absl::StatusOr<T> r) {
    result = std::move(r);
    finished.Notify();
  });
  if (call != nullptr) *call = started;
  if (meanwhile) meanwhile();
  finished.WaitForNotification();
  return result;
}

State StateOf(AsyncClient& client, const std::string& name) {
  auto c = Await<Coprocessor>(
      [&](Done<Coprocessor> d) { return client.Get(name, std::move(d)); });
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? c->state : State::kUnspecified;
}

TEST(AsyncClient, ListsAndGets) {
  auto client = Connect();
  auto all =
      Await<std::vector<Coprocessor>>([&](Done<std::vector<Coprocessor>> d) {
        return client->List(std::move(d));
      });
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_GE(all->size(), 2u);
  auto missing = Await<Coprocessor>(
      [&](Done<Coprocessor> d) { return client->Get("nope", std::move(d)); });
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(missing.status()), "UNKNOWN_COPROCESSOR");
}

TEST(AsyncClient, StartStopWithTheRequestIdGiven) {
  auto client = Connect();
  CallOptions options;
  options.request_id = NewRequestId();
  auto started = Await<Transition>([&](Done<Transition> d) {
    return client->Start("adsp", Firmware::Default(), std::move(d), options);
  });
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->coprocessor.state, State::kRunning);
  EXPECT_EQ(started->request_id, options.request_id);
  EXPECT_FALSE(started->replayed);
  EXPECT_FALSE(started->steps.empty());
  EXPECT_FALSE(started->coprocessor.image_sha256.empty());
  // The same call again is answered from pild's record.
  auto again = Await<Transition>([&](Done<Transition> d) {
    return client->Start("adsp", Firmware::Default(), std::move(d), options);
  });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  // A fresh id otherwise, shown to the caller.
  auto stopped = Await<Transition>(
      [&](Done<Transition> d) { return client->Stop("adsp", std::move(d)); });
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->request_id.size(), 36u);
  EXPECT_EQ(stopped->coprocessor.state, State::kOffline);
  // Stop of a stopped coprocessor: OK, nothing done.
  auto twice = Await<Transition>(
      [&](Done<Transition> d) { return client->Stop("adsp", std::move(d)); });
  EXPECT_TRUE(twice.ok()) << twice.status();
}

TEST(AsyncClient, DryRunDoesNothing) {
  auto client = Connect();
  auto dry = Await<Transition>([&](Done<Transition> d) {
    return client->DryRunStart("adsp", Firmware::Default(), std::move(d));
  });
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_TRUE(dry->dry_run);
  EXPECT_EQ(StateOf(*client, "adsp"), State::kOffline);
}

TEST(AsyncClient, DeadlineEndsAStartThatHangsAndLeavesItOffline) {
  auto client = Connect();
  CallOptions options;
  options.timeout = absl::Milliseconds(500);
  const absl::Time began = absl::Now();
  auto started = Await<Transition>([&](Done<Transition> d) {
    return client->Start("cdsp", Firmware::Default(), std::move(d), options);
  });
  EXPECT_EQ(started.status().code(), absl::StatusCode::kDeadlineExceeded)
      << started.status();
  EXPECT_LT(absl::Now() - began, absl::Seconds(3));  // not pild's 5 s
  // pild rolls the abandoned start back.
  for (int i = 0; i < 100 && StateOf(*client, "cdsp") != State::kOffline; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(StateOf(*client, "cdsp"), State::kOffline);
}

TEST(AsyncClient, CancelEndsAStartThatHangs) {
  auto client = Connect();
  Call call;
  const absl::Time began = absl::Now();
  auto started = Await<Transition>(
      [&](Done<Transition> d) {
        return client->Start("cdsp", Firmware::Default(), std::move(d));
      },
      &call,
      [&] {
        absl::SleepFor(absl::Milliseconds(300));
        call.Cancel();
      });
  EXPECT_EQ(started.status().code(), absl::StatusCode::kCancelled)
      << started.status();
  EXPECT_LT(absl::Now() - began, absl::Seconds(3));
  call.Cancel();  // after the end: nothing
  for (int i = 0; i < 100 && StateOf(*client, "cdsp") != State::kOffline; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(StateOf(*client, "cdsp"), State::kOffline);
}

TEST(AsyncClient, ATimeoutOfZeroIsRefusedNotTakenForTheDefault) {
  auto client = Connect();
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    CallOptions options;
    options.timeout = timeout;
    auto got = Await<Coprocessor>([&](Done<Coprocessor> d) {
      return client->Get("adsp", std::move(d), options);
    });
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(got.status()), "BAD_TIMEOUT") << got.status();
    auto stopped = Await<Transition>([&](Done<Transition> d) {
      return client->Stop("adsp", std::move(d), options);
    });
    EXPECT_EQ(ReasonOf(stopped.status()), "BAD_TIMEOUT") << stopped.status();
  }
}

TEST(AsyncClient, DestroyingTheClientAnswersEveryCallFirst) {
  auto client = Connect();
  absl::Notification answered;
  absl::Status status;
  client->Start("cdsp", Firmware::Default(), [&](absl::StatusOr<Transition> t) {
    status = t.status();
    answered.Notify();
  });
  absl::SleepFor(absl::Milliseconds(200));
  client.reset();
  ASSERT_TRUE(answered.HasBeenNotified());
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
}

TEST(AsyncClient, UploadStreamsAFileAndStartsFromIt) {
  const char* image = std::getenv("ADSP_IMAGE");
  ASSERT_NE(image, nullptr) << "ADSP_IMAGE is not set";
  auto client = Connect();
  uint64_t last_progress = 0, total = 0;
  auto uploaded = Await<UploadResult>([&](Done<UploadResult> d) {
    return client->Upload(image, "adsp.mbn", std::move(d),
                          [&](uint64_t sent, uint64_t size) {
                            last_progress = sent;
                            total = size;
                          });
  });
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  struct stat st;
  ASSERT_EQ(stat(image, &st), 0);
  EXPECT_EQ(uploaded->size, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(last_progress, total);
  EXPECT_EQ(total, uploaded->size);
  EXPECT_EQ(uploaded->sha256.size(), 64u);
  auto started = Await<Transition>([&](Done<Transition> d) {
    return client->Start("adsp", Firmware::Upload(uploaded->sha256),
                         std::move(d));
  });
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->coprocessor.image_source, "upload:" + uploaded->sha256);
  auto stopped = Await<Transition>(
      [&](Done<Transition> d) { return client->Stop("adsp", std::move(d)); });
  EXPECT_TRUE(stopped.ok()) << stopped.status();

  auto missing = Await<UploadResult>([&](Done<UploadResult> d) {
    return client->Upload("/nonexistent/adsp.mbn", "x", std::move(d));
  });
  EXPECT_EQ(ReasonOf(missing.status()), "LOCAL_FILE_ERROR");
}

TEST(AsyncClient, CancelEndsAnUpload) {
  const char* image = std::getenv("ADSP_IMAGE");
  ASSERT_NE(image, nullptr) << "ADSP_IMAGE is not set";
  auto client = Connect();
  Call call;
  absl::Notification handle_set;
  bool cancelled = false;
  auto uploaded = Await<UploadResult>(
      [&](Done<UploadResult> d) {
        return client->Upload(image, "adsp.mbn", std::move(d),
                              [&](uint64_t sent, uint64_t) {
                                // After the first chunk, from the callback (a
                                // test may wait here briefly; a HAL's callback
                                // would not).
                                if (sent > 0 && !cancelled) {
                                  cancelled = true;
                                  handle_set.WaitForNotification();
                                  call.Cancel();
                                }
                              });
      },
      &call, [&] { handle_set.Notify(); });
  EXPECT_EQ(uploaded.status().code(), absl::StatusCode::kCancelled)
      << uploaded.status();
}

TEST(AsyncClient, RefusalsAreAnsweredOffTheCallingThread) {
  auto client = Connect();
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id answered_on;
  CallOptions zero;
  zero.timeout = absl::ZeroDuration();
  auto got = Await<Coprocessor>([&](Done<Coprocessor> d) {
    return client->Get(
        "adsp",
        [&, d](absl::StatusOr<Coprocessor> c) {
          answered_on = std::this_thread::get_id();
          d(std::move(c));
        },
        zero);
  });
  EXPECT_EQ(ReasonOf(got.status()), "BAD_TIMEOUT");
  EXPECT_NE(answered_on, caller);
  auto missing = Await<UploadResult>([&](Done<UploadResult> d) {
    return client->Upload("/nonexistent", "x",
                          [&, d](absl::StatusOr<UploadResult> u) {
                            answered_on = std::this_thread::get_id();
                            d(std::move(u));
                          });
  });
  EXPECT_EQ(ReasonOf(missing.status()), "LOCAL_FILE_ERROR");
  EXPECT_NE(answered_on, caller);
}

TEST(AsyncClient, AFailedCoredumpLeavesNoFile) {
  const char* dir = std::getenv("TEST_TMPDIR");
  ASSERT_NE(dir, nullptr);
  const std::string path = std::string(dir) + "/adsp.core";
  auto client = Connect();
  auto got = Await<CoredumpResult>([&](Done<CoredumpResult> d) {
    return client->GetCoredump("adsp", 0, path, std::move(d));
  });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0) << path << " was left behind";
}

TEST(AsyncClient, LeaseKeepsOthersOffAndItsEndStopsTheCoprocessor) {
  auto client = Connect();
  auto other = Connect();
  absl::Notification granted;
  LeaseInfo info;
  AsyncClient::LeaseCallbacks callbacks;
  callbacks.on_granted = [&](const LeaseInfo& i) {
    info = i;
    granted.Notify();
  };
  callbacks.on_end = [](const absl::Status& s) {
    ADD_FAILURE() << "lease ended: " << s;
  };
  auto lease = client->AcquireLease({"adsp"}, "checks", std::move(callbacks));
  ASSERT_TRUE(granted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(info.names, std::vector<std::string>{"adsp"});
  EXPECT_NE(info.holder.find("checks"), std::string::npos) << info.holder;
  auto started = Await<Transition>([&](Done<Transition> d) {
    return client->Start("adsp", Firmware::Default(), std::move(d));
  });
  ASSERT_TRUE(started.ok()) << started.status();
  // Another process's stop would be allowed; within one process the holder
  // is the process, so a second lease on it is what is refused.
  absl::Notification refused;
  absl::Status refusal;
  AsyncClient::LeaseCallbacks second;
  second.on_end = [&](const absl::Status& s) {
    refusal = s;
    refused.Notify();
  };
  auto competing = other->AcquireLease({"adsp"}, "rival", std::move(second));
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(ReasonOf(refusal), "LEASED") << refusal;
  competing.reset();
  lease.reset();  // released: pild stops it
  for (int i = 0; i < 100 && StateOf(*client, "adsp") != State::kOffline; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(StateOf(*client, "adsp"), State::kOffline);
}

}  // namespace
}  // namespace pil::client
