#include "server/journal.h"

#include <sqlite3.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "common/log.h"
#include "server/sqlite.h"

namespace pil::server {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS intent (
  coprocessor TEXT PRIMARY KEY,
  operation TEXT NOT NULL,
  step TEXT NOT NULL,
  since_ns INTEGER NOT NULL,
  pid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image (
  coprocessor TEXT NOT NULL,
  role TEXT NOT NULL,
  source_kind TEXT NOT NULL,
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  version TEXT NOT NULL,
  hash_table_version INTEGER NOT NULL,
  sw_id INTEGER NOT NULL,
  anti_rollback_version INTEGER NOT NULL,
  PRIMARY KEY (coprocessor, role));
)sql";

constexpr char kBooting[] = "booting";
constexpr char kRunning[] = "running";

// The writes made while it lives commit together (or not at all).
class Atomically {
 public:
  Atomically(sqlite3* db, std::atomic<uint64_t>* failures)
      : db_(db), failures_(failures) {
    began_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
             SQLITE_OK;
  }
  ~Atomically() {
    if (began_ &&
        sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      failures_->fetch_add(1);
      PILD_LOG(ERROR) << "intent journal: cannot commit: "
                      << sqlite3_errmsg(db_);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Atomically(const Atomically&) = delete;
  Atomically& operator=(const Atomically&) = delete;

 private:
  sqlite3* db_;
  std::atomic<uint64_t>* failures_;
  bool began_ = false;
};
}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& path) {
  std::unique_ptr<Journal> journal(new Journal(path));
  if (absl::Status s = journal->Setup(); !s.ok()) return s;
  return journal;
}

Journal::~Journal() {
  absl::MutexLock lock(&mu_);
  sqlite3_close_v2(db_);
}

absl::Status Journal::Setup() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s =
          OpenDatabase(path_, "intent journal", "JOURNAL_UNAVAILABLE", &db_);
      !s.ok()) {
    return s;
  }
  // WAL without a flush at commit: a committed write survives pild being
  // killed (it is in the file), not a power loss (which resets the
  // coprocessors anyway).
  if (sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr,
                   nullptr) != SQLITE_OK ||
      sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return DatabaseError("intent journal", "JOURNAL_UNAVAILABLE",
                         path_.empty() ? ":memory:" : path_, "cannot write",
                         db_);
  }
  return absl::OkStatus();
}

template <typename Bind>
void Journal::Write(const char* what, const char* sql, const Bind& bind) {
  Statement statement(db_, sql);
  if (statement) bind(statement);
  if (!statement.Done()) {
    write_failures_.fetch_add(1);
    PILD_LOG(ERROR) << "intent journal " << path_ << ": cannot record " << what
                    << ": " << sqlite3_errmsg(db_);
  }
}

void Journal::PutImage(const std::string& coprocessor, const char* role,
                       const std::optional<JournalImage>& image) {
  if (!image) {
    Write("an image", "DELETE FROM image WHERE coprocessor = ?1 AND role = ?2",
          [&](Statement& st) {
            st.Bind(1, coprocessor);
            st.Bind(2, std::string(role));
          });
    return;
  }
  Write("an image",
        "INSERT OR REPLACE INTO image (coprocessor, role, source_kind, source, "
        "sha256, version, hash_table_version, sw_id, anti_rollback_version) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        [&](Statement& st) {
          st.Bind(1, coprocessor);
          st.Bind(2, std::string(role));
          st.Bind(3, image->source_kind);
          st.Bind(4, image->source);
          st.Bind(5, image->sha256);
          st.Bind(6, image->version);
          st.Bind(7, image->hash_table_version);
          st.Bind(8, image->sw_id);
          st.Bind(9, image->anti_rollback_version);
        });
}

void Journal::Begin(const std::string& coprocessor,
                    const std::string& operation) {
  absl::MutexLock lock(&mu_);
  Atomically together(db_, &write_failures_);
  Write("an intent",
        "INSERT OR REPLACE INTO intent (coprocessor, operation, step, "
        "since_ns, pid) VALUES (?1, ?2, '', ?3, ?4)",
        [&](Statement& st) {
          st.Bind(1, coprocessor);
          st.Bind(2, operation);
          st.Bind(3, absl::ToUnixNanos(absl::Now()));
          st.Bind(4, static_cast<int64_t>(getpid()));
        });
  PutImage(coprocessor, kBooting, std::nullopt);
}

void Journal::Step(const std::string& coprocessor, const std::string& step) {
  absl::MutexLock lock(&mu_);
  Write("a step", "UPDATE intent SET step = ?2 WHERE coprocessor = ?1",
        [&](Statement& st) {
          st.Bind(1, coprocessor);
          st.Bind(2, step);
        });
}

void Journal::Booting(const std::string& coprocessor,
                      const JournalImage& image) {
  absl::MutexLock lock(&mu_);
  PutImage(coprocessor, kBooting, image);
}

void Journal::End(const std::string& coprocessor,
                  const std::optional<JournalImage>& running) {
  absl::MutexLock lock(&mu_);
  Atomically together(db_, &write_failures_);
  Write("the end of an intent", "DELETE FROM intent WHERE coprocessor = ?1",
        [&](Statement& st) { st.Bind(1, coprocessor); });
  PutImage(coprocessor, kBooting, std::nullopt);
  PutImage(coprocessor, kRunning, running);
}

std::map<std::string, JournalRecord> Journal::Read() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, JournalRecord> out;
  Statement intents(db_,
                    "SELECT coprocessor, operation, step, since_ns, pid "
                    "FROM intent");
  while (intents && sqlite3_step(intents.get()) == SQLITE_ROW) {
    JournalIntent intent;
    intent.operation = intents.Text(1);
    intent.step = intents.Text(2);
    intent.since = absl::FromUnixNanos(intents.Int(3));
    intent.pid = intents.Int(4);
    out[intents.Text(0)].intent = std::move(intent);
  }
  Statement images(db_,
                   "SELECT coprocessor, role, source_kind, source, sha256, "
                   "version, hash_table_version, sw_id, anti_rollback_version "
                   "FROM image");
  while (images && sqlite3_step(images.get()) == SQLITE_ROW) {
    JournalImage image;
    image.source_kind = images.Text(2);
    image.source = images.Text(3);
    image.sha256 = images.Text(4);
    image.version = images.Text(5);
    image.hash_table_version = static_cast<uint32_t>(images.Int(6));
    image.sw_id = static_cast<uint32_t>(images.Int(7));
    image.anti_rollback_version = static_cast<uint32_t>(images.Int(8));
    JournalRecord& record = out[images.Text(0)];
    (images.Text(1) == kRunning ? record.running : record.booting) =
        std::move(image);
  }
  return out;
}

}  // namespace pil::server
