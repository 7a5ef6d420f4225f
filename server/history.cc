#include "server/history.h"

#include <sqlite3.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error.h"
#include "common/log.h"
#include "server/sqlite.h"

namespace pil::server {
namespace {

// Bumped when the table changes; a database from a newer pild is refused.
constexpr int kSchemaVersion = 1;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  refused INTEGER NOT NULL,
  coprocessor TEXT NOT NULL,
  operation TEXT NOT NULL,
  request_id TEXT NOT NULL,
  caller_uid INTEGER NOT NULL,
  caller_gid INTEGER NOT NULL,
  caller_pid INTEGER NOT NULL,
  caller_groups TEXT NOT NULL,
  caller_certificate TEXT NOT NULL,
  caller_peer TEXT NOT NULL,
  image_sha256 TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  result TEXT NOT NULL,
  message TEXT NOT NULL,
  duration_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_kind ON audit (refused, id);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time_ns);
CREATE INDEX IF NOT EXISTS audit_by_coprocessor ON audit (coprocessor, id);
)sql";

constexpr char kColumns[] =
    "id, time_ns, refused, coprocessor, operation, request_id, caller_uid, "
    "caller_gid, caller_pid, caller_groups, caller_certificate, caller_peer, "
    "image_sha256, from_state, to_state, result, message, duration_ns";

absl::Status Unavailable(const std::string& path, absl::string_view what,
                         sqlite3* db) {
  return DatabaseError("audit trail", "AUDIT_UNAVAILABLE", path, what, db);
}

HistoryEntry FromRow(const Statement& row) {
  HistoryEntry entry;
  entry.id = static_cast<uint64_t>(row.Int(0));
  entry.time = absl::FromUnixNanos(row.Int(1));
  entry.refused = row.Int(2) != 0;
  entry.coprocessor = row.Text(3);
  entry.operation = row.Text(4);
  entry.request_id = row.Text(5);
  entry.caller.uid = row.Int(6);
  entry.caller.gid = row.Int(7);
  entry.caller.pid = row.Int(8);
  for (absl::string_view group :
       absl::StrSplit(row.Text(9), ',', absl::SkipEmpty())) {
    int64_t gid;
    if (absl::SimpleAtoi(group, &gid)) entry.caller.groups.push_back(gid);
  }
  entry.caller.certificate = row.Text(10);
  entry.caller.peer = row.Text(11);
  entry.image_sha256 = row.Text(12);
  entry.from = StateFromName(row.Text(13).c_str()).value_or(State::kOffline);
  entry.to = StateFromName(row.Text(14).c_str()).value_or(State::kOffline);
  entry.result = row.Text(15);
  entry.message = row.Text(16);
  entry.duration = absl::Nanoseconds(row.Int(17));
  return entry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<History>> History::Open(const std::string& path,
                                                       Limits limits) {
  std::unique_ptr<History> history(new History(path, limits));
  absl::Status setup = history->Setup();
  if (!setup.ok()) return setup;
  history->Start();
  return history;
}

History::History(Limits limits) : History("", limits) {
  absl::Status setup = Setup();
  if (!setup.ok()) {
    // Only an allocation failure stops an in-memory database.
    PILD_LOG(ERROR) << setup.message();
    std::abort();
  }
  Start();
}

History::History(std::string path, Limits limits)
    : path_(std::move(path)), limits_(limits) {}

History::~History() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  absl::MutexLock lock(&mu_);
  sqlite3_close_v2(db_);
}

void History::Start() {
  writer_ = std::thread([this] { WriterLoop(); });
}

absl::Status History::Setup() {
  absl::MutexLock lock(&mu_);
  const std::string where = path_.empty() ? ":memory:" : path_;
  if (absl::Status s =
          OpenDatabase(path_, "audit trail", "AUDIT_UNAVAILABLE", &db_);
      !s.ok()) {
    return s;
  }
  const int64_t version = QueryInt(db_, "PRAGMA user_version");
  if (version > kSchemaVersion) {
    return Error(
        absl::StatusCode::kFailedPrecondition, "AUDIT_UNAVAILABLE",
        absl::StrCat("audit trail ", where, " has schema version ", version,
                     "; this pild knows up to ", kSchemaVersion),
        {{"path", where}});
  }
  // Each record is on disk before Add returns, so before the reply.
  if (sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr) !=
          SQLITE_OK ||
      sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db_,
                   absl::StrCat("PRAGMA user_version=", kSchemaVersion).c_str(),
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Unavailable(where, "cannot write", db_);
  }
  Recount();
  for (int kind = 0; kind < 3; ++kind) Prune(kind);
  return absl::OkStatus();
}

