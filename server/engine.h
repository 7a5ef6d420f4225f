// The lifecycle engine: every coprocessor pild manages, its state machine,
// and the transitions that drive the platform (secure world, IOMMU,
// memory, signals). It cannot tell which backend it drives.
//
//   LifecycleEngine engine(&platform, board, &firmware, &history, {});
//   auto started = engine.Start("video", FirmwareSource(), 0s, ctx);
//
// States: OFFLINE -> AUTHENTICATED -> MAPPED -> RUNNING, plus STOPPING,
// CRASHED, RECOVERING. Every failing transition rolls back to OFFLINE and
// leaves no metadata, bridge or mapping behind. One transition at a time per
// coprocessor: later callers wait (until their deadline) and then see the
// state it left; different coprocessors proceed in parallel. A request id
// seen before returns the first call's outcome. Thread-safe.
#ifndef PILD_SERVER_ENGINE_H_
#define PILD_SERVER_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/platform.h"
#include "server/coredump.h"
#include "server/firmware_store.h"
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

// What the hardware holds for a coprocessor.
struct HardwareView {
  bool metadata_held = false;
  std::vector<platform::HardwareState::Bridge> bridges;
  std::vector<platform::HardwareState::Mapping> mappings;
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
  HardwareView hardware;
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
  std::string reason;
};

struct EngineOptions {
  absl::Duration ready_timeout = absl::Seconds(5);
  absl::Duration stop_ack_timeout = absl::Seconds(5);
  RecoveryPolicy recovery;
  int verify_threads = 2;
  size_t coredumps_per_coprocessor = 2;
  // Without a platform (a backend that cannot drive transitions yet): the
  // states observed some other way, by device-tree node path.
  std::map<std::string, State> observed_states;
};

class LifecycleEngine {
 public:
  // Manages the enabled coprocessors of `board` on `platform` (both outlive
  // the engine). With a null platform (no backend yet) transitions answer
  // UNIMPLEMENTED.
  LifecycleEngine(platform::Platform* platform, const devicetree::Board& board,
                  const FirmwareStore* firmware, History* history,
                  EngineOptions options = {});
  ~LifecycleEngine();
  LifecycleEngine(const LifecycleEngine&) = delete;
  LifecycleEngine& operator=(const LifecycleEngine&) = delete;

  // After pild (re)starts: a coprocessor the hardware runs is adopted as
  // RUNNING (with what it holds); anything a previous pild left half-done
  // (held metadata, OS mappings of its stream, bridges over its memory, a
  // peripheral out of reset without a running core) is released, leaving it
  // OFFLINE. Returns what it did, one line per action.
  absl::StatusOr<std::vector<std::string>> Adopt();

  // Every managed coprocessor, in device-tree order. With `observe`, the
  // hardware view is read from the platform (else pild's own record).
  std::vector<CoprocessorStatus> List(bool observe = false) const;
  // NOT_FOUND (UNKNOWN_COPROCESSOR) naming the known ones.
  absl::StatusOr<CoprocessorStatus> Get(absl::string_view name,
                                        bool observe = false) const;

  absl::StatusOr<TransitionResult> Authenticate(absl::string_view name,
                                                const FirmwareSource& source,
                                                const CallContext& ctx);
  absl::StatusOr<TransitionResult> Map(absl::string_view name,
                                       const CallContext& ctx);
  // `ready_timeout` zero: the default.
  absl::StatusOr<TransitionResult> Reset(absl::string_view name,
                                         absl::Duration ready_timeout,
                                         const CallContext& ctx);
  absl::StatusOr<TransitionResult> Start(absl::string_view name,
                                         const FirmwareSource& source,
                                         absl::Duration ready_timeout,
                                         const CallContext& ctx);
  absl::StatusOr<TransitionResult> Stop(absl::string_view name,
                                        absl::Duration stop_ack_timeout,
                                        const CallContext& ctx);

  // Calls `listener` (under the engine's lock: it must be quick and must not
  // call the engine) for every state change from now on; `initial` receives
  // the current state of every coprocessor, atomically with subscribing.
  using Listener = std::function<void(const StateEvent&)>;
  uint64_t Subscribe(Listener listener, std::vector<StateEvent>* initial);
  void Unsubscribe(uint64_t id);

  // A captured coredump; the latest when `crash_id` is 0.
  absl::StatusOr<Coredump> GetCoredump(absl::string_view name,
                                       uint64_t crash_id) const;

  History& history() { return *history_; }

 private:
  struct Slot;
  struct Hold;
  class Transaction;
  struct RequestRecord;
  using Body = std::function<absl::Status(Slot&, Transaction&)>;

  Slot* Find(absl::string_view name) const;
  absl::Status UnknownCoprocessor(absl::string_view name) const;
  absl::StatusOr<TransitionResult> Run(absl::string_view name,
                                       const std::string& operation,
                                       const CallContext& ctx,
                                       std::vector<State> from, Body body);
  // With `observed`, the hardware view is what the platform reports for
  // the coprocessor's PAS ids, carveouts and stream; else pild's record.
  CoprocessorStatus Snapshot(const Slot& slot,
                             const platform::HardwareState* observed) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void SetState(Slot& slot, State state, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Transition steps; each returns the failure and leaves `slot` as the
  // hardware then is (Teardown releases it).
  absl::Status DoAuthenticate(Slot& slot, const FirmwareSource& source,
                              Transaction& tx);
  absl::Status DoMap(Slot& slot, Transaction& tx);
  absl::Status DoReset(Slot& slot, absl::Duration ready_timeout,
                       Transaction& tx);
  absl::Status DoStop(Slot& slot, absl::Duration stop_ack_timeout,
                      Transaction& tx);
  // Releases everything `slot` holds (best effort, every step tried).
  void Teardown(Slot& slot, Transaction& tx);

  void OnSignal(const platform::Signal& signal);
  // A crash of a RUNNING coprocessor no transition holds: CRASHED, then a
  // coredump and the recovery policy on a thread of their own.
  void HandleCrash(Slot& slot, const platform::Signal& signal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a transition's hold on `slot` and handles the crashes that came
  // while it ran.
  void Release(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits until a signal is queued for `slot`, `until` passes, or a short
  // poll interval ends (callers re-check cancellation and shutdown).
  void AwaitSignal(Slot& slot, absl::Time until)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recover(Slot* slot);

  platform::Platform* platform_;
  const FirmwareStore* firmware_;
  History* history_;
  EngineOptions options_;

  // No hypervisor: the OS bridges and maps. Assumed when any coprocessor
  // names a firmware stream; Adopt() asks the platform.
  bool os_owns_iommu_ = false;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  uint64_t next_listener_ ABSL_GUARDED_BY(mu_) = 1;
  std::list<std::shared_ptr<RequestRecord>> requests_ ABSL_GUARDED_BY(mu_);
  uint64_t next_crash_ ABSL_GUARDED_BY(mu_) = 1;
  // Set once the engine is being destroyed: waits end, recoveries give up.
  std::atomic<bool> stopping_{false};
  struct Recovery {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Recovery> recoveries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_ENGINE_H_
