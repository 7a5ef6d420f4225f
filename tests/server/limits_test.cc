// The bounds on what callers make pild hold: quotas, the worker pool's
// share per caller, Unix-socket connections, the --limits flag, and what a
// caller other than root is told of a failure.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/access/caller.h"
#include "server/connections.h"
#include "server/pild_limits.h"
#include "server/quota.h"
#include "server/redact.h"
#include "server/workers.h"

namespace pil::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Quota, BoundsEachCallerAndAllOfThem) {
  Quota quota("watch streams", "TOO_MANY_WATCHES", 3, 2);
  auto a1 = quota.Take("uid:1");
  auto a2 = quota.Take("uid:1");
  ASSERT_TRUE(a1.ok() && a2.ok());
  auto a3 = quota.Take("uid:1");
  EXPECT_EQ(a3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(a3.status()), "TOO_MANY_WATCHES");
  EXPECT_THAT(a3.status().message(),
              HasSubstr("this caller (uid:1) holds 2 of at most 2"));
  auto b1 = quota.Take("uid:2");
  ASSERT_TRUE(b1.ok());
  auto b2 = quota.Take("uid:2");
  EXPECT_THAT(b2.status().message(), HasSubstr("pild holds 3 of at most 3"));
  EXPECT_EQ(MetadataOf(b2.status())["limit"], "3");
  EXPECT_EQ(quota.in_use(), 3u);
  // Given back when a ticket ends, moved tickets counted once.
  Quota::Ticket moved = std::move(*a1);
  moved = std::move(*a2);
  EXPECT_EQ(quota.in_use(), 2u);
  moved.Release();
  EXPECT_EQ(quota.in_use(), 1u);
  EXPECT_TRUE(quota.Take("uid:1").ok());
}

TEST(Quota, AmountsAndTheRootKeyCountAgainstTheTotalOnly) {
  Quota bytes("bytes of uploads in flight", "UPLOAD_BUDGET_EXHAUSTED", 100, 60);
  auto big = bytes.Take("uid:1", 61);
  EXPECT_EQ(ReasonOf(big.status()), "UPLOAD_BUDGET_EXHAUSTED");
  auto root = bytes.Take("", 90);  // root: no share, only the total
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(ReasonOf(bytes.Take("uid:1", 11).status()),
            "UPLOAD_BUDGET_EXHAUSTED");
  EXPECT_TRUE(bytes.Take("uid:1", 10).ok());
}

TEST(Quota, TicketsMayOutliveTheQuota) {
  Quota::Ticket ticket;
  {
    Quota quota("x", "X", 1, 1);
    ticket = std::move(*quota.Take("k"));
  }
  ticket.Release();  // no crash, nothing to check but ASan's silence
}

TEST(Workers, OneCallerCannotTakeEverySlot) {
  Workers workers(4, 2);
  absl::Notification release;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        workers.Submit("uid:1", [&] { release.WaitForNotification(); }).ok());
  }
  absl::Status third = workers.Submit("uid:1", [] {});
  EXPECT_EQ(ReasonOf(third), "CALLER_BUSY");
  EXPECT_THAT(third.message(), HasSubstr("uid:1"));
  // Others still get the remaining slots, then the pool is full.
  EXPECT_TRUE(
      workers.Submit("uid:2", [&] { release.WaitForNotification(); }).ok());
  EXPECT_TRUE(workers.Submit("", [&] { release.WaitForNotification(); }).ok());
  EXPECT_EQ(ReasonOf(workers.Submit("uid:3", [] {})), "SERVER_BUSY");
  release.Notify();
  // Slots come back: uid:1 may run again once its calls ended.
  absl::Status again;
  for (int i = 0; i < 1000; ++i) {
    again = workers.Submit("uid:1", [] {});
    if (again.ok()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(again.ok()) << again;
}

// A pair of connected sockets; the first end is what pild would hold.
struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~Pair() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  void CloseOurs() {
    ::close(fds[0]);
    fds[0] = -1;
  }
  int fds[2] = {-1, -1};
};

TEST(ConnectionTable, BoundsPerUidAndInTotalWithRoomForRoot) {
  ConnectionTable table({/*total=*/3, /*per_caller=*/2, /*root_reserve=*/1});
  std::vector<Pair> pairs(8);
  EXPECT_TRUE(table.Admit(pairs[0].fds[0], 1000).ok());
  EXPECT_TRUE(table.Admit(pairs[1].fds[0], 1000).ok());
  absl::Status third = table.Admit(pairs[2].fds[0], 1000);
  EXPECT_EQ(ReasonOf(third), "TOO_MANY_CONNECTIONS");
  EXPECT_THAT(third.message(), HasSubstr("uid 1000"));
  EXPECT_TRUE(table.Admit(pairs[3].fds[0], 1001).ok());
  absl::Status full = table.Admit(pairs[4].fds[0], 1002);
  EXPECT_THAT(full.message(), HasSubstr("pild already holds 3"));
  // Root has its reserve.
  EXPECT_TRUE(table.Admit(pairs[5].fds[0], 0).ok());
  EXPECT_FALSE(table.Admit(pairs[6].fds[0], 0).ok());
  // A connection gRPC closed is noticed once a bound is reached.
  pairs[0].CloseOurs();
  EXPECT_TRUE(table.Admit(pairs[2].fds[0], 1000).ok());
  EXPECT_EQ(table.size(), 4u);
}

