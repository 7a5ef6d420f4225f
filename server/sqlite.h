// Small helpers over SQLite's C API, shared by the audit trail and the
// intent journal (two connections to one database file).
//
//   Statement select(db, "SELECT state FROM intent WHERE coprocessor = ?1");
//   select.Bind(1, name);
//   while (sqlite3_step(select.get()) == SQLITE_ROW) use(select.Text(0));
#ifndef PILD_SERVER_SQLITE_H_
#define PILD_SERVER_SQLITE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace pil::server {

// A prepared statement, finalized when it goes out of scope; false when
// `sql` did not compile.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

  void Bind(int index, int64_t value);
  void Bind(int index, const std::string& value);
  std::string Text(int column) const;
  int64_t Int(int column) const;
  // Runs a statement that returns no rows: true when it completed.
  bool Done();

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// The single text value of `sql` ("" when it yields none).
std::string QueryText(sqlite3* db, const char* sql);
// The single integer value of `sql` (-1 when it yields none).
int64_t QueryInt(sqlite3* db, const char* sql);

// Opens (creating) the database `path` (":memory:" when empty) without
// following a symbolic link, in WAL mode when on disk, with extended result
// codes and a busy timeout of two seconds (a reader such as an operator's
// sqlite3 shell holds its lock only briefly). Refuses a file that fails
// SQLite's quick integrity check. FAILED_PRECONDITION (`reason`) naming
// `what` and the path otherwise.
absl::Status OpenDatabase(const std::string& path, absl::string_view what,
                          absl::string_view reason, sqlite3** db);

// FAILED_PRECONDITION (`reason`): "`what` `path`: `doing`: SQLite's error".
absl::Status DatabaseError(absl::string_view what, absl::string_view reason,
                           const std::string& path, absl::string_view doing,
                           sqlite3* db);

}  // namespace pil::server

#endif  // PILD_SERVER_SQLITE_H_
