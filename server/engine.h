// The lifecycle engine: every coprocessor pild manages, its state machine,
// and the transitions it drives through a backend's operations table
// (platform/backend.h). It cannot tell which backend it drives.
//
//   LifecycleEngine engine(&backend, board, &firmware, &history, {});
//   auto started = engine.Start("video", FirmwareSource(), 0s, ctx);
//
// States: OFFLINE -> AUTHENTICATED -> MAPPED -> RUNNING, plus STOPPING,
// CRASHED, RECOVERING. Every failing transition rolls back to OFFLINE and
// leaves no metadata, bridge or mapping behind. One transition at a time per
// coprocessor: later callers wait (until their deadline) and then see the
// state it left; different coprocessors proceed in parallel. A request id
// seen before with the same request returns the first call's outcome, when
// that transition ran and was not undone for a caller that gave up (the
// last RequestLog::kCapacity ids). Thread-safe.
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
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "server/engine_types.h"
#include "server/firmware_store.h"
#include "server/history.h"
#include "server/journal.h"
#include "server/request_log.h"
#include "server/state.h"

namespace pil::server {

struct EngineOptions {
  absl::Duration ready_timeout = absl::Seconds(5);
  absl::Duration stop_ack_timeout = absl::Seconds(5);
  RecoveryPolicy recovery;
  size_t coredumps_per_coprocessor = 2;
  // Threads verifying one image in a dry run (the backends have their own).
  int verify_threads = 2;
  // Where transitions in flight are journaled, for Adopt after a restart
  // (outlives the engine); none: a restart finds no record of them.
  Journal* journal = nullptr;
  // Called with every record the engine queues for the audit trail: the
  // transitions asked for (refused ones too), recoveries, crashes and
  // changes it adopted or observed; under the engine's lock: it must be
  // quick and must not call the engine (metrics). `ran`: steps ran, and
  // the record's duration is how long they took (not for a refusal, a Stop
  // with nothing to stop, a crash or an observed change).
  std::function<void(const HistoryEntry& entry, bool ran)> on_transition;
};

class LifecycleEngine {
 public:
  // Manages the enabled coprocessors of `board` through `backend` (both
  // outlive the engine). A coprocessor the backend cannot drive is listed,
  // and its transitions answer UNIMPLEMENTED (NOT_SUPPORTED).
  LifecycleEngine(platform::Backend* backend, const devicetree::Board& board,
                  const FirmwareStore* firmware, History* history,
                  EngineOptions options = {});
  // From now on transitions in progress are interrupted (rolled back,
  // SHUTTING_DOWN), new ones refused and recovery waits end. Idempotent.
  void BeginShutdown();
  ~LifecycleEngine();
  LifecycleEngine(const LifecycleEngine&) = delete;
  LifecycleEngine& operator=(const LifecycleEngine&) = delete;

  // After pild (re)starts: a coprocessor the hardware runs is adopted as
  // RUNNING (or CRASHED) with the image the journal says it runs; the
  // transition a previous pild had in flight is finished (a stop; a boot
  // whose core was released from reset) or undone (OFFLINE, last error
  // INTERRUPTED), as recorded in the audit trail. Returns what it did, one
  // line per action.
  absl::StatusOr<std::vector<std::string>> Adopt();

  // Every managed coprocessor, in device-tree order. With `observe`, the
  // hardware view is read from the backend (else pild's own record).
  std::vector<CoprocessorStatus> List(bool observe = false) const;
  // NOT_FOUND (UNKNOWN_COPROCESSOR) naming the known ones.
  absl::StatusOr<CoprocessorStatus> Get(absl::string_view name,
                                        bool observe = false) const;

  // The step verbs: only where the backend drives them apart
  // (FAILED_PRECONDITION STEP_NOT_SUPPORTED otherwise).
  absl::StatusOr<TransitionResult> Authenticate(absl::string_view name,
                                                const FirmwareSource& source,
                                                const CallContext& ctx);
  absl::StatusOr<TransitionResult> Map(absl::string_view name,
                                       const CallContext& ctx);
  // `ready_timeout` zero: the default.
  absl::StatusOr<TransitionResult> Reset(absl::string_view name,
                                         absl::Duration ready_timeout,
                                         const CallContext& ctx);
  // Every check a Start makes short of the secure world, without taking the
  // coprocessor, touching the hardware or recording anything: it is
  // bootable and drivable, OFFLINE and not busy, and the image (and DTB
  // image) loads, fits its carveout, its hash table matches and its
  // signatures verify. The result is the coprocessor as it is, with the
  // checks as steps; the error a Start would fail with otherwise.
  absl::StatusOr<TransitionResult> DryRunStart(absl::string_view name,
                                               const FirmwareSource& source);
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
  // INVALID_ARGUMENT BAD_RECOVERY_POLICY past the bounds pild's flags have
  // (at most 100 restarts, a backoff in (0, 1h]).
  static absl::Status CheckRecoveryPolicy(const RecoveryPolicy& policy);
  // Changes how `name` reacts to its next crashes (until pild restarts);
  // CheckRecoveryPolicy's error for a policy out of bounds.
  absl::StatusOr<CoprocessorStatus> SetRecoveryPolicy(
      absl::string_view name, const RecoveryPolicy& policy);
  // The coredumps held for `name`, newest first.
  absl::StatusOr<std::vector<Coredump>> ListCoredumps(
      absl::string_view name) const;
  absl::StatusOr<Coredump> GetCoredump(absl::string_view name,
                                       uint64_t crash_id) const;

