// LifecycleEngine: the slots, their snapshots and the state feed.
#include "server/engine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "server/engine_internal.h"

namespace pil::server {

LifecycleEngine::LifecycleEngine(platform::Backend* backend,
                                 const devicetree::Board& board,
                                 const FirmwareStore* firmware,
                                 History* history, EngineOptions options)
    : backend_(backend),
      firmware_(firmware),
      history_(history),
      options_(std::move(options)) {
  const absl::Time now = absl::Now();
  for (const devicetree::CoprocessorNode& node : board.coprocessors) {
    if (!node.enabled()) continue;
    auto slot = std::make_unique<Slot>();
    slot->node = node;
    slot->recovery = options_.recovery;
    auto ops = backend_->Ops(node);
    if (ops.ok()) {
      slot->ops = *ops;
    } else {
      slot->unsupported = ops.status();
    }
    slot->since = now;
    slots_.push_back(std::move(slot));
  }
  backend_->Subscribe(
      [this](const std::string& path, const platform::Event& event) {
        OnEvent(path, event);
      });
}

void LifecycleEngine::BeginShutdown() {
  absl::MutexLock lock(&mu_);  // waiters re-check when it is released
  stopping_ = true;
}

LifecycleEngine::~LifecycleEngine() {
  std::vector<Recovery> recoveries;
  {
    absl::MutexLock lock(&mu_);  // waiters re-check when it is released
    stopping_ = true;
    recoveries.swap(recoveries_);
  }
  for (Recovery& r : recoveries) r.thread.join();
  backend_->Subscribe(nullptr);
  FlushAudit();
}

LifecycleEngine::Slot* LifecycleEngine::Find(absl::string_view name) const {
  for (const auto& slot : slots_) {
    if (slot->node.name == name) return slot.get();
  }
  return nullptr;
}

LifecycleEngine::Slot* LifecycleEngine::FindByPath(
    absl::string_view path) const {
  for (const auto& slot : slots_) {
    if (slot->node.path == path) return slot.get();
  }
  return nullptr;
}

absl::Status LifecycleEngine::UnknownCoprocessor(absl::string_view name) const {
  std::vector<std::string> names;
  for (const auto& slot : slots_) names.push_back(slot->node.name);
  return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
               absl::StrCat("no coprocessor named '", name,
                            "'; known: ", absl::StrJoin(names, ", ")),
               {{"coprocessor", std::string(name)}});
}

void LifecycleEngine::SetState(Slot& slot, State state, std::string operation,
                               std::string reason) {
  const State previous = slot.state;
  slot.state = state;
  slot.since = absl::Now();
  StateEvent event;
  event.sequence = next_sequence_++;
  event.time = slot.since;
  event.previous = previous;
  event.status = Snapshot(slot, nullptr);
  event.operation = std::move(operation);
  event.reason = std::move(reason);
  for (const auto& [id, listener] : listeners_) listener(event);
}

CoprocessorStatus LifecycleEngine::Snapshot(
    const Slot& slot, const platform::HardwareView* observed) const {
  CoprocessorStatus out;
  out.node = &slot.node;
  out.state = slot.state;
  out.state_since = slot.since;
  out.crash_count = slot.crash_count;
  out.last_error = slot.last_error;
  out.image = slot.image;
  out.recovery = slot.recovery;
  out.backend = backend_->name();
  out.drivable = slot.ops != nullptr;
  out.unsupported = std::string(slot.unsupported.message());
  if (slot.ops != nullptr) {
    out.capabilities = slot.ops->capabilities();
    out.hardware = observed != nullptr ? *observed : slot.ops->Held();
  }
  return out;
}

std::vector<CoprocessorStatus> LifecycleEngine::List(bool observe) const {
  std::vector<std::optional<platform::HardwareView>> observed(slots_.size());
  if (observe) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i]->ops == nullptr) continue;
      auto view = slots_[i]->ops->Observe();
      if (view.ok()) observed[i] = std::move(*view);
    }
  }
  absl::ReaderMutexLock lock(&mu_);
  std::vector<CoprocessorStatus> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    out.push_back(Snapshot(*slots_[i], observed[i] ? &*observed[i] : nullptr));
  }
  return out;
}

absl::StatusOr<CoprocessorStatus> LifecycleEngine::Get(absl::string_view name,
                                                       bool observe) const {
  const Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  std::optional<platform::HardwareView> observed;
  if (observe && slot->ops != nullptr) {
    auto view = slot->ops->Observe();
    if (!view.ok()) return view.status();
    observed = std::move(*view);
  }
  absl::ReaderMutexLock lock(&mu_);
  return Snapshot(*slot, observed ? &*observed : nullptr);
}

uint64_t LifecycleEngine::Subscribe(Listener listener,
                                    std::vector<StateEvent>* initial) {
  absl::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    StateEvent event;
    event.sequence = next_sequence_ - 1;  // as of the last change
    event.time = absl::Now();
    event.initial = true;
    event.previous = slot->state;
    event.status = Snapshot(*slot, nullptr);
    initial->push_back(std::move(event));
  }
  const uint64_t id = next_listener_++;
  listeners_[id] = std::move(listener);
  return id;
}

void LifecycleEngine::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(id);
}

absl::Status LifecycleEngine::CheckRecoveryPolicy(
    const RecoveryPolicy& policy) {
  if (policy.max_restarts <= 100 &&
      policy.initial_backoff > absl::ZeroDuration() &&
      policy.initial_backoff <= absl::Hours(1)) {
    return absl::OkStatus();
  }
  return Error(absl::StatusCode::kInvalidArgument, "BAD_RECOVERY_POLICY",
               absl::StrCat("expected at most 100 restarts and an initial "
                            "backoff in (0, 1h]; got ",
                            policy.max_restarts, " restarts, backoff ",
                            absl::FormatDuration(policy.initial_backoff)));
}

absl::StatusOr<CoprocessorStatus> LifecycleEngine::SetRecoveryPolicy(
    absl::string_view name, const RecoveryPolicy& policy) {
  Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  if (absl::Status s = CheckRecoveryPolicy(policy); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  slot->recovery = policy;
  return Snapshot(*slot, nullptr);
}

absl::StatusOr<std::vector<Coredump>> LifecycleEngine::ListCoredumps(
    absl::string_view name) const {
  const Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  absl::ReaderMutexLock lock(&mu_);
  return std::vector<Coredump>(slot->coredumps.rbegin(),
                               slot->coredumps.rend());
}

absl::StatusOr<Coredump> LifecycleEngine::GetCoredump(absl::string_view name,
                                                      uint64_t crash_id) const {
  const Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  absl::ReaderMutexLock lock(&mu_);
  for (auto it = slot->coredumps.rbegin(); it != slot->coredumps.rend(); ++it) {
    if (crash_id == 0 || it->crash_id == crash_id) return *it;
  }
  return Error(absl::StatusCode::kNotFound, "NO_COREDUMP",
               crash_id == 0
                   ? absl::StrCat("no coredump of ", name, " was captured")
                   : absl::StrCat("no coredump ", crash_id, " of ", name),
               {{"coprocessor", std::string(name)}});
}

}  // namespace pil::server
