// pild's metrics as text in the Prometheus exposition format, as the node
// exporter's textfile collector reads it: every family once, with HELP and
// TYPE, no timestamps. Label values are made safe for another program to
// read: at most kMaxLabelValue bytes, printable ASCII, with `\`, `"` and
// newline escaped.
//
//   Snapshot s;
//   s.coprocessors.emplace_back().name = "cdsp";
//   std::string text = Format(s) + FormatWritten(absl::Now());
#ifndef PILD_SERVER_METRICS_EXPOSITION_H_
#define PILD_SERVER_METRICS_EXPOSITION_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/state.h"

namespace pil::server::metrics {

// The reason label of a failure that carries none (a bug: every failure
// pild reports should say why).
inline constexpr char kUnknownReason[] = "UNKNOWN";

// Longest label value written, in bytes; longer ones are cut.
inline constexpr size_t kMaxLabelValue = 128;

// Upper bounds (seconds) of the transition-duration histogram's buckets,
// below the implicit +Inf one.
inline constexpr std::array<double, 13> kDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

struct Histogram {
  // Per bucket of kDurationBuckets, then +Inf; not cumulative.
  std::array<uint64_t, kDurationBuckets.size() + 1> buckets{};
  uint64_t count = 0;
  double sum = 0;

  void Observe(double seconds);
};

struct CoprocessorSample {
  std::string name;
  State state = State::kOffline;
  absl::Time state_since = absl::UnixEpoch();
  uint64_t crashes = 0;
  uint64_t restarts = 0;
  struct Error {
    std::string reason;
    std::string operation;
    absl::Time time;
  };
  std::optional<Error> last_error;
  struct Image {
    std::string sha256;
    std::string version;
    std::string source;
  };
  std::optional<Image> image;
};

// Everything one file says, but when it was written.
struct Snapshot {
  std::string version, backend, board;
  std::vector<CoprocessorSample> coprocessors;
  // By (coprocessor, operation, result).
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t>
      transitions;
  // By (coprocessor, operation).
  std::map<std::pair<std::string, std::string>, Histogram> durations;
  uint64_t audit_write_failures = 0;
  uint64_t audit_dropped = 0;
  uint64_t denied_calls = 0;
  // Connections on pild's Unix socket; none when it has no socket.
  struct Connections {
    uint64_t open = 0;
    uint64_t admitted = 0;
    uint64_t refused = 0;
  };
  std::optional<Connections> connections;
  uint64_t watch_streams = 0;
  uint64_t write_failures = 0;  // of the metrics file
  // How often the file is rewritten at least; zero: not written.
  absl::Duration metrics_interval;
};

// `raw` as a label value's text between its quotes.
std::string LabelValue(absl::string_view raw);

// The families of `snapshot`, each with its HELP and TYPE lines; a family
// without samples is left out. A coprocessor whose name (as a label value)
// repeats an earlier one's is left out of every family (its transitions
// and durations too): the collector rejects duplicates. A failure without
// a reason is labelled kUnknownReason.
std::string Format(const Snapshot& snapshot);
// The pild_metrics_written_timestamp_seconds family at `written`.
std::string FormatWritten(absl::Time written);

}  // namespace pil::server::metrics

#endif  // PILD_SERVER_METRICS_EXPOSITION_H_
