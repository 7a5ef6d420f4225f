// The lifecycle engine's values: what it reports about a coprocessor, a
// transition's result, and who asks for one.
#ifndef PILD_SERVER_ENGINE_TYPES_H_
#define PILD_SERVER_ENGINE_TYPES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "server/history.h"
#include "server/state.h"

namespace pil::server {

// A failure as last reported for a coprocessor.
struct ErrorRecord {
  std::string reason;
  std::string message;
  std::string operation;
  absl::Time time;
};

struct LoadedImage {
  std::string source;
  std::string sha256;  // of the metadata
  std::string version;
  uint32_t hash_table_version = 0;
  uint32_t sw_id = 0;
  uint32_t anti_rollback_version = 0;
};

struct RecoveryPolicy {
  // Restart after a crash (after capturing a coredump); else stay CRASHED.
  bool restart = true;
  uint32_t max_restarts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(100);
};

// A captured coredump of a crash.
struct Coredump {
  uint64_t crash_id = 0;
  std::string coprocessor;  // name
  std::string reason;
  absl::Time time;
  // The ELF core file: immutable, shared by every download of it.
  std::shared_ptr<const std::string> bytes;
  std::string sha256;
};

// A consistent snapshot of one coprocessor.
struct CoprocessorStatus {
  // The device-tree node; owned by the engine, valid while it lives.
  const devicetree::CoprocessorNode* node = nullptr;
  State state = State::kOffline;
  absl::Time state_since;
  uint32_t crash_count = 0;
  std::optional<ErrorRecord> last_error;
  std::optional<LoadedImage> image;
  RecoveryPolicy recovery;
  platform::HardwareView hardware;
  // The backend ("sim", "linux"); whether it drives this coprocessor at
  // all (else `unsupported` says why), and how.
  std::string backend;
  bool drivable = false;
  std::string unsupported;
  platform::Capabilities capabilities;
};

struct Step {
  std::string name;
  std::string detail;
  absl::Duration duration;
};

struct TransitionResult {
  // After the transition; the hardware view as the platform reports it.
  CoprocessorStatus status;
  std::vector<Step> steps;
  std::string note;
  bool replayed = false;
  std::string request_id;  // the caller's, echoed
  bool dry_run = false;    // checks only (DryRunStart)
};

// Who asks, and until when.
struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  // True once the caller gave up (gRPC cancellation); may be empty.
  std::function<bool()> cancelled;
  std::string request_id;
  Caller caller;
};

// A state change, as Watch reports it.
struct StateEvent {
  uint64_t sequence = 0;
  absl::Time time;
  bool initial = false;
  State previous = State::kOffline;
  CoprocessorStatus status;
  std::string operation;  // as in HistoryEntry: start, stop, crash, ...
  std::string reason;
};

}  // namespace pil::server

#endif  // PILD_SERVER_ENGINE_TYPES_H_
