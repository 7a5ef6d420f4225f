// The audit trail: every transition, every refused or denied call, every
// upload and coredump download — who asked for what, with which image, and
// how it ended. Kept in SQLite (WAL), each record committed before Add
// returns, so it survives pild being killed; bounded, oldest first, with
// refused calls counted apart so that they never evict what was done.
// In memory (lost at exit) when no path is given. Thread-safe.
//
//   auto history = History::Open("/var/lib/pild/audit.db", {});
//   (*history)->Add(entry);
//   auto page = (*history)->Find({.coprocessor = "video", .limit = 50});
#ifndef PILD_SERVER_HISTORY_H_
#define PILD_SERVER_HISTORY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/caller.h"
#include "server/state.h"

struct sqlite3;

namespace pil::server {

using access::Caller;

struct HistoryEntry {
  uint64_t id = 0;  // assigned by History::Add; stable across restarts
  absl::Time time;
  std::string coprocessor;  // empty for calls that name none (uploads)
  // authenticate, map, reset, start, stop, crash, recover, observed,
  // upload, coredump, or the verb of a denied call.
  std::string operation;
  std::string request_id;
  Caller caller;
  std::string image_sha256;
  State from = State::kOffline;
  State to = State::kOffline;
  std::string result;  // "OK" or the failure's reason
  std::string message;
  absl::Duration duration;
  // Refused or denied before anything was done: bounded apart.
  bool refused = false;
};

// How much the audit trail keeps; the oldest records go first.
struct HistoryLimits {
  uint64_t max_records = 100000;                  // of calls that did something
  uint64_t max_refused = 10000;                   // of refused and denied calls
  absl::Duration max_age = absl::ZeroDuration();  // zero: no age limit
};

class History {
 public:
  using Limits = HistoryLimits;
  struct Query {
    std::string coprocessor;  // all when empty
    // Only records of these coprocessors; nullopt: all, and records that
    // name none.
    std::optional<std::vector<std::string>> scope;
    std::optional<int64_t> caller_uid;
    std::string caller_certificate;  // all when empty
    absl::Time since = absl::InfinitePast();
    uint64_t before_id = 0;  // a page token: older than this id; 0: newest
    size_t limit = 100;
  };

  // The trail kept in the SQLite database `path` (created when missing).
  // FAILED_PRECONDITION (AUDIT_UNAVAILABLE) naming the path when it cannot
  // be opened or written, or fails its integrity check.
  static absl::StatusOr<std::unique_ptr<History>> Open(const std::string& path,
                                                       Limits limits);
  // A trail in memory, lost when pild exits.
  explicit History(Limits limits = {});
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // Records `entry` (committed before it returns) and returns its id; 0
  // when the database refused the write (logged, and counted in
  // write_failures()).
  uint64_t Add(HistoryEntry entry);
  // Newest first; `*next` is the page token of the following page (0 when
  // there is none).
  std::vector<HistoryEntry> Find(const Query& query, uint64_t* next) const;
  // The newest `limit` records of `coprocessor` (all when empty).
  std::vector<HistoryEntry> Latest(const std::string& coprocessor,
                                   size_t limit) const;

  // Where it is kept ("" in memory), and writes that failed.
  const std::string& path() const { return path_; }
  uint64_t write_failures() const;

 private:
  History(std::string path, Limits limits);
  absl::Status Setup();
  void Prune(bool refused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const Limits limits_;
  mutable absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t write_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // Records kept: [0] of calls that did something, [1] of refused ones.
  int64_t count_[2] ABSL_GUARDED_BY(mu_) = {0, 0};
};

}  // namespace pil::server

#endif  // PILD_SERVER_HISTORY_H_
