#include "server/sqlite.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

Statement::Statement(sqlite3* db, const char* sql) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
    stmt_ = nullptr;
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
}

void Statement::Bind(int index, const std::string& value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? "" : reinterpret_cast<const char*>(text);
}

int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

bool Statement::Done() {
  return stmt_ != nullptr && sqlite3_step(stmt_) == SQLITE_DONE;
}

std::string QueryText(sqlite3* db, const char* sql) {
  Statement stmt(db, sql);
  if (!stmt || sqlite3_step(stmt.get()) != SQLITE_ROW) return "";
  return stmt.Text(0);
}

int64_t QueryInt(sqlite3* db, const char* sql) {
  Statement stmt(db, sql);
  if (!stmt || sqlite3_step(stmt.get()) != SQLITE_ROW) return -1;
  return stmt.Int(0);
}

absl::Status DatabaseError(absl::string_view what, absl::string_view reason,
                           const std::string& path, absl::string_view doing,
                           sqlite3* db) {
  return Error(
      absl::StatusCode::kFailedPrecondition, reason,
      absl::StrCat(what, " ", path, ": ", doing, ": ",
                   db == nullptr ? "out of memory" : sqlite3_errmsg(db)),
      {{"path", path}});
}

absl::Status OpenDatabase(const std::string& path, absl::string_view what,
                          absl::string_view reason, sqlite3** db) {
  const std::string where = path.empty() ? ":memory:" : path;
  if (sqlite3_open_v2(
          where.c_str(), db,
          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
          nullptr) != SQLITE_OK) {
    return DatabaseError(what, reason, where, "cannot open", *db);
  }
  sqlite3_extended_result_codes(*db, 1);
  sqlite3_busy_timeout(*db, 2000);
  const std::string check = QueryText(*db, "PRAGMA quick_check");
  if (check != "ok") {
    return DatabaseError(
        what, reason, where,
        absl::StrCat("integrity check failed (",
                     check.empty() ? "not a database" : check, ")"),
        *db);
  }
  if (!path.empty() && QueryText(*db, "PRAGMA journal_mode=WAL") != "wal") {
    return DatabaseError(what, reason, where, "cannot enter WAL mode", *db);
  }
  return absl::OkStatus();
}

}  // namespace pil::server
