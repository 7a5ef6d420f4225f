#include "server/metrics/registry.h"

namespace pil::server::metrics {

void Registry::Transition(const HistoryEntry& entry, bool ran) {
  absl::MutexLock lock(&mu_);
  ++transitions_[{entry.coprocessor, entry.operation,
                  entry.result.empty() ? kUnknownReason : entry.result}];
  if (ran) {
    durations_[{entry.coprocessor, entry.operation}].Observe(
        absl::ToDoubleSeconds(entry.duration));
  }
  if (entry.operation == "recover") ++restarts_[entry.coprocessor];
}

void Registry::Fill(Snapshot* snapshot) const {
  absl::MutexLock lock(&mu_);
  snapshot->transitions = transitions_;
  snapshot->durations = durations_;
  for (CoprocessorSample& c : snapshot->coprocessors) {
    auto it = restarts_.find(c.name);
    c.restarts = it == restarts_.end() ? 0 : it->second;
  }
}

}  // namespace pil::server::metrics
