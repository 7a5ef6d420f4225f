#include "server/metrics/exposition.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pil::server::metrics {
namespace {

constexpr State kStates[] = {
    State::kOffline,  State::kAuthenticated, State::kMapped,    State::kRunning,
    State::kStopping, State::kCrashed,       State::kRecovering};

using Labels = std::vector<std::pair<const char*, std::string>>;

// One family: its samples are appended only after Begin(), so that a family
// without samples leaves no HELP or TYPE behind.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help)
      : out_(out), name_(name), type_(type), help_(help) {}

  void Sample(const Labels& labels, const std::string& value,
              const char* suffix = "") {
    if (!begun_) {
      absl::StrAppend(out_, "# HELP ", name_, " ", help_, "\n# TYPE ", name_,
                      " ", type_, "\n");
      begun_ = true;
    }
    absl::StrAppend(out_, name_, suffix);
    if (!labels.empty()) {
      out_->push_back('{');
      for (size_t i = 0; i < labels.size(); ++i) {
        absl::StrAppend(out_, i == 0 ? "" : ",", labels[i].first, "=\"",
                        LabelValue(labels[i].second), "\"");
      }
      out_->push_back('}');
    }
    absl::StrAppend(out_, " ", value, "\n");
  }

 private:
  std::string* out_;
  const char* name_;
  const char* type_;
  const char* help_;
  bool begun_ = false;
};

std::string Seconds(absl::Time t) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

std::string Bound(double bound) { return absl::StrCat(bound); }

}  // namespace

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kDurationBuckets.size() && seconds > kDurationBuckets[i]) ++i;
  ++buckets[i];
  ++count;
  sum += seconds;
}

