// LifecycleEngine::Transaction: steps, cancellation and events of one
// transition.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "server/engine_internal.h"

namespace pil::server {
namespace {

// How often a wait for an event looks at cancellation and shutdown.
constexpr absl::Duration kEventPoll = absl::Milliseconds(50);

}  // namespace

absl::Status LifecycleEngine::Transaction::Interrupted() const {
  if (engine_->stopping_) {
    return Error(absl::StatusCode::kAborted, "SHUTTING_DOWN",
                 absl::StrCat("pild is shutting down; ", slot_->node.name,
                              " was rolled back to offline"));
  }
  if (slot_->abandon_recovery) {
    return Error(absl::StatusCode::kAborted, "RECOVERY_ABANDONED",
                 absl::StrCat("a Stop of ", slot_->node.name,
                              " ended its recovery; rolled back"));
  }
  // (gRPC cancels a call whose deadline passed: the deadline comes first.)
  if (absl::Now() >= ctx_.deadline) {
    return Error(absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED",
                 absl::StrCat("the caller's deadline passed; ",
                              slot_->node.name, " was rolled back to offline"));
  }
  if (ctx_.cancelled && ctx_.cancelled()) {
    return Error(absl::StatusCode::kCancelled, "CANCELLED",
                 absl::StrCat("the caller cancelled; ", slot_->node.name,
                              " was rolled back to offline"));
  }
  return absl::OkStatus();
}

absl::Status LifecycleEngine::Transaction::Step(
    absl::string_view name, const std::function<absl::Status(std::string*)>& fn,
    bool even_if_interrupted) {
  if (!even_if_interrupted) {
    if (absl::Status s = Interrupted(); !s.ok()) return s;
  }
  JournalStep(name);
  const absl::Time start = absl::Now();
  std::string detail;
  absl::Status status = fn(&detail);
  if (!status.ok()) {
    detail = absl::StrCat(detail.empty() ? "" : detail + ": ", "FAILED ",
                          ReasonOf(status), " ", status.message());
  }
  steps_.push_back({std::string(name), detail, absl::Now() - start});
  return status;
}

std::optional<platform::Event> LifecycleEngine::Transaction::NextEvent(
    absl::Time until) {
  absl::MutexLock lock(&engine_->mu_);
  while (slot_->events.empty()) {
    if (!Interrupted().ok() || absl::Now() >= until) return std::nullopt;
    engine_->mu_.AwaitWithDeadline(
        absl::Condition(
            +[](std::deque<platform::Event>* q) { return !q->empty(); },
            &slot_->events),
        std::min(until, absl::Now() + kEventPoll));
  }
  platform::Event event = std::move(slot_->events.front());
  slot_->events.pop_front();
  return event;
}

void LifecycleEngine::Transaction::DropEvents() {
  absl::MutexLock lock(&engine_->mu_);
  slot_->events.clear();
}

void LifecycleEngine::Transaction::Note(absl::string_view note) {
  note_ = note_.empty() ? std::string(note) : absl::StrCat(note_, "; ", note);
}

void LifecycleEngine::Transaction::Enter(State state,
                                         const std::string& operation) {
  absl::MutexLock lock(&engine_->mu_);
  engine_->SetState(*slot_, state, operation);
}

platform::BootImages LifecycleEngine::Transaction::images(
    const Slot& slot) const {
  platform::BootImages out;
  out.main = main_image ? &*main_image : nullptr;
  out.dtb = dtb_image ? &*dtb_image : nullptr;
  out.main_source = slot.source.Describe();
  return out;
}

void LifecycleEngine::Transaction::Keep(
    Slot& slot, const platform::VerifiedImage& verified) {
  LoadedImage loaded;
  loaded.source = slot.source.Describe();
  loaded.sha256 = verified.metadata_sha256;
  loaded.version = verified.version;
  loaded.hash_table_version = verified.hash_table_version;
  loaded.sw_id = verified.sw_id;
  loaded.anti_rollback_version = verified.anti_rollback_version;
  JournalBooting(slot, loaded);
  absl::MutexLock lock(&engine_->mu_);
  slot.image = std::move(loaded);
}

}  // namespace pil::server
