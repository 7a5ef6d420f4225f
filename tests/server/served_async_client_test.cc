// client/async_client.h against pild's service in-process (so that
// ThreadSanitizer sees the client's threads): callbacks once each, the
// watch's order and its end, leases, and a client destroyed with calls in
// flight. The restart and connection-loss cases need processes:
// tests/client/async_client_test.py.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/async_client.h"
#include "common/error.h"
#include "gtest/gtest.h"
#include "tests/server/served.h"

namespace pil::server::testing {
namespace {

using client::AsyncClient;

std::unique_ptr<AsyncClient> Connect(const Served& served) {
  AsyncClient::Options options;
  options.address = served.address();
  return AsyncClient::Create(options);
}

template <typename T>
absl::StatusOr<T> Await(
    const std::function<client::Call(client::Done<T>)>& begin) {
  absl::Notification finished;
  absl::StatusOr<T> result = absl::UnknownError("done not called");
  begin([&](absl::StatusOr<T> r) {
    result = std::move(r);
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

// What a watch delivered, under a lock.
struct Seen {
  absl::Mutex mu;
  std::vector<client::Event> events ABSL_GUARDED_BY(mu);
  size_t want ABSL_GUARDED_BY(mu) = 0;

  size_t Count() {
    absl::MutexLock lock(&mu);
    return events.size();
  }
  bool Enough() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return events.size() >= want;
  }
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mu);
    want = n;
    return mu.AwaitWithTimeout(absl::Condition(this, &Seen::Enough),
                               absl::Seconds(10));
  }
};

TEST(ServedAsyncClient, WatchDeliversInOrderAndStopsWhenDestroyed) {
  Served served;
  auto async = Connect(served);
  Seen seen;
  AsyncClient::WatchCallbacks callbacks;
  callbacks.on_event = [&](const client::Event& e) {
    absl::MutexLock lock(&seen.mu);
    seen.events.push_back(e);
  };
  auto watch = async->Watch("video", std::move(callbacks));
  ASSERT_TRUE(seen.WaitFor(1));
  auto started = Await<client::Transition>([&](auto done) {
    return async->Start("video", client::Firmware::Default(), std::move(done));
  });
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_TRUE(seen.WaitFor(4));  // initial, authenticated, mapped, running
  {
    absl::MutexLock lock(&seen.mu);
    EXPECT_TRUE(seen.events[0].initial);
    EXPECT_EQ(seen.events[0].coprocessor.state, client::State::kOffline);
    for (size_t i = 1; i < seen.events.size(); ++i) {
      EXPECT_FALSE(seen.events[i].initial);
      EXPECT_EQ(seen.events[i].sequence, seen.events[i - 1].sequence + 1);
      EXPECT_EQ(seen.events[i].epoch, seen.events[0].epoch);
      EXPECT_EQ(seen.events[i].operation, "start");
    }
    EXPECT_EQ(seen.events.back().coprocessor.state, client::State::kRunning);
  }
  watch.reset();
  const size_t before = seen.Count();
  auto stopped = Await<client::Transition>(
      [&](auto done) { return async->Stop("video", std::move(done)); });
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(seen.Count(), before);  // nothing after the destructor
  served.sim().ExpectClean("video");
}

TEST(ServedAsyncClient, WatchOfAnUnknownCoprocessorEndsOnce) {
  Served served;
  auto async = Connect(served);
  std::atomic<int> ended{0};
  absl::Notification end;
  absl::Status status;
  AsyncClient::WatchCallbacks callbacks;
  callbacks.on_end = [&](const absl::Status& s) {
    status = s;
    if (++ended == 1) end.Notify();
  };
  auto watch = async->Watch("gpu", std::move(callbacks));
  ASSERT_TRUE(end.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(300));  // no retry follows
  EXPECT_EQ(ended.load(), 1);
  EXPECT_EQ(ReasonOf(status), "UNKNOWN_COPROCESSOR") << status;
}

TEST(ServedAsyncClient, ReleasingALeaseStopsWhatItHeld) {
  Served served;
  auto async = Connect(served);
  ASSERT_TRUE(Await<client::Transition>([&](auto done) {
                return async->Start("video", client::Firmware::Default(),
                                    std::move(done));
              }).ok());
  absl::Notification granted;
  AsyncClient::LeaseCallbacks callbacks;
  callbacks.on_granted = [&](const client::LeaseInfo&) { granted.Notify(); };
  callbacks.on_end = [](const absl::Status& s) {
    ADD_FAILURE() << "lease ended: " << s;
  };
  auto lease = async->AcquireLease({"video"}, "test", std::move(callbacks));
  ASSERT_TRUE(granted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  lease.reset();
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (served.sim().engine().Get("video")->state != State::kOffline &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  served.sim().ExpectClean("video");
}

TEST(ServedAsyncClient, AWatchAndALeaseOutliveTheirClient) {
  Served served;
  auto async = Connect(served);
  Seen seen;
  AsyncClient::WatchCallbacks watching;
  watching.on_event = [&](const client::Event& e) {
    absl::MutexLock lock(&seen.mu);
    seen.events.push_back(e);
  };
  auto watch = async->Watch("video", std::move(watching));
  absl::Notification granted;
  AsyncClient::LeaseCallbacks leasing;
  leasing.on_granted = [&](const client::LeaseInfo&) { granted.Notify(); };
  auto lease = async->AcquireLease({"video"}, "test", std::move(leasing));
  ASSERT_TRUE(granted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(seen.WaitFor(1));
  async.reset();
  // The holder is this process: another client of it may start.
  auto other = Connect(served);
  ASSERT_TRUE(Await<client::Transition>([&](auto done) {
                return other->Start("video", client::Firmware::Default(),
                                    std::move(done));
              }).ok());
  ASSERT_TRUE(seen.WaitFor(4));
  lease.reset();                 // pild stops it
  ASSERT_TRUE(seen.WaitFor(6));  // stopping, offline
  watch.reset();
  {
    absl::MutexLock lock(&seen.mu);
    EXPECT_EQ(seen.events.back().coprocessor.state, client::State::kOffline);
  }
  served.sim().ExpectClean("video");
}

TEST(ServedAsyncClient, ManyCallsFromManyThreadsEachAnsweredOnce) {
  Served served;
  auto async = Connect(served);
  std::atomic<int> answered{0}, ok{0};
  auto burst = [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          async->Get("video", [&](absl::StatusOr<client::Coprocessor> c) {
            ok += c.ok();
            ++answered;
          });
        }
      });
    }
    for (std::thread& t : threads) t.join();
  };
  burst();
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (answered.load() < 200 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(answered.load(), 200);
  EXPECT_EQ(ok.load(), 200);
  // Destroyed with a burst in flight: every call still answered, once.
  burst();
  async.reset();
  EXPECT_EQ(answered.load(), 400);
}

}  // namespace
}  // namespace pil::server::testing
