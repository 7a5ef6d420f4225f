// LifecycleEngine: the transitions. Run() is the frame every transition
// shares (request-id replay, one transition per coprocessor, the allowed
// states, rollback on failure, history); the bodies call the backend's
// operations.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "server/engine_internal.h"

namespace pil::server {
namespace {

// Waits on the engine's lock until `slot` is free or the caller gives up,
// waking now and then to notice cancellation.
struct NotBusyOrGaveUp {
  const bool* busy;
  const CallContext* ctx;
  bool operator()() const {
    return !*busy || (ctx->cancelled && ctx->cancelled());
  }
};

// A request's firmware, as a repeated request id is matched on it.
std::string Describe(const FirmwareSource& source) {
  return source.kind == FirmwareSource::Kind::kDefault
             ? "the device tree's firmware"
             : source.Describe();
}

// A requested timeout (0: the default).
std::string Seconds(absl::Duration timeout) {
  return timeout > absl::ZeroDuration() ? absl::FormatDuration(timeout)
                                        : "default";
}

}  // namespace

absl::Duration LifecycleEngine::ReadyTimeout(absl::Duration requested) const {
  return requested > absl::ZeroDuration() ? requested : options_.ready_timeout;
}

void LifecycleEngine::Record(const Slot& slot, const std::string& operation,
                             const CallContext& ctx, absl::Time start,
                             State from, const absl::Status& status,
                             Outcome outcome) {
  HistoryEntry entry;
  entry.time = start;
  entry.coprocessor = slot.node.name;
  entry.operation = operation;
  entry.request_id = ctx.request_id;
  entry.caller = ctx.caller;
  if (slot.image) entry.image_sha256 = slot.image->sha256;
  entry.from = from;
  entry.to = slot.state;
  entry.result = status.ok() ? "OK" : ReasonOf(status);
  entry.message = std::string(status.message());
  entry.duration = absl::Now() - start;
  entry.refused = outcome == Outcome::kRefused;
  Audit(std::move(entry), outcome == Outcome::kRan);
}

void LifecycleEngine::Audit(HistoryEntry entry, bool ran) {
  if (options_.on_transition) options_.on_transition(entry, ran);
  unwritten_.push_back(std::move(entry));
}

void LifecycleEngine::FlushAudit() {
  absl::MutexLock order(&audit_mu_);
  std::vector<HistoryEntry> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.swap(unwritten_);
  }
  for (HistoryEntry& entry : entries) history_->Add(std::move(entry));
}

std::optional<absl::StatusOr<TransitionResult>> LifecycleEngine::Replay(
    const std::string& request, const CallContext& ctx,
    std::shared_ptr<RequestLog::Record>* record) {
  if (ctx.request_id.empty()) return std::nullopt;
  absl::MutexLock lock(&mu_);
  std::shared_ptr<RequestLog::Record> seen = requests_.Find(ctx.request_id);
  if (seen == nullptr) {
    *record = requests_.Begin(ctx.request_id, request);
    return std::nullopt;
  }
  if (seen->request != request) {
    return Error(absl::StatusCode::kInvalidArgument, "REQUEST_ID_REUSED",
                 absl::StrCat("request id ", ctx.request_id, " was used for ",
                              seen->request, "; this request is ", request),
                 {{"request_id", ctx.request_id}});
  }
  mu_.AwaitWithDeadline(absl::Condition(&seen->done), ctx.deadline);
  if (!seen->done) {
    return Error(
        absl::StatusCode::kDeadlineExceeded, "BUSY",
        absl::StrCat("request ", ctx.request_id, " is still in progress"));
  }
  if (!seen->result.ok()) return seen->result.status();
  TransitionResult replay = *seen->result;
  replay.replayed = true;
  return replay;
}

absl::Status LifecycleEngine::Drivable(const Slot& slot) const {
  if (slot.node.boot == devicetree::BootMethod::kQdsp6Registers) {
    // Listed for what it is; its loading is not modelled (the problems
    // say what is missing).
    return Error(absl::StatusCode::kUnimplemented, "NOT_SUPPORTED",
                 absl::StrCat(slot.node.name, " cannot boot: ",
                              absl::StrJoin(slot.node.problems, "; ")),
                 {{"coprocessor", slot.node.name}});
  }
  const bool needs_pas_id = slot.node.boot == devicetree::BootMethod::kPas;
  if (!slot.node.problems.empty() || (needs_pas_id && !slot.node.pas_id) ||
      slot.node.carveouts.empty()) {
    return Error(
        absl::StatusCode::kFailedPrecondition, "DEVICE_TREE_INVALID",
        absl::StrCat(slot.node.name,
                     " cannot boot: its device-tree node has problems: ",
                     absl::StrJoin(slot.node.problems, "; ")),
        {{"coprocessor", slot.node.name}});
  }
  if (slot.ops == nullptr) return slot.unsupported;
  return absl::OkStatus();
}

