// The metrics file: rewritten whole (a temporary file beside it, renamed
// over it, mode 0644) so that a reader sees the old text or the new, never
// a part. A thread of its own collects a Snapshot every `check` interval
// and rewrites the file when the text changed, or when `refresh` passed
// since the last write (so its written-timestamp advances); Stop() writes a
// last time. A failed write is counted (in the file, when it can be
// written again) and logged at most once a minute; it is never fatal.
//
//   auto path =
//   MetricsPath::Open("/var/lib/prometheus/node-exporter/pild.prom"); if
//   (!path.ok()) return path.status();  // BAD_FLAG MetricsFile
//   file(path->get(), [&] { return Collect(sources); }); file.Start();
//   ...
//   file.Stop();
#ifndef PILD_SERVER_METRICS_METRICS_FILE_H_
#define PILD_SERVER_METRICS_METRICS_FILE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/exposition.h"

namespace pil::server::metrics {

// Where the metrics file goes: its directory, opened once and held, and the
// file's name in it. Every write is relative to the held directory, so a
// directory renamed away and replaced (by a symbolic link or another
// directory) after Open() changes nothing: pild writes where it checked.
// Thread-compatible.
class MetricsPath {
 public:
  // Checks `path` as --metrics-file and opens its directory. INVALID_ARGUMENT
  // (BAD_FLAG) saying what was expected and found unless: the name ends in
  // ".prom" (the textfile collector reads no other); the directory exists
  // and is not a symbolic link; it is owned by root or pild's effective user
  // and writable by neither its group nor others (else another user could
  // turn pild's writes elsewhere); PATH is not a directory; and the
  // temporary file can be created there (it is created and removed once:
  // a read-only file system fails now, not at every write).
  static absl::StatusOr<std::unique_ptr<MetricsPath>> Open(
      const std::string& path);
  ~MetricsPath();
  MetricsPath(const MetricsPath&) = delete;
  MetricsPath& operator=(const MetricsPath&) = delete;

  // Replaces the file with `contents` through a temporary file in the
  // directory (".NAME.tmp", never read by the collector; a leftover, or
  // a symbolic link, there is removed, never followed; removed on failure),
  // mode 0644, renamed over NAME (a symbolic link there is replaced, not
  // followed). FAILED_PRECONDITION (METRICS_WRITE_FAILED) naming the path
  // and the error.
  absl::Status Replace(absl::string_view contents) const;

  const std::string& path() const { return path_; }

 private:
  MetricsPath(std::string path, std::string name, int dir);

  const std::string path_;  // as given, for messages
  const std::string name_;  // in the directory
  const std::string temp_;  // ".NAME.tmp"
  const int dir_;
};

struct MetricsFileOptions {
  absl::Duration check = absl::Seconds(1);
  absl::Duration refresh = absl::Seconds(15);
};

class MetricsFile {
 public:
  // `collect` is called on the file's thread (and in Write()); `path`
  // outlives the file.
  using Collect = std::function<Snapshot()>;
  MetricsFile(const MetricsPath* path, Collect collect,
              MetricsFileOptions options = {});
  // Ends the thread (without a last write: see Stop()).
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  // Collects and writes now, on the caller's thread.
  absl::Status Write();
  void Start();
  // Ends the thread, then writes a last time. Idempotent.
  void Stop();

  uint64_t failures() const { return failures_.load(); }

 private:
  void Loop();
  // Ends the thread; false when it was ended already.
  bool Halt();
  // Collects; writes when the text changed or `refresh` passed (always
  // with `force`).
  absl::Status Update(bool force) ABSL_LOCKS_EXCLUDED(write_mu_);

  const MetricsPath* const path_;
  const Collect collect_;
  const MetricsFileOptions options_;
  std::atomic<uint64_t> failures_{0};

  absl::Mutex write_mu_;
  std::string last_body_ ABSL_GUARDED_BY(write_mu_);
  absl::Time last_write_ ABSL_GUARDED_BY(write_mu_) = absl::InfinitePast();
  absl::Time last_log_ ABSL_GUARDED_BY(write_mu_) = absl::InfinitePast();
  uint64_t unlogged_ ABSL_GUARDED_BY(write_mu_) = 0;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace pil::server::metrics

#endif  // PILD_SERVER_METRICS_METRICS_FILE_H_
