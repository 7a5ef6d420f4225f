#include "server/journal.h"

#include <sqlite3.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/history.h"

namespace pil::server {
namespace {

std::string TestPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", name);
}

JournalImage Image(const std::string& name, const std::string& sha) {
  JournalImage image;
  image.source_kind = "name";
  image.source = name;
  image.sha256 = sha;
  image.version = "1.2";
  image.hash_table_version = 6;
  image.sw_id = 0xe;
  image.anti_rollback_version = 3;
  return image;
}

TEST(Journal, KeepsIntentsAndImagesAcrossConnections) {
  const std::string path = TestPath("journal-reopen.db");
  {
    auto journal = Journal::Open(path);
    ASSERT_TRUE(journal.ok()) << journal.status();
    (*journal)->Begin("adsp", "start");
    (*journal)->Step("adsp", "pas_init_image");
    (*journal)->Booting("adsp", Image("qcom/a.mbn", "aa"));
    (*journal)->Step("adsp", "pas_auth_and_reset");
    (*journal)->Begin("cdsp", "start");
    (*journal)->Booting("cdsp", Image("qcom/c.mbn", "cc"));
    (*journal)->End("cdsp", Image("qcom/c.mbn", "cc"));
    (*journal)->Begin("cdsp", "stop");
  }
  auto journal = Journal::Open(path);  // as a restarted pild
  ASSERT_TRUE(journal.ok()) << journal.status();
  auto records = (*journal)->Read();
  ASSERT_EQ(records.size(), 2u);
  const JournalRecord& adsp = records["adsp"];
  ASSERT_TRUE(adsp.intent.has_value());
  EXPECT_EQ(adsp.intent->operation, "start");
  EXPECT_EQ(adsp.intent->step, "pas_auth_and_reset");
  EXPECT_GT(adsp.intent->pid, 0);
  ASSERT_TRUE(adsp.booting.has_value());
  EXPECT_EQ(adsp.booting->source, "qcom/a.mbn");
  EXPECT_EQ(adsp.booting->version, "1.2");
  EXPECT_EQ(adsp.booting->hash_table_version, 6u);
  EXPECT_EQ(adsp.booting->sw_id, 0xeu);
  EXPECT_EQ(adsp.booting->anti_rollback_version, 3u);
  EXPECT_FALSE(adsp.running.has_value());
  // A new intent replaces the old and forgets what the old one booted; what
  // runs stays until the intent ends.
  const JournalRecord& cdsp = records["cdsp"];
  EXPECT_EQ(cdsp.intent->operation, "stop");
  EXPECT_EQ(cdsp.intent->step, "");
  EXPECT_FALSE(cdsp.booting.has_value());
  ASSERT_TRUE(cdsp.running.has_value());
  EXPECT_EQ(cdsp.running->sha256, "cc");
  (*journal)->End("cdsp", std::nullopt);
  (*journal)->End("adsp", Image("qcom/a.mbn", "aa"));
  records = (*journal)->Read();
  EXPECT_FALSE(records["cdsp"].intent || records["cdsp"].running ||
               records["cdsp"].booting);
  EXPECT_FALSE(records["adsp"].intent || records["adsp"].booting);
  EXPECT_EQ(records["adsp"].running->source, "qcom/a.mbn");
  EXPECT_EQ((*journal)->write_failures(), 0u);
}

TEST(Journal, SharesTheAuditTrailsDatabase) {
  const std::string path = TestPath("journal-audit.db");
  auto history = History::Open(path, {});
  ASSERT_TRUE(history.ok()) << history.status();
  auto journal = Journal::Open(path);
  ASSERT_TRUE(journal.ok()) << journal.status();
  HistoryEntry entry;
  entry.operation = "start";
  entry.coprocessor = "adsp";
  EXPECT_NE((*history)->Add(entry), 0u);
  (*journal)->Begin("adsp", "start");
  EXPECT_NE((*history)->Add(entry), 0u);
  EXPECT_EQ((*journal)->Read()["adsp"].intent->operation, "start");
  EXPECT_EQ((*history)->write_failures(), 0u);
  // Reopened, the audit trail accepts the journal's tables beside its own.
  journal->reset();
  history->reset();
  EXPECT_TRUE(History::Open(path, {}).ok());
}

TEST(Journal, CountsWritesTheDatabaseRefuses) {
  const std::string path = TestPath("journal-refused.db");
  auto journal = Journal::Open(path);
  ASSERT_TRUE(journal.ok()) << journal.status();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE intent", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  (*journal)->Begin("adsp", "start");
  (*journal)->Step("adsp", "load");
  EXPECT_EQ((*journal)->write_failures(), 2u);
}

TEST(Journal, RefusesWhatIsNotADatabase) {
  const std::string path = TestPath("journal-garbage.db");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("this is not an SQLite database, but it is long enough to look at", f);
  fclose(f);
  auto journal = Journal::Open(path);
  ASSERT_FALSE(journal.ok());
  EXPECT_EQ(ReasonOf(journal.status()), "JOURNAL_UNAVAILABLE");
  EXPECT_THAT(journal.status().message(), ::testing::HasSubstr(path));
}

}  // namespace
}  // namespace pil::server