absl::Status WrongState(absl::string_view operation, absl::string_view name,
                        State state, const std::vector<State>& from) {
  std::vector<std::string> expected;
  for (State s : from) expected.push_back(StateName(s));
  return Error(absl::StatusCode::kFailedPrecondition, "WRONG_STATE",
               absl::StrCat(operation, " ", name, ": it is ", StateName(state),
                            "; expected ", absl::StrJoin(expected, " or ")),
               {{"coprocessor", std::string(name)},
                {"state", StateName(state)},
                {"expected", absl::StrJoin(expected, ",")}});
}

absl::Status LifecycleEngine::Admit(Slot& slot, const std::string& operation,
                                    const CallContext& ctx,
                                    const std::vector<State>& from,
                                    State* from_state,
                                    std::optional<TransitionResult>* nothing) {
  const std::string& name = slot.node.name;
  if (absl::Status s = Drivable(slot); !s.ok()) return s;
  const bool step_verb =
      operation == "authenticate" || operation == "map" || operation == "reset";
  absl::MutexLock lock(&mu_);
  // A Stop ends a recovery in progress rather than waiting for it.
  if (operation == "stop" && slot.state == State::kRecovering) {
    slot.abandon_recovery = true;
  }
  NotBusyOrGaveUp ready{&slot.busy, &ctx};
  while (slot.busy && !(ctx.cancelled && ctx.cancelled()) &&
         absl::Now() < ctx.deadline) {
    mu_.AwaitWithDeadline(
        absl::Condition(&ready),
        std::min(ctx.deadline, absl::Now() + absl::Milliseconds(50)));
  }
  *from_state = slot.state;
  absl::Status refused;
  if (step_verb && !slot.ops->capabilities().separate_steps) {
    refused = platform::StepNotSupported(slot.ops->capabilities(), operation);
  } else if (slot.busy && ctx.cancelled && ctx.cancelled()) {
    refused = Error(absl::StatusCode::kCancelled, "CANCELLED",
                    absl::StrCat("the caller cancelled while another "
                                 "transition of ",
                                 name, " was in progress"),
                    {{"coprocessor", name}});
  } else if (slot.busy) {
    refused =
        Error(absl::StatusCode::kDeadlineExceeded, "BUSY",
              absl::StrCat("another transition of ", name,
                           " is in progress (state ", StateName(slot.state),
                           ") and did not end before the deadline"),
              {{"coprocessor", name}});
  } else if (operation == "stop" && slot.state == State::kOffline) {
    // Nothing to stop: answered at once, without taking the slot, and
    // recorded under the same lock (a Start may begin right after). It
    // says the coprocessor is off on purpose: the last error goes, as it
    // does when a Stop from any other state succeeds.
    slot.last_error.reset();
    nothing->emplace();
    (*nothing)->note = absl::StrCat(name, " is already offline: nothing to do");
    (*nothing)->status = Snapshot(slot, nullptr);
    Record(slot, operation, ctx, absl::Now(), *from_state, absl::OkStatus(),
           Outcome::kNothingToDo);
    return absl::OkStatus();
  } else if (std::find(from.begin(), from.end(), slot.state) == from.end()) {
    refused = WrongState(operation, name, slot.state, from);
  } else {
    slot.busy = true;
    if (operation == "start" || operation == "stop") slot.restarts = 0;
    return absl::OkStatus();
  }
  // Refused attempts are recorded too: who tried what, and why not.
  Record(slot, operation, ctx, absl::Now(), *from_state, refused,
         Outcome::kRefused);
  return refused;
}