  History& history() { return *history_; }

 private:
  struct Slot;
  class Transaction;
  using Body = std::function<absl::Status(Slot&, Transaction&)>;

  Slot* Find(absl::string_view name) const;
  Slot* FindByPath(absl::string_view path) const;
  absl::Status UnknownCoprocessor(absl::string_view name) const;

  // engine_transitions.cc: one transition of `name` from one of `from`;
  // `arguments` are the request's other fields, as a repeated request id
  // is matched on them.
  absl::StatusOr<TransitionResult> Run(absl::string_view name,
                                       const std::string& operation,
                                       const std::string& arguments,
                                       const CallContext& ctx,
                                       std::vector<State> from, Body body);
  // The first call's outcome when `ctx`'s request id was seen with the same
  // `request` (REQUEST_ID_REUSED with another), else a new pending `record`
  // for it (none without an id).
  std::optional<absl::StatusOr<TransitionResult>> Replay(
      const std::string& request, const CallContext& ctx,
      std::shared_ptr<RequestLog::Record>* record);
  // DEVICE_TREE_INVALID, or the backend's NOT_SUPPORTED, when `slot`
  // cannot be booted at all.
  absl::Status Drivable(const Slot& slot) const;
  // Takes `slot` for `operation` once no other transition holds it, or says
  // (and records) why not. A stop of an OFFLINE coprocessor is admitted
  // without taking the slot, answered and recorded in `*nothing`.
  absl::Status Admit(Slot& slot, const std::string& operation,
                     const CallContext& ctx, const std::vector<State>& from,
                     State* from_state,
                     std::optional<TransitionResult>* nothing);
  // Reads the images a boot of `slot` from `source` needs.
  absl::Status LoadImages(Slot& slot, const FirmwareSource& source,
                          Transaction& tx);
  // The three steps (or the backend's one) from OFFLINE to RUNNING.
  absl::Status Boot(Slot& slot, const FirmwareSource& source,
                    absl::Duration ready_timeout, const std::string& reason,
                    Transaction& tx);
  absl::Duration ReadyTimeout(absl::Duration requested) const;

  // The journal (when there is one): `slot` begins `operation`; nothing of
  // it is in flight any more (what it runs, from its state and image).
  void JournalBegin(const Slot& slot, const std::string& operation);
  void JournalEnd(const Slot& slot) ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // engine.cc
  CoprocessorStatus Snapshot(const Slot& slot,
                             const platform::HardwareView* observed) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // `operation`: the internal operation name (start, stop, crash, ...);
  // `reason`: a description where the operation alone does not say it.
  void SetState(Slot& slot, State state, std::string operation,
                std::string reason = "") ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // engine_crashes.cc
  void OnEvent(const std::string& node_path, const platform::Event& event);
  // An event no transition is waiting for: a crash of a RUNNING
  // coprocessor (CRASHED, then a coredump and the recovery policy on a
  // thread of their own), or a state the backend reports on its own.
  void HandleEvent(Slot& slot, const platform::Event& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a transition's hold on `slot` and handles the events that came
  // while it ran.
  void Release(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recover(Slot* slot);
  // Keeps `dump` (when there is one) and records the crash; applies the
  // recovery policy: true when a restart is due (RECOVERING), false when
  // the slot stays CRASHED (and is released).
  bool RecordCrash(Slot& slot, absl::StatusOr<std::string> dump,
                   const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeepCoredump(Slot& slot, std::string bytes, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What became of a call that is recorded.
  enum class Outcome {
    kRan,         // its steps ran (whatever their result)
    kRefused,     // turned away before anything was done
    kNothingToDo  // answered OK without a step (a Stop of an OFFLINE one)
  };
  // Queues `slot`'s record of `operation` for the audit trail.
  void Record(const Slot& slot, const std::string& operation,
              const CallContext& ctx, absl::Time start, State from,
              const absl::Status& status, Outcome outcome = Outcome::kRan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `entry` and shows it to on_transition (`ran` as there).
  void Audit(HistoryEntry entry, bool ran = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes every queued record (outside the engine's lock: a write waits
  // for the disk). A call's record is written before the call returns.
  void FlushAudit() ABSL_LOCKS_EXCLUDED(mu_, audit_mu_);

  platform::Backend* backend_;
  const FirmwareStore* firmware_;
  History* history_;
  EngineOptions options_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  uint64_t next_listener_ ABSL_GUARDED_BY(mu_) = 1;
  RequestLog requests_ ABSL_GUARDED_BY(mu_);
  uint64_t next_crash_ ABSL_GUARDED_BY(mu_) = 1;
  // Set once the engine is being destroyed: waits end, recoveries give up.
  std::atomic<bool> stopping_{false};
  struct Recovery {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Recovery> recoveries_ ABSL_GUARDED_BY(mu_);
  // Records not yet written; audit_mu_ keeps writes in order (taken before
  // mu_, never inside it).
  std::vector<HistoryEntry> unwritten_ ABSL_GUARDED_BY(mu_);
  absl::Mutex audit_mu_ ABSL_ACQUIRED_BEFORE(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_ENGINE_H_