bool History::Submit(HistoryEntry entry, std::function<void(uint64_t)> done) {
  absl::MutexLock lock(&queue_mu_);
  if (stopping_ || queue_.size() >= limits_.max_queued) {
    dropped_.fetch_add(1);
    ++unreported_drops_;
    return false;
  }
  queue_.push_back({std::move(entry), std::move(done)});
  return true;
}

uint64_t History::Add(HistoryEntry entry) {
  struct Result {
    absl::Mutex mu;
    bool done = false;
    uint64_t id = 0;
  };
  auto result = std::make_shared<Result>();
  {
    absl::MutexLock lock(&queue_mu_);
    // What must be recorded waits for room rather than being dropped.
    auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(queue_mu_) {
      return stopping_ || queue_.size() < limits_.max_queued;
    };
    queue_mu_.Await(absl::Condition(&room));
    if (stopping_) return 0;
    queue_.push_back({std::move(entry), [result](uint64_t id) {
                        absl::MutexLock done(&result->mu);
                        result->id = id;
                        result->done = true;
                      }});
  }
  absl::MutexLock lock(&result->mu);
  result->mu.Await(absl::Condition(&result->done));
  return result->id;
}

void History::WriterLoop() {
  constexpr size_t kBatch = 512;
  while (true) {
    std::vector<Queued> batch;
    {
      absl::MutexLock lock(&queue_mu_);
      auto work = [this]() ABSL_SHARED_LOCKS_REQUIRED(queue_mu_) {
        return stopping_ || !queue_.empty() || unreported_drops_ > 0;
      };
      queue_mu_.Await(absl::Condition(&work));
      if (queue_.empty() && unreported_drops_ == 0) return;  // stopping
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (unreported_drops_ > 0) {
        HistoryEntry note;
        note.time = absl::Now();
        note.operation = "dropped";
        note.refused = true;
        note.result = "AUDIT_QUEUE_FULL";
        note.message = absl::StrCat(unreported_drops_,
                                    " refused calls or connections were not "
                                    "recorded: the audit queue was full");
        note.caller.peer = "pild";
        batch.push_back({std::move(note), nullptr});
        unreported_drops_ = 0;
      }
    }
    std::vector<uint64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      ids = Write(batch);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) batch[i].done(ids[i]);
    }
  }
}

namespace {

// Which bound a record counts against: 0 what was done, 1 refused calls,
// 2 refused connections.
int KindOf(const HistoryEntry& entry) {
  if (!entry.refused) return 0;
  return entry.operation == "connect" ? 2 : 1;
}

}  // namespace