absl::StatusOr<TransitionResult> LifecycleEngine::Run(
    absl::string_view name, const std::string& operation,
    const std::string& arguments, const CallContext& ctx,
    std::vector<State> from, Body body) {
  const std::string request =
      absl::StrCat(operation, " ", name,
                   arguments.empty() ? "" : absl::StrCat(" (", arguments, ")"));
  std::shared_ptr<RequestLog::Record> record;
  if (auto replayed = Replay(request, ctx, &record)) return *replayed;
  bool ran = false;  // the transition was admitted and its steps ran
  auto finish = [&](absl::StatusOr<TransitionResult> result) {
    FlushAudit();
    if (result.ok()) result->request_id = ctx.request_id;
    if (record != nullptr) {
      absl::MutexLock lock(&mu_);
      record->result = result;
      record->done = true;
      // A retry with the same id runs again when nothing ran (refused) or
      // what ran was undone because the caller or pild gave up.
      const std::string reason = result.ok() ? "" : ReasonOf(result.status());
      if (!result.ok() &&
          (!ran || reason == "CANCELLED" || reason == "DEADLINE_EXCEEDED" ||
           reason == "SHUTTING_DOWN")) {
        requests_.Forget(record);
      }
    }
    return result;
  };
  Slot* slot = Find(name);
  if (slot == nullptr) return finish(UnknownCoprocessor(name));
  State from_state = State::kOffline;
  std::optional<TransitionResult> nothing;
  if (absl::Status s =
          Admit(*slot, operation, ctx, from, &from_state, &nothing);
      !s.ok()) {
    return finish(s);
  }
  if (nothing.has_value()) return finish(*std::move(nothing));

  ran = true;
  const absl::Time start = absl::Now();
  // Before the first hardware step: a restart finishes or undoes it.
  JournalBegin(*slot, operation);
  Transaction tx(this, slot, ctx);
  absl::Status status = body(*slot, tx);
  if (!status.ok()) {
    slot->ops->Rollback(tx);
    PILD_LOG(WARNING) << operation << " " << name
                      << " failed: " << status.message();
  }
  // What the hardware holds afterwards, as the backend reports it.
  absl::StatusOr<platform::HardwareView> observed = slot->ops->Observe();
  absl::StatusOr<TransitionResult> result = absl::UnknownError("");
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      slot->last_error =
          ErrorRecord{ReasonOf(status), std::string(status.message()),
                      operation, absl::Now()};
      if (slot->ops->Stuck()) {
        // The rollback could not give everything back: the core may still
        // run. CRASHED keeps anything from booting over it until a Stop.
        slot->last_error->message +=
            "; the rollback is incomplete (see the hardware view): stop it";
        SetState(*slot, State::kCrashed, operation,
                 absl::StrCat(operation, " failed; rollback incomplete"));
      } else {
        slot->image.reset();
        SetState(*slot, State::kOffline, operation,
                 absl::StrCat(operation, " failed: ", ReasonOf(status)));
      }
      result = status;
    } else {
      slot->last_error.reset();
      TransitionResult ok;
      ok.status = Snapshot(*slot, observed.ok() ? &*observed : nullptr);
      ok.steps = std::move(tx.steps());
      ok.note = tx.note();
      result = std::move(ok);
    }
    Record(*slot, operation, ctx, start, from_state, status);
    JournalEnd(*slot);
    Release(*slot);
  }
  return finish(std::move(result));
}

absl::StatusOr<FirmwareSource> SourceFor(
    const devicetree::CoprocessorNode& node, const FirmwareSource& requested) {
  if (requested.kind != FirmwareSource::Kind::kDefault) return requested;
  if (node.firmware_names.empty()) {
    return Error(absl::StatusCode::kFailedPrecondition, "FIRMWARE_NOT_FOUND",
                 absl::StrCat(node.name, " has no firmware name"));
  }
  return FirmwareSource::Named(node.firmware_names[0]);
}

bool LoadsDtb(const devicetree::CoprocessorNode& node) {
  return node.dtb_pas_id && node.firmware_names.size() >= 2 &&
         node.carveouts.size() >= 2;
}

std::string LoadDetail(const FirmwareSource& from,
                       const image::FirmwareImage& image) {
  return absl::StrCat(from.Describe(), ": ", image.file_size(), " bytes",
                      image.split() ? " (split)" : "", ", ",
                      image.segments().size(), " program headers");
}

absl::Status LifecycleEngine::LoadImages(Slot& slot,
                                         const FirmwareSource& requested,
                                         Transaction& tx) {
  const devicetree::CoprocessorNode& node = slot.node;
  auto resolved = SourceFor(node, requested);
  if (!resolved.ok()) return resolved.status();
  const FirmwareSource& source = *resolved;
  auto load = [&](const FirmwareSource& from, const std::string& step,
                  std::optional<image::FirmwareImage>* out) {
    return tx.Step(step, [&](std::string* d) {
      auto image = firmware_->Load(from);
      if (!image.ok()) return image.status();
      *d = LoadDetail(from, *image);
      out->emplace(std::move(*image));
      return absl::OkStatus();
    });
  };
  if (absl::Status s = load(source, "load", &tx.main_image); !s.ok()) return s;
  if (LoadsDtb(node)) {
    if (absl::Status s = load(FirmwareSource::Named(node.firmware_names[1]),
                              "load_dtb", &tx.dtb_image);
        !s.ok()) {
      return s;
    }
  }
  absl::MutexLock lock(&mu_);
  slot.source = source;
  return absl::OkStatus();
}

