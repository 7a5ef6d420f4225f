// The lease registry: who may move a leased coprocessor, the bounds, and
// the stops when a lease ends.
#include "server/leases.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

access::Caller Process(int64_t uid, int64_t pid) {
  access::Caller c;
  c.uid = uid;
  c.gid = uid;
  c.pid = pid;
  return c;
}

access::Caller Certificate(const std::string& name) {
  access::Caller c;
  c.certificate = name;
  return c;
}

// Records the stops the registry asks for.
struct Stops {
  absl::Mutex mu;
  std::vector<std::string> names ABSL_GUARDED_BY(mu);
  Leases::Stop Callback() {
    return [this](const std::string& name, const Leases::Lease&) {
      absl::MutexLock lock(&mu);
      names.push_back(name);
    };
  }
  std::vector<std::string> WaitFor(size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return names.size() >= n;
    };
    mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return names;
  }
};

TEST(Leases, OnlyTheHolderMovesWhatItLeased) {
  Stops stops;
  Leases leases(64, 8, stops.Callback());
  const access::Caller hal = Process(1013, 42);
  auto lease = leases.Acquire(hal, {"adsp", "cdsp"}, "audio HAL");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->Describe(), "uid 1013 pid 42 (audio HAL)");
  EXPECT_TRUE(leases.Check(hal, "adsp").ok());
  EXPECT_TRUE(leases.Check(Process(0, 1), "video").ok());
  // Another process of the same user is someone else.
  for (const access::Caller& other :
       {Process(1013, 43), Process(0, 1), Certificate("fleet-1")}) {
    const absl::Status refused = leases.Check(other, "cdsp");
    EXPECT_EQ(ReasonOf(refused), "LEASED");
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(refused.message(), HasSubstr("leased by uid 1013 pid 42"));
  }
  // Nor can another lease take them.
  EXPECT_EQ(
      ReasonOf(
          leases.Acquire(Process(1000, 7), {"video", "adsp"}, "").status()),
      "LEASED");
  leases.Release(lease->id);
  EXPECT_THAT(stops.WaitFor(2), ElementsAre("adsp", "cdsp"));
  EXPECT_TRUE(leases.Check(Process(0, 1), "cdsp").ok());
  EXPECT_TRUE(leases.List().empty());
}

TEST(Leases, ACertificateHoldsOverAnyConnection) {
  Stops stops;
  Leases leases(64, 8, stops.Callback());
  auto lease = leases.Acquire(Certificate("fleet-1"), {"video"}, "");
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(leases.Check(Certificate("fleet-1"), "video").ok());
  EXPECT_EQ(ReasonOf(leases.Check(Certificate("fleet-2"), "video")), "LEASED");
}

TEST(Leases, AreBoundedInTotalAndPerCaller) {
  Stops stops;
  Leases leases(3, 2, stops.Callback());
  ASSERT_TRUE(leases.Acquire(Process(1000, 1), {"a"}, "").ok());
  ASSERT_TRUE(leases.Acquire(Process(1000, 2), {"b"}, "").ok());
  const absl::Status mine =
      leases.Acquire(Process(1000, 3), {"c"}, "").status();
  EXPECT_EQ(ReasonOf(mine), "TOO_MANY_LEASES");
  EXPECT_EQ(mine.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(mine.message(), HasSubstr("this caller holds 2 leases"));
  ASSERT_TRUE(leases.Acquire(Process(1001, 4), {"c"}, "").ok());
  const absl::Status total =
      leases.Acquire(Process(1002, 5), {"d"}, "").status();
  EXPECT_EQ(ReasonOf(total), "TOO_MANY_LEASES");
  EXPECT_THAT(total.message(), HasSubstr("pild holds 3 leases"));
  EXPECT_EQ(leases.List().size(), 3u);
}

TEST(Leases, ReleasingTwiceStopsOnce) {
  Stops stops;
  {
    Leases leases(64, 8, stops.Callback());
    auto lease = leases.Acquire(Process(1000, 1), {"video"}, "");
    ASSERT_TRUE(lease.ok());
    leases.Release(lease->id);
    leases.Release(lease->id);
  }  // the queued stop is finished before the registry goes
  absl::MutexLock lock(&stops.mu);
  EXPECT_THAT(stops.names, ElementsAre("video"));
}

}  // namespace
}  // namespace pil::server