std::vector<uint64_t> History::Write(std::vector<Queued>& batch) {
  std::vector<uint64_t> ids(batch.size(), 0);
  // One transaction, one flush to disk, for the whole batch.
  bool ok = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
            SQLITE_OK;
  for (size_t i = 0; ok && i < batch.size(); ++i) {
    ids[i] = Insert(batch[i].entry);
    ok = ids[i] != 0;
  }
  if (ok) {
    ok = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  if (!ok) {
    PILD_LOG(ERROR) << "audit trail " << path_ << ": cannot record "
                    << batch.size() << " record(s): " << sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    write_failures_.fetch_add(batch.size());
    Recount();
    return std::vector<uint64_t>(batch.size(), 0);
  }
  bool kinds[3] = {false, false, false};
  for (const Queued& q : batch) {
    const int kind = KindOf(q.entry);
    ++count_[kind];
    kinds[kind] = true;
  }
  for (int kind = 0; kind < 3; ++kind) {
    if (kinds[kind]) Prune(kind);
  }
  return ids;
}

uint64_t History::Insert(const HistoryEntry& entry) {
  Statement insert(
      db_,
      "INSERT INTO audit (time_ns, refused, coprocessor, operation, "
      "request_id, caller_uid, caller_gid, caller_pid, caller_groups, "
      "caller_certificate, caller_peer, image_sha256, from_state, to_state, "
      "result, message, duration_ns) VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
      "?16, ?17)");
  if (!insert) return 0;
  insert.Bind(1, absl::ToUnixNanos(entry.time));
  insert.Bind(2, KindOf(entry));
  insert.Bind(3, entry.coprocessor);
  insert.Bind(4, entry.operation);
  insert.Bind(5, entry.request_id);
  insert.Bind(6, entry.caller.uid);
  insert.Bind(7, entry.caller.gid);
  insert.Bind(8, entry.caller.pid);
  insert.Bind(9, absl::StrJoin(entry.caller.groups, ","));
  insert.Bind(10, entry.caller.certificate);
  insert.Bind(11, entry.caller.peer);
  insert.Bind(12, entry.image_sha256);
  insert.Bind(13, std::string(StateName(entry.from)));
  insert.Bind(14, std::string(StateName(entry.to)));
  insert.Bind(15, entry.result);
  insert.Bind(16, entry.message);
  insert.Bind(17, absl::ToInt64Nanoseconds(entry.duration));
  if (sqlite3_step(insert.get()) != SQLITE_DONE) return 0;
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
}

void History::Recount() {
  for (int kind = 0; kind < 3; ++kind) {
    Statement count(db_, "SELECT COUNT(*) FROM audit WHERE refused = ?1");
    count.Bind(1, kind);
    count_[kind] =
        count && sqlite3_step(count.get()) == SQLITE_ROW ? count.Int(0) : 0;
  }
}

void History::Prune(int kind) {
  const uint64_t bound = kind == 0 ? limits_.max_records : limits_.max_refused;
  if (count_[kind] > static_cast<int64_t>(bound)) {
    Statement drop(db_,
                   "DELETE FROM audit WHERE id IN (SELECT id FROM audit "
                   "WHERE refused = ?1 ORDER BY id LIMIT ?2)");
    if (drop) {
      drop.Bind(1, kind);
      drop.Bind(2, count_[kind] - static_cast<int64_t>(bound));
      if (sqlite3_step(drop.get()) == SQLITE_DONE) {
        count_[kind] -= sqlite3_changes(db_);
      }
    }
  }
  if (limits_.max_age > absl::ZeroDuration()) {
    Statement expire(db_, "DELETE FROM audit WHERE time_ns < ?1");
    if (expire) {
      expire.Bind(1, absl::ToUnixNanos(absl::Now() - limits_.max_age));
      if (sqlite3_step(expire.get()) == SQLITE_DONE && sqlite3_changes(db_)) {
        Recount();
      }
    }
  }
}

std::vector<HistoryEntry> History::Find(const Query& query,
                                        uint64_t* next) const {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryEntry> out;
  *next = 0;
  if (query.limit == 0 || (query.scope && query.scope->empty())) return out;
  // Only the conditions the query sets, so that SQLite walks the ids (or
  // an index) down from the page token instead of filtering every row.
  std::vector<std::string> conditions;
  std::vector<std::function<void(Statement&, int)>> binds;
  auto add = [&](std::string condition,
                 std::function<void(Statement&, int)> bind) {
    conditions.push_back(absl::StrCat(condition, binds.size() + 1));
    binds.push_back(std::move(bind));
  };
  if (query.before_id != 0) {
    add("id < ?", [&](Statement& st, int i) {
      st.Bind(i, static_cast<int64_t>(query.before_id));
    });
  }
  if (!query.coprocessor.empty()) {
    add("coprocessor = ?",
        [&](Statement& st, int i) { st.Bind(i, query.coprocessor); });
  }
  if (query.caller_uid) {
    add("caller_uid = ?",
        [&](Statement& st, int i) { st.Bind(i, *query.caller_uid); });
  }
  if (!query.caller_certificate.empty()) {
    add("caller_certificate = ?",
        [&](Statement& st, int i) { st.Bind(i, query.caller_certificate); });
  }
  if (query.since != absl::InfinitePast()) {
    add("time_ns >= ?", [&](Statement& st, int i) {
      st.Bind(i, absl::ToUnixNanos(query.since));
    });
  }
  if (query.scope) {
    std::vector<std::string> marks;
    for (const std::string& name : *query.scope) {
      marks.push_back(absl::StrCat("?", binds.size() + 1));
      binds.push_back([&name](Statement& st, int i) { st.Bind(i, name); });
    }
    conditions.push_back(
        absl::StrCat("coprocessor IN (", absl::StrJoin(marks, ", "), ")"));
  }
  const std::string sql = absl::StrCat(
      "SELECT ", kColumns, " FROM audit", conditions.empty() ? "" : " WHERE ",
      absl::StrJoin(conditions, " AND "), " ORDER BY id DESC LIMIT ",
      // One more than asked tells whether another page follows.
      query.limit + 1);
  Statement select(db_, sql.c_str());
  if (!select) return out;
  for (size_t i = 0; i < binds.size(); ++i) {
    binds[i](select, static_cast<int>(i + 1));
  }
  while (sqlite3_step(select.get()) == SQLITE_ROW) {
    if (out.size() == query.limit) {
      *next = out.back().id;
      break;
    }
    out.push_back(FromRow(select));
  }
  return out;
}

std::vector<HistoryEntry> History::Latest(const std::string& coprocessor,
                                          size_t limit) const {
  Query query;
  query.coprocessor = coprocessor;
  query.limit = limit;
  uint64_t next = 0;
  return Find(query, &next);
}

}  // namespace pil::server
