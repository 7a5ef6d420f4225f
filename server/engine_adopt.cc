// LifecycleEngine: the intent journal, and Adopt: what the hardware runs
// when pild starts, and what a previous pild left in flight.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/engine_internal.h"

namespace pil::server {
namespace {

// What the journal keeps of an image; none without a known source.
std::optional<JournalImage> ToJournal(const FirmwareSource& source,
                                      const std::optional<LoadedImage>& image) {
  if (source.kind == FirmwareSource::Kind::kDefault || !image) {
    return std::nullopt;
  }
  JournalImage out;
  out.source_kind =
      source.kind == FirmwareSource::Kind::kUpload ? "upload" : "name";
  out.source = source.value;
  out.sha256 = image->sha256;
  out.version = image->version;
  out.hash_table_version = image->hash_table_version;
  out.sw_id = image->sw_id;
  out.anti_rollback_version = image->anti_rollback_version;
  return out;
}

FirmwareSource SourceOf(const JournalImage& image) {
  return image.source_kind == "upload" ? FirmwareSource::Upload(image.source)
                                       : FirmwareSource::Named(image.source);
}

LoadedImage LoadedOf(const JournalImage& image) {
  LoadedImage out;
  out.source = SourceOf(image).Describe();
  out.sha256 = image.sha256;
  out.version = image.version;
  out.hash_table_version = image.hash_table_version;
  out.sw_id = image.sw_id;
  out.anti_rollback_version = image.anti_rollback_version;
  return out;
}

// A transition that leaves the core running when it completes.
bool Boots(const std::string& operation) {
  return operation == "start" || operation == "reset" || operation == "recover";
}

}  // namespace

void LifecycleEngine::JournalBegin(const Slot& slot,
                                   const std::string& operation) {
  if (options_.journal == nullptr) return;
  std::optional<JournalImage> image;
  {
    absl::ReaderMutexLock lock(&mu_);
    // A reset boots what an earlier authenticate verified.
    if (Boots(operation)) image = ToJournal(slot.source, slot.image);
  }
  options_.journal->Begin(slot.node.name, operation);
  if (image) options_.journal->Booting(slot.node.name, *image);
}

void LifecycleEngine::JournalEnd(const Slot& slot) {
  if (options_.journal == nullptr) return;
  const bool runs =
      slot.state == State::kRunning || slot.state == State::kCrashed;
  options_.journal->End(
      slot.node.name, runs ? ToJournal(slot.source, slot.image) : std::nullopt);
}

void LifecycleEngine::Transaction::JournalStep(absl::string_view step) {
  if (engine_->options_.journal != nullptr) {
    engine_->options_.journal->Step(slot_->node.name, std::string(step));
  }
}

void LifecycleEngine::Transaction::JournalBooting(const Slot& slot,
                                                  const LoadedImage& image) {
  if (engine_->options_.journal == nullptr) return;
  if (auto journaled = ToJournal(slot.source, image)) {
    engine_->options_.journal->Booting(slot.node.name, *journaled);
  }
}

absl::StatusOr<std::vector<std::string>> LifecycleEngine::Adopt() {
  std::map<std::string, JournalRecord> records;
  if (options_.journal != nullptr) records = options_.journal->Read();
  std::vector<std::string> actions;
  for (const auto& owned : slots_) {
    Slot& slot = *owned;
    if (slot.ops == nullptr) continue;
    const JournalRecord record = records[slot.node.name];
    platform::AdoptRequest request;
    if (record.intent) request.interrupted = record.intent->operation;
    request.ready_timeout = options_.ready_timeout;
    request.stop_ack_timeout = options_.stop_ack_timeout;
    CallContext ctx;
    ctx.caller.peer = "adopt";
    {
      absl::MutexLock lock(&mu_);
      slot.busy = true;  // its events come to the adoption's steps
    }
    Transaction tx(this, &slot, ctx);
    const absl::Time start = absl::Now();
    auto adoption = slot.ops->Adopt(request, tx);
    if (!adoption.ok()) {
      absl::MutexLock lock(&mu_);
      Release(slot);
      return adoption.status();
    }
    for (const Step& step : tx.steps()) {
      actions.push_back(
          absl::StrCat(slot.node.name, ": ", step.name, " ", step.detail));
    }
    actions.insert(actions.end(), adoption->actions.begin(),
                   adoption->actions.end());
    using Found = platform::Adoption::Found;
    const State state = adoption->found == Found::kRunning   ? State::kRunning
                        : adoption->found == Found::kCrashed ? State::kCrashed
                                                             : State::kOffline;
    // The image it runs: the one the interrupted boot verified, else the
    // one it ran when last settled.
    std::optional<JournalImage> image;
    if (state != State::kOffline) {
      image = record.intent && Boots(record.intent->operation) && record.booting
                  ? record.booting
                  : record.running;
    }
    std::string what;
    if (record.intent) {
      const JournalIntent& intent = *record.intent;
      const bool finished = intent.operation == "stop"
                                ? state == State::kOffline
                                : state != State::kOffline;
      what = absl::StrCat(
          intent.operation, " was in progress (",
          intent.step.empty() ? "before its first step"
                              : absl::StrCat("at step ", intent.step),
          ") when pild stopped; ", finished ? "finished" : "undone", ": ",
          StateName(state));
    } else if (state != State::kOffline) {
      what = absl::StrCat(StateName(state), " on the hardware; adopted");
    }
    if (!what.empty()) {
      actions.push_back(absl::StrCat(slot.node.name, ": ", what));
    }
    absl::MutexLock lock(&mu_);
    if (state != State::kOffline) {
      if (image) {
        slot.source = SourceOf(*image);
        slot.image = LoadedOf(*image);
      } else {
        // Not booted by a pild that journaled it: recovery will not guess.
        slot.source = FirmwareSource();
        LoadedImage unknown;
        unknown.source = "(adopted: image unknown, running when pild started)";
        slot.image = unknown;
      }
    }
    if (record.intent && state == State::kOffline &&
        record.intent->operation != "stop") {
      slot.last_error = ErrorRecord{"INTERRUPTED", what,
                                    record.intent->operation, absl::Now()};
    }
    if (!what.empty()) {
      SetState(slot, state, "adopt");
      HistoryEntry entry;
      entry.time = start;
      entry.coprocessor = slot.node.name;
      entry.operation = "adopt";
      entry.caller.peer = "adopt";
      if (slot.image) entry.image_sha256 = slot.image->sha256;
      entry.to = state;
      entry.result = "OK";
      entry.message = what;
      entry.duration = absl::Now() - start;
      Audit(std::move(entry), /*ran=*/true);
    }
    JournalEnd(slot);
    Release(slot);
  }
  FlushAudit();
  return actions;
}

}  // namespace pil::server
