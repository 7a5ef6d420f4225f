// The counters pild's engine updates as transitions end: transitions by
// result, their durations, and automatic restarts. Updates take one short
// lock of the registry's own (a leaf: it calls nothing), so the engine may
// update it under its lock. Thread-safe.
//
//   Registry registry;
//   engine_options.on_transition = [&](const HistoryEntry& e, bool ran) {
//     registry.Transition(e, ran);
//   };
//   registry.Fill(&snapshot);
#ifndef PILD_SERVER_METRICS_REGISTRY_H_
#define PILD_SERVER_METRICS_REGISTRY_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/history.h"
#include "server/metrics/exposition.h"

namespace pil::server::metrics {

class Registry {
 public:
  // Counts the transition `entry` records (result "OK", a reason, or
  // kUnknownReason for a failure without one); its duration when steps
  // `ran` (as EngineOptions::on_transition says). A "recover" is one
  // automatic restart.
  void Transition(const HistoryEntry& entry, bool ran);

  // Adds the transitions and durations to `snapshot`, and the restarts to
  // its coprocessors (those named in `snapshot->coprocessors`).
  void Fill(Snapshot* snapshot) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t>
      transitions_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, Histogram> durations_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> restarts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server::metrics

#endif  // PILD_SERVER_METRICS_REGISTRY_H_