std::string LabelValue(absl::string_view raw) {
  std::string out;
  for (char c : raw.substr(0, kMaxLabelValue)) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c > 0x7e) {  // also every byte of UTF-8
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Format(const Snapshot& s) {
  std::string out;
  Family(&out, "pild_build_info", "gauge",
         "pild's version, backend and board (model); always 1.")
      .Sample(
          {{"version", s.version}, {"backend", s.backend}, {"board", s.board}},
          "1");

  // The first coprocessor name (raw) written as each label value: a later
  // name cut to the same value is left out of every family.
  std::map<std::string, std::string> owner;
  auto owns = [&owner](const std::string& name) {
    return owner.emplace(LabelValue(name), name).first->second == name;
  };
  std::vector<const CoprocessorSample*> coprocessors;
  std::set<std::string> seen;
  for (const CoprocessorSample& c : s.coprocessors) {
    if (owns(c.name) && seen.insert(c.name).second) coprocessors.push_back(&c);
  }
  Family state(&out, "pild_coprocessor_state", "gauge",
               "Lifecycle state of the coprocessor: 1 for the state it is "
               "in, 0 for every other.");
  for (const CoprocessorSample* c : coprocessors) {
    for (State st : kStates) {
      state.Sample({{"coprocessor", c->name}, {"state", StateName(st)}},
                   c->state == st ? "1" : "0");
    }
  }
  Family since(&out, "pild_coprocessor_state_since_seconds", "gauge",
               "Unix time of the coprocessor's last state change (or of "
               "pild's start).");
  Family crashes(&out, "pild_coprocessor_crashes_total", "counter",
                 "Crashes of the coprocessor since pild started.");
  Family restarts(&out, "pild_coprocessor_restarts_total", "counter",
                  "Automatic restarts after crashes (recoveries, whatever "
                  "their result) since pild started.");
  for (const CoprocessorSample* c : coprocessors) {
    since.Sample({{"coprocessor", c->name}}, Seconds(c->state_since));
  }
  for (const CoprocessorSample* c : coprocessors) {
    crashes.Sample({{"coprocessor", c->name}}, absl::StrCat(c->crashes));
  }
  for (const CoprocessorSample* c : coprocessors) {
    restarts.Sample({{"coprocessor", c->name}}, absl::StrCat(c->restarts));
  }
  Family error(&out, "pild_coprocessor_last_error", "gauge",
               "The coprocessor's last failure (reason, and the operation "
               "that failed); absent when its last transition succeeded.");
  for (const CoprocessorSample* c : coprocessors) {
    if (!c->last_error) continue;
    const std::string& reason = c->last_error->reason;
    error.Sample({{"coprocessor", c->name},
                  {"reason", reason.empty() ? kUnknownReason : reason},
                  {"operation", c->last_error->operation}},
                 "1");
  }
  Family error_time(&out, "pild_coprocessor_last_error_timestamp_seconds",
                    "gauge", "Unix time of the coprocessor's last failure.");
  for (const CoprocessorSample* c : coprocessors) {
    if (!c->last_error) continue;
    error_time.Sample({{"coprocessor", c->name}}, Seconds(c->last_error->time));
  }
  Family image(&out, "pild_coprocessor_image_info", "gauge",
               "The image the coprocessor was booted with (SHA-256 of its "
               "metadata, version string, where it came from); always 1, "
               "absent when none is loaded.");
  for (const CoprocessorSample* c : coprocessors) {
    if (!c->image) continue;
    image.Sample({{"coprocessor", c->name},
                  {"sha256", c->image->sha256},
                  {"version", c->image->version},
                  {"source", c->image->source}},
                 "1");
  }

  Family transitions(&out, "pild_transitions_total", "counter",
                     "Transitions asked of pild or made on its own, by "
                     "operation and result (OK or the failure's reason).");
  for (const auto& [key, count] : s.transitions) {
    const auto& [coprocessor, operation, result] = key;
    if (!owns(coprocessor)) continue;
    transitions.Sample({{"coprocessor", coprocessor},
                        {"operation", operation},
                        {"result", result}},
                       absl::StrCat(count));
  }
  Family durations(&out, "pild_transition_duration_seconds", "histogram",
                   "How long transitions that ran took, refusals aside.");
  for (const auto& [key, h] : s.durations) {
    const auto& [coprocessor, operation] = key;
    if (!owns(coprocessor)) continue;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      durations.Sample(
          {{"coprocessor", coprocessor},
           {"operation", operation},
           {"le",
            i < kDurationBuckets.size() ? Bound(kDurationBuckets[i]) : "+Inf"}},
          absl::StrCat(cumulative), "_bucket");
    }
    const Labels labels = {{"coprocessor", coprocessor},
                           {"operation", operation}};
    durations.Sample(labels, absl::StrFormat("%.6f", h.sum), "_sum");
    durations.Sample(labels, absl::StrCat(h.count), "_count");
  }

  Family(&out, "pild_audit_write_failures_total", "counter",
         "Audit records the database refused to write.")
      .Sample({}, absl::StrCat(s.audit_write_failures));
  Family(&out, "pild_audit_dropped_total", "counter",
         "Audit records of refusals dropped because the audit queue was "
         "full.")
      .Sample({}, absl::StrCat(s.audit_dropped));
  Family(&out, "pild_denied_calls_total", "counter",
         "Calls the access policy denied.")
      .Sample({}, absl::StrCat(s.denied_calls));
  if (s.connections) {
    Family(&out, "pild_connections_open", "gauge",
           "Connections on pild's Unix socket believed open (closed ones "
           "are noticed within 10 s).")
        .Sample({}, absl::StrCat(s.connections->open));
    Family(&out, "pild_connections_admitted_total", "counter",
           "Connections on pild's Unix socket admitted.")
        .Sample({}, absl::StrCat(s.connections->admitted));
    Family(&out, "pild_connections_refused_total", "counter",
           "Connections on pild's Unix socket refused by the connection "
           "limits.")
        .Sample({}, absl::StrCat(s.connections->refused));
  }
  Family(&out, "pild_watch_streams", "gauge", "Watch streams open.")
      .Sample({}, absl::StrCat(s.watch_streams));
  Family(&out, "pild_metrics_write_failures_total", "counter",
         "Failed writes of this metrics file.")
      .Sample({}, absl::StrCat(s.write_failures));
  if (s.metrics_interval > absl::ZeroDuration()) {
    Family(&out, "pild_metrics_interval_seconds", "gauge",
           "How often pild rewrites this file at least (--metrics-interval).")
        .Sample({}, absl::StrCat(absl::ToDoubleSeconds(s.metrics_interval)));
  }
  return out;
}

std::string FormatWritten(absl::Time written) {
  std::string out;
  Family(&out, "pild_metrics_written_timestamp_seconds", "gauge",
         "Unix time pild wrote this file (at least every --metrics-interval "
         "while it runs).")
      .Sample({}, Seconds(written));
  return out;
}

}  // namespace pil::server::metrics
