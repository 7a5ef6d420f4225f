// The intent journal: the transition each coprocessor has in flight (which
// operation, which step it began last) and the image each coprocessor boots
// or runs, kept in the audit trail's SQLite database (tables `intent` and
// `image`), so that a pild killed at any step can finish or undo the
// transition when it comes back, and knows which image an adopted core runs
// (LifecycleEngine::Adopt).
//
// Written before a transition's first hardware step and as each step
// begins; committed without waiting for the disk: it must survive pild, not
// the machine (a reboot resets the coprocessors, and then there is nothing
// to finish). A write the database refuses is logged and counted; the
// transition goes on. In memory (lost at exit) when no path is given.
// Thread-safe.
//
//   auto journal = Journal::Open(history->path());
//   (*journal)->Begin("adsp", "start");
//   (*journal)->Step("adsp", "pas_auth_and_reset");
//   (*journal)->Booting("adsp", image);
//   (*journal)->End("adsp", image);  // it runs `image`; nothing in flight
#ifndef PILD_SERVER_JOURNAL_H_
#define PILD_SERVER_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct sqlite3;

namespace pil::server {

// An image a coprocessor boots or runs, and where it came from.
struct JournalImage {
  std::string source_kind;  // "name" or "upload"
  std::string source;       // the firmware name, or the upload's SHA-256
  std::string sha256;       // of the metadata
  std::string version;
  uint32_t hash_table_version = 0;
  uint32_t sw_id = 0;
  uint32_t anti_rollback_version = 0;
};

struct JournalIntent {
  // authenticate, map, reset, start, stop, recover
  std::string operation;
  std::string step;  // the last step begun; "" before the first
  absl::Time since;
  int64_t pid = 0;  // of the pild that began it
};

// What the journal holds for one coprocessor.
struct JournalRecord {
  std::optional<JournalIntent> intent;
  std::optional<JournalImage> booting;  // verified by the transition
  std::optional<JournalImage> running;  // what it ran when last settled
};

class Journal {
 public:
  // The journal in the SQLite database `path` (the audit trail's; created
  // when missing; "" in memory). FAILED_PRECONDITION (JOURNAL_UNAVAILABLE)
  // naming the path when it cannot be opened or written.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // `coprocessor` begins `operation` (replacing any intent left).
  void Begin(const std::string& coprocessor, const std::string& operation);
  // ... begins `step`.
  void Step(const std::string& coprocessor, const std::string& step);
  // ... has verified `image`, which it boots.
  void Booting(const std::string& coprocessor, const JournalImage& image);
  // Nothing is in flight any more; `running`: what it runs now (none:
  // offline).
  void End(const std::string& coprocessor,
           const std::optional<JournalImage>& running);

  // Every coprocessor the journal names.
  std::map<std::string, JournalRecord> Read() const;

  const std::string& path() const { return path_; }
  uint64_t write_failures() const { return write_failures_.load(); }

 private:
  explicit Journal(std::string path) : path_(std::move(path)) {}
  absl::Status Setup();
  // Runs `sql` with `bind` applied; logs and counts a failure.
  template <typename Bind>
  void Write(const char* what, const char* sql, const Bind& bind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PutImage(const std::string& coprocessor, const char* role,
                const std::optional<JournalImage>& image)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<uint64_t> write_failures_{0};
};

}  // namespace pil::server

#endif  // PILD_SERVER_JOURNAL_H_