TEST(ConnectionTable, RefreshForgetsClosedConnectionsBelowTheBounds) {
  ConnectionTable table({/*total=*/8, /*per_caller=*/8, /*root_reserve=*/0});
  std::vector<Pair> pairs(3);
  for (Pair& pair : pairs) ASSERT_TRUE(table.Admit(pair.fds[0], 1000).ok());
  pairs[1].CloseOurs();
  EXPECT_EQ(table.size(), 3u);  // not noticed until asked
  EXPECT_EQ(table.Refresh(), 2u);
  EXPECT_EQ(table.size(), 2u);
}

TEST(ConnectionTable, AReusedDescriptorIsANewConnection) {
  ConnectionTable table({/*total=*/1, /*per_caller=*/1, /*root_reserve=*/0});
  Pair first;
  ASSERT_TRUE(table.Admit(first.fds[0], 1000).ok());
  const int number = first.fds[0];
  first.CloseOurs();
  // Another socket takes the same number (another caller, even): the old
  // entry is not counted against anyone.
  Pair second;
  ASSERT_EQ(::dup2(second.fds[0], number), number);
  EXPECT_TRUE(table.Admit(number, 1001).ok());
  ::close(number);
}

TEST(Limits, DefaultsAreBoundedAndNamesChecked) {
  auto defaults = ParseLimits("", 1 << 20);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->service.max_blocking_calls, 64u);
  EXPECT_EQ(defaults->service.max_calls_per_caller, 16u);
  EXPECT_EQ(defaults->connections.total, 1024u);
  EXPECT_THAT(DescribeLimits(*defaults), HasSubstr("watches_per_caller=64"));

  auto set = ParseLimits(
      "watches=5,watches_per_caller=9,upload_budget=4096,"
      "default_deadline_s=30",
      1 << 20);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->service.max_watches, 5u);
  EXPECT_EQ(set->service.max_watches_per_caller, 5u);  // never above total
  EXPECT_EQ(set->service.upload_budget, 4096u);
  EXPECT_EQ(set->service.default_deadline, absl::Seconds(30));

  for (const char* bad : {"wathces=1", "calls=0", "calls=-1", "calls=x",
                          "calls=4097", "shutdown_timeout_s=601"}) {
    auto parsed = ParseLimits(bad, 1 << 20);
    EXPECT_EQ(ReasonOf(parsed.status()), "BAD_FLAG") << bad;
  }
  EXPECT_THAT(ParseLimits("wathces=1", 1 << 20).status().message(),
              HasSubstr("expected one of calls, calls_per_caller"));
}

TEST(Limits, ConnectionsLeaveDescriptorsForFiles) {
  auto few = ParseLimits("", 1024);
  ASSERT_TRUE(few.ok());
  // 1024 descriptors: 256 kept back, the root reserve apart.
  EXPECT_EQ(few->connections.total, 1024u - 256 - 64);
  EXPECT_LE(few->connections.per_caller, few->connections.total);
}

TEST(Redact, OnlyRootSeesPathsAndSystemErrors) {
  const absl::Status failure =
      Error(absl::StatusCode::kFailedPrecondition, "FILE_UNREADABLE",
            "cannot open /lib/firmware/qcom/x.mbn: Permission denied; "
            "searched '/srv/fw' (dir=/opt/fw)",
            {{"path", "/lib/firmware/qcom/x.mbn"},
             {"searched", "/srv/fw"},
             {"segment", "3"}});
  access::Caller root;
  root.uid = 0;
  EXPECT_EQ(RedactFor(root, failure), failure);

  access::Caller user;
  user.uid = 1000;
  const absl::Status told = RedactFor(user, failure);
  EXPECT_EQ(told.code(), failure.code());
  EXPECT_EQ(ReasonOf(told), "FILE_UNREADABLE");
  EXPECT_EQ(told.message(),
            "cannot open <path>: <system error>; searched '<path>' "
            "(dir=<path>)");
  EXPECT_EQ(MetadataOf(told), (ErrorMetadata{{"segment", "3"}}));
  // Certificates are never root; a relative firmware name is the caller's.
  access::Caller fleet;
  fleet.uid = 0;
  fleet.certificate = "fleet-1";
  const absl::Status named =
      Error(absl::StatusCode::kNotFound, "FIRMWARE_NOT_FOUND",
            "firmware 'qcom/a/b.mbn' is in none of /lib/firmware");
  EXPECT_EQ(RedactFor(fleet, named).message(),
            "firmware 'qcom/a/b.mbn' is in none of <path>");
  EXPECT_THAT(std::string(RedactFor(user, named).message()),
              Not(HasSubstr("/lib")));
}

TEST(Redact, AuditMessagesReadBackAreToldTheSameWay) {
  access::Caller user;
  user.uid = 1000;
  EXPECT_EQ(RedactText(user,
                       "cannot open /srv/fw/x.mbn: No such file or "
                       "directory"),
            "cannot open <path>: <system error>");
  access::Caller root;
  root.uid = 0;
  EXPECT_EQ(RedactText(root, "/srv/fw/x.mbn"), "/srv/fw/x.mbn");
}

}  // namespace
}  // namespace pil::server
