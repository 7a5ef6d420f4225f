// LifecycleEngine: the backend's events, crashes, coredumps and recovery.
//
// An event for a coprocessor a transition holds waits in its queue (the
// transition reads it, or Release() handles it when the transition ends).
// Otherwise: a crash of a RUNNING coprocessor makes it CRASHED, and a
// thread of its own captures a coredump and applies the recovery policy
// (restart with backoff, up to max_restarts); a state the backend reports
// on its own (kernel tier: a core started or stopped outside pild) is
// followed.
#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "platform/image/signature.h"
#include "server/engine_internal.h"

namespace pil::server {

void LifecycleEngine::OnEvent(const std::string& node_path,
                              const platform::Event& event) {
  {
    absl::MutexLock lock(&mu_);
    Slot* slot = FindByPath(node_path);
    if (slot == nullptr || stopping_) return;
    if (slot->busy) {
      slot->events.push_back(event);
      return;
    }
    HandleEvent(*slot, event);
  }
  FlushAudit();
}

void LifecycleEngine::Release(Slot& slot) {
  slot.busy = false;
  slot.abandon_recovery = false;
  std::deque<platform::Event> pending;
  pending.swap(slot.events);
  for (const platform::Event& event : pending) {
    // States reported while the transition ran are stale now: the backend
    // reports the current one below.
    if (event.state_report) continue;
    // A crash made the slot busy again (recovery): what follows belongs to
    // the incarnation that crashed.
    if (slot.busy) break;
    HandleEvent(slot, event);
  }
  if (slot.ops != nullptr) slot.ops->ReportState();
}

void LifecycleEngine::HandleEvent(Slot& slot, const platform::Event& event) {
  if (stopping_) return;
  using Kind = platform::Event::Kind;
  if (event.state_report) {
    // The backend's own word on the state: follow it, and record it.
    const State from = slot.state;
    std::string why;
    if (event.kind == Kind::kReady &&
        (from == State::kOffline || from == State::kCrashed)) {
      SetState(slot, State::kRunning, "observed", "reported running");
      why = "the backend reports it running: a change pild did not make";
    } else if (event.kind == Kind::kStopped &&
               (from == State::kRunning || from == State::kCrashed)) {
      slot.image.reset();
      SetState(slot, State::kOffline, "observed", "reported stopped");
      why = "the backend reports it stopped: a change pild did not make";
    }
    if (!why.empty()) {
      JournalEnd(slot);
      HistoryEntry entry;
      entry.time = absl::Now();
      entry.coprocessor = slot.node.name;
      entry.operation = "observed";
      entry.caller.peer = backend_->name();
      entry.from = from;
      entry.to = slot.state;
      entry.result = "OK";
      entry.message = why;
      Audit(std::move(entry));
      return;
    }
  }
  if (event.kind != Kind::kCrash || slot.state != State::kRunning) return;
  ++slot.crash_count;
  slot.crash_dumped = false;
  const absl::Status crash = platform::CrashError(slot.node.name, event);
  slot.last_error = ErrorRecord{ReasonOf(crash), std::string(crash.message()),
                                "crash", absl::Now()};
  SetState(slot, State::kCrashed, "crash", platform::CrashReason(event.crash));
  // The coredump and the recovery take a while: not on the backend's
  // delivery thread. The slot stays held until they are done.
  slot.busy = true;
  for (auto it = recoveries_.begin(); it != recoveries_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = recoveries_.erase(it);
    } else {
      ++it;
    }
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  recoveries_.push_back({std::thread([this, target = &slot, done] {
                           Recover(target);
                           done->store(true);
                         }),
                         done});
}

void LifecycleEngine::KeepCoredump(Slot& slot, std::string bytes,
                                   const std::string& reason) {
  Coredump dump;
  dump.crash_id = next_crash_++;
  dump.coprocessor = slot.node.name;
  dump.reason = reason;
  dump.time = absl::Now();
  dump.sha256 = absl::BytesToHexString(
      image::Digest(image::HashAlgorithm::kSha256, bytes));
  dump.bytes = std::make_shared<const std::string>(std::move(bytes));
  slot.coredumps.push_back(std::move(dump));
  slot.crash_dumped = true;
  while (slot.coredumps.size() > options_.coredumps_per_coprocessor) {
    slot.coredumps.pop_front();
  }
}

bool LifecycleEngine::RecordCrash(Slot& slot, absl::StatusOr<std::string> dump,
                                  const std::string& reason) {
  if (dump.ok()) KeepCoredump(slot, std::move(*dump), reason);
  HistoryEntry entry;
  entry.time = absl::Now();
  entry.coprocessor = slot.node.name;
  entry.operation = "crash";
  entry.from = State::kRunning;
  entry.to = State::kCrashed;
  entry.result = reason;
  entry.message = slot.last_error ? slot.last_error->message : "";
  if (slot.image) entry.image_sha256 = slot.image->sha256;
  Audit(std::move(entry));
  const RecoveryPolicy policy = slot.recovery;
  if (!policy.restart || slot.restarts >= policy.max_restarts || stopping_) {
    Release(slot);
    return false;
  }
  ++slot.restarts;
  SetState(
      slot, State::kRecovering, "recover",
      absl::StrCat("restart ", slot.restarts, " of ", policy.max_restarts));
  return true;
}

void LifecycleEngine::Recover(Slot* slot) {
  const std::string name = slot->node.name;
  platform::CoprocessorOps& ops = *slot->ops;
  std::string reason;
  {
    absl::MutexLock lock(&mu_);
    reason = slot->last_error ? slot->last_error->reason : "CRASHED";
  }
  const std::string note = absl::StrCat(name, " crashed: ", reason);
  // The coredump comes first, before anything reloads the memory.
  absl::StatusOr<std::string> dump = ops.Coredump(note);
  const bool dumped = dump.ok();
  {
    absl::ReleasableMutexLock lock(&mu_);
    const bool restart = RecordCrash(*slot, std::move(dump), reason);
    if (!restart) {
      lock.Release();
      FlushAudit();
      return;
    }
  }
  FlushAudit();
  // Backoff doubles with every restart (up to 2^10 times the first);
  // interrupted when pild stops.
  {
    absl::MutexLock lock(&mu_);
    const absl::Duration backoff =
        slot->recovery.initial_backoff *
        (int64_t{1} << std::min<uint32_t>(slot->restarts - 1, 10));
    struct GiveUp {
      const std::atomic<bool>* stopping;
      const std::atomic<bool>* abandon;
      bool operator()() const { return *stopping || *abandon; }
    } give_up{&stopping_, &slot->abandon_recovery};
    mu_.AwaitWithTimeout(absl::Condition(&give_up), backoff);
    if (stopping_) {
      Release(*slot);
      return;
    }
    if (slot->abandon_recovery) {
      // A Stop takes it from here.
      SetState(*slot, State::kCrashed, "stop", "recovery abandoned for a Stop");
      JournalEnd(*slot);
      Release(*slot);
      return;
    }
  }
  CallContext ctx;
  ctx.caller.peer = "recovery";
  JournalBegin(*slot, "recover");
  Transaction tx(this, slot, ctx);
  const absl::Time start = absl::Now();
  FirmwareSource source;
  {
    absl::MutexLock lock(&mu_);
    source = slot->source;
  }
  absl::Status status =
      source.kind == FirmwareSource::Kind::kDefault
          // Adopted without a record of its image: booting the device
          // tree's default might boot something else than what ran.
          ? Error(absl::StatusCode::kFailedPrecondition,
                  "RECOVERY_SOURCE_UNKNOWN",
                  absl::StrCat(name,
                               " was running when pild started and no "
                               "journal says which image it ran: not "
                               "restarted; stop it and start the image "
                               "you want"),
                  {{"coprocessor", name}})
          : LoadImages(*slot, source, tx);
  if (status.ok()) {
    status =
        ops.Restart(tx.images(*slot), ReadyTimeout(absl::ZeroDuration()), tx);
  }
  if (!status.ok()) {
    ops.Rollback(tx);
    PILD_LOG(WARNING) << "recovering " << name
                      << " failed: " << status.message();
  }
  // A backend that writes its coredump while it restarts has it now.
  absl::StatusOr<std::string> late_dump =
      dumped ? absl::NotFoundError("") : ops.Coredump(note);
  absl::ReleasableMutexLock lock(&mu_);
  if (late_dump.ok()) KeepCoredump(*slot, std::move(*late_dump), reason);
  if (status.ok()) {
    SetState(*slot, State::kRunning, "recover");
  } else {
    slot->last_error =
        ErrorRecord{ReasonOf(status), std::string(status.message()), "recover",
                    absl::Now()};
    SetState(*slot, State::kCrashed, "recover",
             absl::StrCat("recovery failed: ", ReasonOf(status)));
  }
  Record(*slot, "recover", ctx, start, State::kRecovering, status);
  JournalEnd(*slot);
  Release(*slot);
  lock.Release();
  FlushAudit();
}

}  // namespace pil::server
