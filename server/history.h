// The audit trail: every transition, every refused or denied call, every
// upload, coredump download and refused TLS handshake — who asked for
// what, with which image, and how it ended. Kept in SQLite (WAL,
// synchronous), so that it survives pild being killed. One writer thread
// commits whatever is queued in one transaction (one disk flush for many
// records), so a flood of refusals costs little. Bounded, oldest first,
// in three classes kept apart — what was done, refused calls, refused
// connections — so that refusals never evict what was done. In memory (lost
// at exit) when no path is given. Thread-safe.
//
//   auto history = History::Open("/var/lib/pild/audit.db", {});
//   (*history)->Add(entry);                    // on disk when it returns
//   (*history)->Submit(denial, [](uint64_t id) { ... reply ... });
//   auto page = (*history)->Find(query, &next);
#ifndef PILD_SERVER_HISTORY_H_
#define PILD_SERVER_HISTORY_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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
  // authenticate, map, reset, start, stop, crash, recover, observed, adopt,
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
  // Records waiting for the writer before Submit drops refusals.
  size_t max_queued = 4096;
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

  // Records `entry` (on disk before it returns, waiting for room in the
  // queue) and returns its id; 0 when the database refused the write
  // (logged, and counted in write_failures()).
  uint64_t Add(HistoryEntry entry);
  // Queues `entry`; `done(id)` runs on the writer thread once it is on disk
  // (id 0: the write failed). With the queue full (Limits::max_queued),
  // returns false without calling `done`: the record is dropped, counted,
  // and a record saying how many were dropped follows once there is room.
  bool Submit(HistoryEntry entry,
              std::function<void(uint64_t id)> done = nullptr);
  // Newest first; `*next` is the page token of the following page (0 when
  // there is none).
  std::vector<HistoryEntry> Find(const Query& query, uint64_t* next) const;
  // The newest `limit` records of `coprocessor` (all when empty).
  std::vector<HistoryEntry> Latest(const std::string& coprocessor,
                                   size_t limit) const;

  // Where it is kept ("" in memory); records the database refused; records
  // dropped because the queue was full.
  const std::string& path() const { return path_; }
  uint64_t write_failures() const { return write_failures_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  struct Queued {
    HistoryEntry entry;
    std::function<void(uint64_t)> done;
  };
  History(std::string path, Limits limits);
  absl::Status Setup();
  void Start();
  void WriterLoop();
  // Writes `batch` in one transaction; the ids (0 for a failed write).
  std::vector<uint64_t> Write(std::vector<Queued>& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t Insert(const HistoryEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Prune(int kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recount() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const Limits limits_;
  mutable absl::Mutex mu_;  // the database
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Records kept, by kind: done, refused calls, refused connections.
  int64_t count_[3] ABSL_GUARDED_BY(mu_) = {0, 0, 0};
  std::atomic<uint64_t> write_failures_{0};
  std::atomic<uint64_t> dropped_{0};

  absl::Mutex queue_mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(queue_mu_);
  uint64_t unreported_drops_ ABSL_GUARDED_BY(queue_mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread writer_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_HISTORY_H_
