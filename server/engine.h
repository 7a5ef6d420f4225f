// The lifecycle engine: every coprocessor pild manages and its state.
//
//   LifecycleEngine engine(std::move(board));
//   for (const CoprocessorStatus& c : engine.List()) ...
//
// Only enabled device-tree nodes (status "okay") are managed. Thread-safe.
#ifndef PILD_SERVER_ENGINE_H_
#define PILD_SERVER_ENGINE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/devicetree/coprocessor_node.h"

namespace pil::server {

enum class State {
  kOffline,
  kAuthenticated,
  kMapped,
  kRunning,
  kStopping,
  kCrashed,
  kRecovering,
};

// A failure as last reported for a coprocessor.
struct ErrorRecord {
  std::string reason;
  std::string message;
  std::string operation;
  absl::Time time;
};

// A consistent snapshot of one coprocessor.
struct CoprocessorStatus {
  devicetree::CoprocessorNode node;
  State state = State::kOffline;
  absl::Time state_since;
  uint32_t crash_count = 0;
  std::optional<ErrorRecord> last_error;
};

class LifecycleEngine {
 public:
  // Manages the enabled coprocessors of `board`. `initial_states` gives the
  // state observed at startup by device-tree path (absent: offline).
  explicit LifecycleEngine(
      const devicetree::Board& board,
      const std::map<std::string, State>& initial_states = {});

  // Every managed coprocessor, in device-tree order.
  std::vector<CoprocessorStatus> List() const;

  // One coprocessor. NOT_FOUND (UNKNOWN_COPROCESSOR) naming the known ones
  // when there is none called `name`.
  absl::StatusOr<CoprocessorStatus> Get(absl::string_view name) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<CoprocessorStatus> coprocessors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_ENGINE_H_
