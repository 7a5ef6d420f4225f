// The metrics file: rewritten whole (a temporary file beside it, renamed
// over it, mode 0644) so that a reader sees the old text or the new, never
// a part. A thread of its own collects a Snapshot every `check` interval
// and rewrites the file when the text changed, or when `refresh` passed
// since the last write (so its written-timestamp advances); Stop() writes a
// last time. A failed write is counted (in the file, when it can be
// written again) and logged at most once a minute; it is never fatal.
//
//   MetricsFile file("/var/lib/prometheus/node-exporter/pild.prom",
//                    [&] { return Collect(sources); });
//   file.Start();
//   ...
//   file.Stop();
#ifndef PILD_SERVER_METRICS_METRICS_FILE_H_
#define PILD_SERVER_METRICS_METRICS_FILE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/exposition.h"

namespace pil::server::metrics {

// OK when `path` can be pild's metrics file: it ends in ".prom" (the
// textfile collector reads no other name) and its directory exists; else
// INVALID_ARGUMENT (BAD_FLAG) saying what was expected and found.
absl::Status CheckMetricsPath(const std::string& path);

// Replaces `path` with `contents` through a temporary file in its directory
// (".NAME.tmp", never read by the collector; removed on failure), mode 0644.
// FAILED_PRECONDITION (METRICS_WRITE_FAILED) naming the path and the error.
absl::Status WriteAtomically(const std::string& path,
                             absl::string_view contents);

struct MetricsFileOptions {
  absl::Duration check = absl::Seconds(1);
  absl::Duration refresh = absl::Seconds(15);
};

class MetricsFile {
 public:
  // `collect` is called on the file's thread (and in Write()).
  using Collect = std::function<Snapshot()>;
  MetricsFile(std::string path, Collect collect,
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

  const std::string& path() const { return path_; }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Loop();
  // Ends the thread; false when it was ended already.
  bool Halt();
  // Collects; writes when the text changed or `refresh` passed (always
  // with `force`).
  absl::Status Update(bool force) ABSL_LOCKS_EXCLUDED(write_mu_);

  const std::string path_;
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
