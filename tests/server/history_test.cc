// The audit trail: SQLite persistence, bounds, paging, filters, and what it
// does with a database it cannot trust.
#include "server/history.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::server {
namespace {

using ::testing::HasSubstr;

std::string Scratch(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", name);
}

HistoryEntry Entry(const std::string& coprocessor, const std::string& op,
                   bool refused = false) {
  HistoryEntry e;
  e.time = absl::Now();
  e.coprocessor = coprocessor;
  e.operation = op;
  e.refused = refused;
  e.caller.uid = 1000;
  e.caller.gid = 1000;
  e.caller.pid = 42;
  e.caller.groups = {27, 100};
  e.from = State::kOffline;
  e.to = State::kRunning;
  e.result = "OK";
  e.duration = absl::Milliseconds(3);
  return e;
}

std::vector<std::string> Operations(const std::vector<HistoryEntry>& entries) {
  std::vector<std::string> out;
  for (const HistoryEntry& e : entries) out.push_back(e.operation);
  return out;
}

TEST(History, RecordsSurviveReopeningWithTheirIds) {
  const std::string path = Scratch("reopen.db");
  uint64_t first = 0;
  {
    auto history = History::Open(path, {});
    ASSERT_TRUE(history.ok()) << history.status();
    first = (*history)->Add(Entry("video", "start"));
    EXPECT_GT(first, 0u);
    HistoryEntry cert = Entry("", "connect", true);
    cert.caller = {};
    cert.caller.certificate = "fleet-1";
    cert.caller.peer = "ipv4:10.0.0.1:5555";
    (*history)->Add(cert);
  }
  auto history = History::Open(path, {});
  ASSERT_TRUE(history.ok()) << history.status();
  const uint64_t third = (*history)->Add(Entry("video", "stop"));
  EXPECT_EQ(third, first + 2);  // never reused
  auto all = (*history)->Latest("", 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(Operations(all),
            (std::vector<std::string>{"stop", "connect", "start"}));
  const HistoryEntry& start = all[2];
  EXPECT_EQ(start.id, first);
  EXPECT_EQ(start.caller.uid, 1000);
  EXPECT_EQ(start.caller.pid, 42);
  EXPECT_EQ(start.caller.groups, (std::vector<int64_t>{27, 100}));
  EXPECT_EQ(start.from, State::kOffline);
  EXPECT_EQ(start.to, State::kRunning);
  EXPECT_EQ(start.duration, absl::Milliseconds(3));
  EXPECT_FALSE(start.refused);
  EXPECT_TRUE(all[1].refused);
  EXPECT_EQ(all[1].caller.certificate, "fleet-1");
  EXPECT_EQ(all[1].caller.uid, -1);
  EXPECT_EQ((*history)->path(), path);
}

TEST(History, RefusedCallsNeverPushOutWhatWasDone) {
  HistoryLimits limits;
  limits.max_records = 3;
  limits.max_refused = 2;
  History history(limits);
  for (int i = 0; i < 5; ++i) history.Add(Entry("adsp", absl::StrCat("op", i)));
  for (int i = 0; i < 50; ++i) history.Add(Entry("adsp", "denied", true));
  auto all = history.Latest("", 100);
  EXPECT_EQ(Operations(all), (std::vector<std::string>{"denied", "denied",
                                                       "op4", "op3", "op2"}));
}

TEST(History, BoundsApplyAgainWhenReopenedWithSmallerOnes) {
  const std::string path = Scratch("shrink.db");
  {
    auto history = History::Open(path, {});
    ASSERT_TRUE(history.ok());
    for (int i = 0; i < 10; ++i) (*history)->Add(Entry("cdsp", "start"));
  }
  HistoryLimits limits;
  limits.max_records = 4;
  auto history = History::Open(path, limits);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ((*history)->Latest("", 100).size(), 4u);
}

TEST(History, RefusedConnectionsAreBoundedApartFromRefusedCalls) {
  HistoryLimits limits;
  limits.max_refused = 2;
  History history(limits);
  history.Add(Entry("adsp", "stop", /*refused=*/true));
  for (int i = 0; i < 10; ++i) history.Add(Entry("", "connect", true));
  EXPECT_EQ(Operations(history.Latest("", 100)),
            (std::vector<std::string>{"connect", "connect", "stop"}));
}

TEST(History, AFullQueueDropsRefusalsAndSaysSo) {
  HistoryLimits limits;
  limits.max_queued = 2;
  History history(limits);
  // The writer is held inside the first record's callback...
  absl::Notification release;
  absl::Notification holding;
  ASSERT_TRUE(history.Submit(Entry("adsp", "first", true), [&](uint64_t id) {
    EXPECT_GT(id, 0u);
    holding.Notify();
    release.WaitForNotification();
  }));
  holding.WaitForNotification();
  // ... so two more fill the queue and the rest are dropped.
  EXPECT_TRUE(history.Submit(Entry("adsp", "second", true)));
  EXPECT_TRUE(history.Submit(Entry("adsp", "third", true)));
  EXPECT_FALSE(history.Submit(Entry("adsp", "lost", true)));
  EXPECT_FALSE(history.Submit(Entry("adsp", "lost", true)));
  EXPECT_EQ(history.dropped(), 2u);
  release.Notify();
  // Add waits for room and for the disk, so everything before is written.
  history.Add(Entry("adsp", "last"));
  auto all = history.Latest("", 10);
  EXPECT_EQ(Operations(all),
            (std::vector<std::string>{"last", "dropped", "third", "second",
                                      "first"}));
  EXPECT_EQ(all[1].result, "AUDIT_QUEUE_FULL");
  EXPECT_THAT(all[1].message, HasSubstr("2 refused calls or connections"));
  uint64_t next = 0;
  History::Query none;
  none.limit = 0;
  EXPECT_TRUE(history.Find(none, &next).empty());
}

TEST(History, OldRecordsExpire) {
  HistoryLimits limits;
  limits.max_age = absl::Hours(1);
  History history(limits);
  HistoryEntry old = Entry("adsp", "old");
  old.time = absl::Now() - absl::Hours(2);
  history.Add(old);
  history.Add(Entry("adsp", "new"));
  EXPECT_EQ(Operations(history.Latest("", 10)),
            std::vector<std::string>{"new"});
}

TEST(History, PagesCoverEveryRecordOnce) {
  History history;
  for (int i = 0; i < 25; ++i) history.Add(Entry("video", absl::StrCat(i)));
  History::Query query;
  query.limit = 10;
  std::set<uint64_t> seen;
  int pages = 0;
  uint64_t next = 0;
  do {
    auto page = history.Find(query, &next);
    ++pages;
    for (const HistoryEntry& e : page) {
      EXPECT_TRUE(seen.insert(e.id).second) << "id " << e.id << " twice";
    }
    query.before_id = next;
  } while (next != 0);
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
}

TEST(History, FiltersAndScope) {
  History history;
  HistoryEntry other = Entry("adsp", "start");
  other.caller.uid = 0;
  history.Add(other);
  history.Add(Entry("video", "start"));
  history.Add(Entry("", "upload"));
  HistoryEntry cert = Entry("cdsp", "stop");
  cert.caller.uid = -1;
  cert.caller.certificate = "fleet-1";
  history.Add(cert);
  uint64_t next = 0;
  History::Query query;
  query.caller_uid = 1000;
  EXPECT_EQ(history.Find(query, &next).size(), 2u);  // video, upload
  query = {};
  query.caller_certificate = "fleet-1";
  EXPECT_EQ(Operations(history.Find(query, &next)),
            std::vector<std::string>{"stop"});
  query = {};
  query.scope = std::vector<std::string>{"video", "cdsp"};
  EXPECT_EQ(Operations(history.Find(query, &next)),
            (std::vector<std::string>{"stop", "start"}));  // not the upload
  query.scope = std::vector<std::string>{};
  EXPECT_TRUE(history.Find(query, &next).empty());
  query = {};
  query.since = absl::Now() + absl::Minutes(1);
  EXPECT_TRUE(history.Find(query, &next).empty());
}

TEST(History, AGarbledDatabaseIsRefusedNamingIt) {
  const std::string path = Scratch("garbled.db");
  {
    std::ofstream out(path);
    out << std::string(8192, 'x');
  }
  auto history = History::Open(path, {});
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(ReasonOf(history.status()), "AUDIT_UNAVAILABLE");
  EXPECT_THAT(history.status().message(), HasSubstr(path));
}

TEST(History, ADatabaseOfANewerPildIsRefused) {
  const std::string path = Scratch("newer.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto history = History::Open(path, {});
  ASSERT_FALSE(history.ok());
  EXPECT_THAT(history.status().message(), HasSubstr("schema version 99"));
}

TEST(History, APlaceThatCannotHoldADatabaseIsRefused) {
  auto history = History::Open(Scratch("no/such/dir/audit.db"), {});
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(ReasonOf(history.status()), "AUDIT_UNAVAILABLE");
  EXPECT_THAT(history.status().message(), HasSubstr("cannot open"));
}

}  // namespace
}  // namespace pil::server