absl::Status LifecycleEngine::Boot(Slot& slot, const FirmwareSource& source,
                                   absl::Duration ready_timeout,
                                   const std::string& reason, Transaction& tx) {
  if (absl::Status s = LoadImages(slot, source, tx); !s.ok()) return s;
  platform::CoprocessorOps& ops = *slot.ops;
  const platform::BootImages images = tx.images(slot);
  absl::StatusOr<platform::VerifiedImage> verified;
  if (ops.capabilities().separate_steps) {
    verified = ops.Authenticate(images, tx);
    if (!verified.ok()) return verified.status();
    tx.Keep(slot, *verified);
    tx.Enter(State::kAuthenticated, reason);
    if (absl::Status s = ops.Map(tx); !s.ok()) return s;
    tx.Enter(State::kMapped, reason);
    if (absl::Status s = ops.Reset(ReadyTimeout(ready_timeout), tx); !s.ok()) {
      return s;
    }
  } else {
    verified = ops.Start(images, ReadyTimeout(ready_timeout), tx);
    if (!verified.ok()) return verified.status();
    tx.Keep(slot, *verified);
  }
  tx.Enter(State::kRunning, reason);
  return absl::OkStatus();
}

absl::StatusOr<TransitionResult> LifecycleEngine::Authenticate(
    absl::string_view name, const FirmwareSource& source,
    const CallContext& ctx) {
  return Run(name, "authenticate", Describe(source), ctx, {State::kOffline},
             [&](Slot& slot, Transaction& tx) {
               if (absl::Status s = LoadImages(slot, source, tx); !s.ok()) {
                 return s;
               }
               auto verified = slot.ops->Authenticate(tx.images(slot), tx);
               if (!verified.ok()) return verified.status();
               tx.Keep(slot, *verified);
               tx.Enter(State::kAuthenticated, "authenticate");
               return absl::OkStatus();
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Map(absl::string_view name,
                                                      const CallContext& ctx) {
  return Run(name, "map", "", ctx, {State::kAuthenticated},
             [&](Slot& slot, Transaction& tx) {
               absl::Status s = slot.ops->Map(tx);
               if (s.ok()) tx.Enter(State::kMapped, "map");
               return s;
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Reset(
    absl::string_view name, absl::Duration ready_timeout,
    const CallContext& ctx) {
  return Run(
      name, "reset", absl::StrCat("ready timeout ", Seconds(ready_timeout)),
      ctx, {State::kMapped}, [&](Slot& slot, Transaction& tx) {
        absl::Status s = slot.ops->Reset(ReadyTimeout(ready_timeout), tx);
        if (s.ok()) tx.Enter(State::kRunning, "reset");
        return s;
      });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Start(
    absl::string_view name, const FirmwareSource& source,
    absl::Duration ready_timeout, const CallContext& ctx) {
  return Run(name, "start",
             absl::StrCat(Describe(source), ", ready timeout ",
                          Seconds(ready_timeout)),
             ctx, {State::kOffline}, [&](Slot& slot, Transaction& tx) {
               return Boot(slot, source, ready_timeout, "start", tx);
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Stop(
    absl::string_view name, absl::Duration stop_ack_timeout,
    const CallContext& ctx) {
  // A stop is never abandoned half-way: it ignores the caller's
  // cancellation once begun. From OFFLINE it does nothing; from RECOVERING
  // it ends the recovery first (Admit).
  CallContext patient = ctx;
  patient.cancelled = nullptr;
  return Run(
      name, "stop",
      absl::StrCat("stop-ack timeout ", Seconds(stop_ack_timeout)), patient,
      {State::kRunning, State::kCrashed, State::kAuthenticated, State::kMapped},
      [&](Slot& slot, Transaction& tx) {
        bool running, undumped_crash;
        {
          absl::MutexLock lock(&mu_);
          running = slot.state == State::kRunning;
          undumped_crash = slot.state == State::kCrashed && !slot.crash_dumped;
          if (running) SetState(slot, State::kStopping, "stop");
        }
        absl::Status s = slot.ops->Stop(running,
                                        stop_ack_timeout > absl::ZeroDuration()
                                            ? stop_ack_timeout
                                            : options_.stop_ack_timeout,
                                        tx);
        if (!s.ok()) return s;
        // A crash left for inspection may have its coredump only now.
        absl::StatusOr<std::string> dump =
            undumped_crash ? slot.ops->Coredump(absl::StrCat(
                                 slot.node.name, " crashed and was stopped"))
                           : absl::NotFoundError("");
        {
          absl::MutexLock lock(&mu_);
          slot.image.reset();
          if (dump.ok()) {
            KeepCoredump(slot, std::move(*dump),
                         slot.last_error ? slot.last_error->reason : "CRASHED");
          }
        }
        tx.Enter(State::kOffline, "stop");
        return absl::OkStatus();
      });
}

}  // namespace pil::server
