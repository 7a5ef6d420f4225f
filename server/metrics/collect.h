// pild's metrics gathered from the parts that hold them: the engine (each
// coprocessor as it is now), the registry (transitions), the audit trail,
// the gate, the Unix-socket listener and the Watch streams. Reads each part
// the way its own callers do (short locks, atomics); calls nothing that
// waits for the hardware or the disk.
#ifndef PILD_SERVER_METRICS_COLLECT_H_
#define PILD_SERVER_METRICS_COLLECT_H_

#include <cstddef>
#include <functional>
#include <string>

#include "server/engine.h"
#include "server/gate.h"
#include "server/history.h"
#include "server/metrics/exposition.h"
#include "server/metrics/registry.h"
#include "server/unix_listener.h"

namespace pil::server::metrics {

// What Collect() reads; every pointer outlives its use. `listener` and
// `watch_streams` may be null/empty (not counted then).
struct Sources {
  std::string version, backend, board;
  const LifecycleEngine* engine = nullptr;
  const Registry* registry = nullptr;
  const History* history = nullptr;
  const Gate* gate = nullptr;
  const UnixListener* listener = nullptr;
  std::function<size_t()> watch_streams;
};

Snapshot Collect(const Sources& sources);

}  // namespace pil::server::metrics

#endif  // PILD_SERVER_METRICS_COLLECT_H_
