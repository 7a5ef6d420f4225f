#include "server/engine.h"

#include <algorithm>
#include <deque>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "platform/image/inspect.h"
#include "platform/image/layout.h"
#include "platform/image/signature.h"
#include "server/resource_table.h"

namespace pil::server {
namespace {

using platform::SignalKind;

constexpr uint64_t kPage = 4096;
constexpr size_t kRequestMemory = 4096;
// How often a wait for a signal looks at cancellation and shutdown.
constexpr absl::Duration kSignalPoll = absl::Milliseconds(50);

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v)); }
uint64_t PageAlign(uint64_t v) { return (v + kPage - 1) / kPage * kPage; }

bool IsCrash(SignalKind kind) {
  return kind == SignalKind::kWatchdog || kind == SignalKind::kFatal ||
         kind == SignalKind::kSmmuFault;
}

std::string CrashReason(SignalKind kind) {
  switch (kind) {
    case SignalKind::kWatchdog:
      return "WATCHDOG";
    case SignalKind::kFatal:
      return "FATAL_ERROR";
    case SignalKind::kSmmuFault:
      return "SMMU_FAULT";
    default:
      return "CRASHED";
  }
}

// The error a crash signal makes of a transition.
absl::Status CrashStatus(const std::string& name,
                         const platform::Signal& signal) {
  if (signal.kind == SignalKind::kSmmuFault) {
    return Error(absl::StatusCode::kFailedPrecondition, "SMMU_FAULT",
                 absl::StrCat(name, " crashed with an SMMU ", signal.fault_type,
                              " fault: stream ", Hex(signal.sid), " ",
                              signal.write ? "writing" : "reading", " iova ",
                              Hex(signal.iova),
                              signal.fault_type == "translation" ||
                                      signal.fault_type == "unmatched stream"
                                  ? " (nothing mapped there: was the "
                                    "firmware stream mapped?)"
                                  : ""),
                 {{"coprocessor", name},
                  {"sid", Hex(signal.sid)},
                  {"iova", Hex(signal.iova)},
                  {"fault", signal.fault_type},
                  {"access", signal.write ? "write" : "read"}});
  }
  return Error(absl::StatusCode::kAborted, CrashReason(signal.kind),
               absl::StrCat(name, " crashed while booting: ", signal.detail),
               {{"coprocessor", name}});
}

}  // namespace

// What pild holds on the hardware for a coprocessor.
struct LifecycleEngine::Hold {
  bool metadata_main = false;
  bool metadata_dtb = false;
  bool running_main = false;  // out of reset: needs PAS shutdown
  bool running_dtb = false;
  std::optional<uint32_t> domain;
  struct Mapped {
    uint64_t iova, pa, size;
    uint32_t prot;
  };
  std::vector<Mapped> mappings;
  std::vector<CoredumpSegment> placed;
  uint16_t machine = 0;
};

struct LifecycleEngine::Slot {
  devicetree::CoprocessorNode node;
  bool video = false;
  bool linux_owned = false;
  std::optional<uint32_t> dtb_pas;  // when the coprocessor loads a DTB image

  // Guarded by the engine's mu_.
  State state = State::kOffline;
  absl::Time since;
  uint32_t crash_count = 0;
  std::optional<ErrorRecord> last_error;
  std::optional<LoadedImage> image;
  FirmwareSource source;
  Hold hold;
  bool busy = false;
  std::deque<platform::Signal> signals;
  uint32_t restarts = 0;
  std::deque<Coredump> coredumps;
};

struct LifecycleEngine::RequestRecord {
  std::string id, operation, name;
  bool done = false;
  absl::StatusOr<TransitionResult> result = absl::UnknownError("pending");
};

// One transition's steps, with cancellation and deadline checks.
class LifecycleEngine::Transaction {
 public:
  Transaction(LifecycleEngine* engine, Slot* slot, const CallContext& ctx)
      : engine_(engine), slot_(slot), ctx_(ctx) {}

  // OK, or why the caller gave up.
  absl::Status Interrupted() const {
    if (engine_->stopping_) {
      return Error(absl::StatusCode::kAborted, "SHUTTING_DOWN",
                   absl::StrCat("pild is shutting down; ", slot_->node.name,
                                " was rolled back to offline"));
    }
    // (gRPC cancels a call whose deadline passed: the deadline comes first.)
    if (absl::Now() >= ctx_.deadline) {
      return Error(
          absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED",
          absl::StrCat("the caller's deadline passed; ", slot_->node.name,
                       " was rolled back to offline"));
    }
    if (ctx_.cancelled && ctx_.cancelled()) {
      return Error(absl::StatusCode::kCancelled, "CANCELLED",
                   absl::StrCat("the caller cancelled; ", slot_->node.name,
                                " was rolled back to offline"));
    }
    return absl::OkStatus();
  }

  // Runs one step unless the caller gave up, and records it.
  absl::Status Step(const std::string& name,
                    const std::function<absl::Status(std::string*)>& fn,
                    bool even_if_interrupted = false) {
    if (!even_if_interrupted) {
      if (absl::Status s = Interrupted(); !s.ok()) return s;
    }
    const absl::Time start = absl::Now();
    std::string detail;
    absl::Status status = fn(&detail);
    if (!status.ok()) {
      detail = absl::StrCat(detail.empty() ? "" : detail + ": ", "FAILED ",
                            ReasonOf(status), " ", status.message());
    }
    steps_.push_back({name, detail, absl::Now() - start});
    return status;
  }

  // Updates what the coprocessor holds (under the engine's lock).
  void Update(const std::function<void(Hold&)>& fn) {
    absl::MutexLock lock(&engine_->mu_);
    fn(slot_->hold);
  }
  void Enter(State state, const std::string& reason) {
    absl::MutexLock lock(&engine_->mu_);
    engine_->SetState(*slot_, state, reason);
  }
  void AddNote(const std::string& note) {
    note_ = note_.empty() ? note : absl::StrCat(note_, "; ", note);
  }

  const CallContext& ctx() const { return ctx_; }
  std::vector<pil::server::Step>& steps() { return steps_; }
  const std::string& note() const { return note_; }

 private:
  LifecycleEngine* engine_;
  Slot* slot_;
  const CallContext& ctx_;
  std::vector<pil::server::Step> steps_;
  std::string note_;
};

LifecycleEngine::LifecycleEngine(platform::Platform* platform,
                                 const devicetree::Board& board,
                                 const FirmwareStore* firmware,
                                 History* history, EngineOptions options)
    : platform_(platform),
      firmware_(firmware),
      history_(history),
      options_(std::move(options)) {
  const absl::Time now = absl::Now();
  for (const devicetree::CoprocessorNode& node : board.coprocessors) {
    if (!node.enabled()) continue;
    auto slot = std::make_unique<Slot>();
    slot->node = node;
    slot->video = node.kind == devicetree::CoprocessorKind::kVideoCodec;
    slot->linux_owned = node.iommu_owner == devicetree::IommuOwner::kLinux;
    if (node.dtb_pas_id && node.firmware_names.size() >= 2 &&
        node.carveouts.size() >= 2) {
      slot->dtb_pas = node.dtb_pas_id;
    }
    slot->since = now;
    if (platform_ == nullptr) {
      auto observed = options_.observed_states.find(node.path);
      if (observed != options_.observed_states.end()) {
        slot->state = observed->second;
      }
    }
    os_owns_iommu_ |= slot->linux_owned;
    slots_.push_back(std::move(slot));
  }
  if (platform_ != nullptr) {
    platform_->signals().Subscribe(
        [this](const platform::Signal& signal) { OnSignal(signal); });
  }
}

LifecycleEngine::~LifecycleEngine() {
  std::vector<Recovery> recoveries;
  {
    absl::MutexLock lock(&mu_);  // waiters re-check when it is released
    stopping_ = true;
    recoveries.swap(recoveries_);
  }
  for (Recovery& r : recoveries) r.thread.join();
  if (platform_ != nullptr) platform_->signals().Subscribe(nullptr);
}

LifecycleEngine::Slot* LifecycleEngine::Find(absl::string_view name) const {
  for (const auto& slot : slots_) {
    if (slot->node.name == name) return slot.get();
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

void LifecycleEngine::SetState(Slot& slot, State state, std::string reason) {
  const State previous = slot.state;
  slot.state = state;
  slot.since = absl::Now();
  StateEvent event;
  event.sequence = next_sequence_++;
  event.time = slot.since;
  event.previous = previous;
  event.status = Snapshot(slot, nullptr);
  event.reason = std::move(reason);
  for (const auto& [id, listener] : listeners_) listener(event);
}

CoprocessorStatus LifecycleEngine::Snapshot(
    const Slot& slot, const platform::HardwareState* observed) const {
  CoprocessorStatus out;
  out.node = &slot.node;
  out.state = slot.state;
  out.state_since = slot.since;
  out.crash_count = slot.crash_count;
  out.last_error = slot.last_error;
  out.image = slot.image;
  out.recovery = options_.recovery;
  if (observed == nullptr) {
    out.hardware.metadata_held =
        slot.hold.metadata_main || slot.hold.metadata_dtb;
    for (const Hold::Mapped& m : slot.hold.mappings) {
      platform::HardwareState::Mapping mapping;
      mapping.domain = slot.hold.domain.value_or(0);
      if (slot.node.firmware_stream) {
        mapping.sid = slot.node.firmware_stream->sid;
        mapping.mask = slot.node.firmware_stream->mask;
      }
      mapping.iova = m.iova;
      mapping.pa = m.pa;
      mapping.size = m.size;
      mapping.prot = m.prot;
      mapping.owner = "os";
      out.hardware.mappings.push_back(mapping);
    }
    return out;
  }
  auto in_carveouts = [&](uint64_t base, uint64_t size) {
    for (const auto& c : slot.node.carveouts) {
      if (base < c.base + c.size && c.base < base + size) return true;
    }
    return false;
  };
  for (const auto& p : observed->peripherals) {
    if ((slot.node.pas_id && p.pas_id == *slot.node.pas_id) ||
        (slot.dtb_pas && p.pas_id == *slot.dtb_pas)) {
      out.hardware.metadata_held |= p.metadata_held;
    }
  }
  for (const auto& b : observed->bridges) {
    if (in_carveouts(b.base, b.size)) out.hardware.bridges.push_back(b);
  }
  for (const auto& m : observed->mappings) {
    const bool our_stream =
        slot.node.firmware_stream &&
        ((m.sid ^ slot.node.firmware_stream->sid) &
         ~(m.mask | slot.node.firmware_stream->mask) & 0xffff) == 0;
    if (our_stream || in_carveouts(m.pa, m.size)) {
      out.hardware.mappings.push_back(m);
    }
  }
  return out;
}

std::vector<CoprocessorStatus> LifecycleEngine::List(bool observe) const {
  std::optional<platform::HardwareState> observed;
  if (observe && platform_ != nullptr) {
    auto state = platform_->Observe();
    if (state.ok()) observed = std::move(*state);
  }
  absl::ReaderMutexLock lock(&mu_);
  std::vector<CoprocessorStatus> out;
  for (const auto& slot : slots_) {
    out.push_back(Snapshot(*slot, observed ? &*observed : nullptr));
  }
  return out;
}

absl::StatusOr<CoprocessorStatus> LifecycleEngine::Get(absl::string_view name,
                                                       bool observe) const {
  const Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  std::optional<platform::HardwareState> observed;
  if (observe && platform_ != nullptr) {
    auto state = platform_->Observe();
    if (!state.ok()) return state.status();
    observed = std::move(*state);
  }
  absl::ReaderMutexLock lock(&mu_);
  return Snapshot(*slot, observed ? &*observed : nullptr);
}

uint64_t LifecycleEngine::Subscribe(Listener listener,
                                    std::vector<StateEvent>* initial) {
  absl::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    StateEvent event;
    event.sequence = next_sequence_;
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

// ---- transitions ----

absl::StatusOr<TransitionResult> LifecycleEngine::Run(
    absl::string_view name, const std::string& operation,
    const CallContext& ctx, std::vector<State> from, Body body) {
  if (platform_ == nullptr) {
    return Error(
        absl::StatusCode::kUnimplemented, "NOT_SUPPORTED",
        absl::StrCat(operation, " is not supported by this platform backend"));
  }
  std::shared_ptr<RequestRecord> record;
  if (!ctx.request_id.empty()) {
    absl::MutexLock lock(&mu_);
    for (const auto& r : requests_) {
      if (r->id == ctx.request_id) record = r;
    }
    if (record != nullptr) {
      if (record->operation != operation || record->name != name) {
        return Error(
            absl::StatusCode::kInvalidArgument, "REQUEST_ID_REUSED",
            absl::StrCat("request id ", ctx.request_id, " was used for ",
                         record->operation, " ", record->name),
            {{"request_id", ctx.request_id}});
      }
      mu_.AwaitWithDeadline(absl::Condition(&record->done), ctx.deadline);
      if (!record->done) {
        return Error(
            absl::StatusCode::kDeadlineExceeded, "BUSY",
            absl::StrCat("request ", ctx.request_id, " is still in progress"));
      }
      if (!record->result.ok()) return record->result.status();
      TransitionResult replay = *record->result;
      replay.replayed = true;
      return replay;
    }
    record = std::make_shared<RequestRecord>();
    record->id = ctx.request_id;
    record->operation = operation;
    record->name = std::string(name);
    requests_.push_back(record);
    if (requests_.size() > kRequestMemory) requests_.pop_front();
  }
  auto finish = [&](absl::StatusOr<TransitionResult> result)
      -> absl::StatusOr<TransitionResult> {
    if (record != nullptr) {
      absl::MutexLock lock(&mu_);
      record->result = result;
      record->done = true;
    }
    return result;
  };

  Slot* slot = Find(name);
  if (slot == nullptr) return finish(UnknownCoprocessor(name));
  if (!slot->node.problems.empty() || !slot->node.pas_id ||
      slot->node.carveouts.empty()) {
    return finish(Error(
        absl::StatusCode::kFailedPrecondition, "DEVICE_TREE_INVALID",
        absl::StrCat(name, " cannot boot: its device-tree node has problems: ",
                     absl::StrJoin(slot->node.problems, "; ")),
        {{"coprocessor", std::string(name)}}));
  }

  State from_state = State::kOffline;
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    struct NotBusyOrGaveUp {
      const Slot* slot;
      const CallContext* ctx;
      bool operator()() const {
        return !slot->busy || (ctx->cancelled && ctx->cancelled());
      }
    } ready{slot, &ctx};
    // Wake up now and then to notice cancellation.
    while (slot->busy && !(ctx.cancelled && ctx.cancelled()) &&
           absl::Now() < ctx.deadline) {
      mu_.AwaitWithDeadline(
          absl::Condition(&ready),
          std::min(ctx.deadline, absl::Now() + absl::Milliseconds(50)));
    }
    from_state = slot->state;
    if (slot->busy && ctx.cancelled && ctx.cancelled()) {
      refused = Error(absl::StatusCode::kCancelled, "CANCELLED",
                      absl::StrCat("the caller cancelled while another "
                                   "transition of ",
                                   name, " was in progress"),
                      {{"coprocessor", std::string(name)}});
    } else if (slot->busy) {
      refused =
          Error(absl::StatusCode::kDeadlineExceeded, "BUSY",
                absl::StrCat("another transition of ", name,
                             " is in progress (state ", StateName(slot->state),
                             ") and did not end before the deadline"),
                {{"coprocessor", std::string(name)}});
    } else if (std::find(from.begin(), from.end(), slot->state) == from.end()) {
      std::vector<std::string> expected;
      for (State s : from) expected.push_back(StateName(s));
      refused = Error(
          absl::StatusCode::kFailedPrecondition, "WRONG_STATE",
          absl::StrCat(operation, " ", name, ": it is ", StateName(slot->state),
                       "; expected ", absl::StrJoin(expected, " or ")),
          {{"coprocessor", std::string(name)},
           {"state", StateName(slot->state)},
           {"expected", absl::StrJoin(expected, ",")}});
    } else {
      slot->busy = true;
      if (operation == "start" || operation == "stop") slot->restarts = 0;
    }
  }
  if (!refused.ok()) {
    // Refused attempts are recorded too: who tried what, and why not.
    HistoryEntry entry;
    entry.time = absl::Now();
    entry.coprocessor = std::string(name);
    entry.operation = operation;
    entry.request_id = ctx.request_id;
    entry.caller = ctx.caller;
    entry.from = entry.to = from_state;
    entry.result = ReasonOf(refused);
    entry.message = std::string(refused.message());
    history_->Add(std::move(entry));
    return finish(refused);
  }

  const absl::Time start = absl::Now();
  Transaction tx(this, slot, ctx);
  absl::Status status = body(*slot, tx);
  if (!status.ok()) {
    Teardown(*slot, tx);
    PILD_LOG(WARNING) << operation << " " << name
                      << " failed: " << status.message();
  }

  // What the hardware holds afterwards, as the platform reports it.
  absl::StatusOr<platform::HardwareState> observed = platform_->Observe();
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    slot->last_error =
        ErrorRecord{ReasonOf(status), std::string(status.message()), operation,
                    absl::Now()};
    slot->image.reset();
    SetState(*slot, State::kOffline,
             absl::StrCat(operation, " failed: ", ReasonOf(status)));
  } else {
    slot->last_error.reset();
  }
  HistoryEntry entry;
  entry.time = start;
  entry.coprocessor = std::string(name);
  entry.operation = operation;
  entry.request_id = ctx.request_id;
  entry.caller = ctx.caller;
  if (slot->image) entry.image_sha256 = slot->image->sha256;
  entry.from = from_state;
  entry.to = slot->state;
  entry.result = status.ok() ? "OK" : ReasonOf(status);
  entry.message = std::string(status.message());
  entry.duration = absl::Now() - start;
  history_->Add(std::move(entry));
  Release(*slot);

  absl::StatusOr<TransitionResult> result = absl::UnknownError("");
  if (!status.ok()) {
    result = status;
  } else {
    TransitionResult ok;
    ok.status = Snapshot(*slot, observed.ok() ? &*observed : nullptr);
    ok.steps = std::move(tx.steps());
    ok.note = tx.note();
    result = std::move(ok);
  }
  if (record != nullptr) {
    record->result = result;
    record->done = true;
  }
  return result;
}

absl::Status LifecycleEngine::DoAuthenticate(Slot& slot,
                                             const FirmwareSource& requested,
                                             Transaction& tx) {
  const devicetree::CoprocessorNode& node = slot.node;
  FirmwareSource source = requested;
  if (source.kind == FirmwareSource::Kind::kDefault) {
    if (node.firmware_names.empty()) {
      return Error(absl::StatusCode::kFailedPrecondition, "FIRMWARE_NOT_FOUND",
                   absl::StrCat(node.name, " has no firmware name"));
    }
    source = FirmwareSource::Named(node.firmware_names[0]);
  }
  platform::Platform& p = *platform_;

  // Loads, verifies and copies one image into its carveout.
  auto load = [&](const FirmwareSource& from,
                  const devicetree::CarveoutRange& c, const std::string& what,
                  std::optional<image::FirmwareImage>* out,
                  image::ImageReport* report) -> absl::Status {
    if (absl::Status s =
            tx.Step(absl::StrCat("load", what),
                    [&](std::string* d) {
                      auto image = firmware_->Load(from);
                      if (!image.ok()) return image.status();
                      *d = absl::StrCat(
                          from.Describe(), ": ", image->file_size(), " bytes",
                          image->split() ? " (split)" : "", ", ",
                          image->segments().size(), " program headers");
                      out->emplace(std::move(*image));
                      return absl::OkStatus();
                    });
        !s.ok()) {
      return s;
    }
    return tx.Step(absl::StrCat("verify_and_copy", what), [&](std::string* d) {
      const image::FirmwareImage& image = **out;
      auto layout = image::ComputeLayout(image.segments());
      if (!layout.ok()) return layout.status();
      const uint64_t reloc = image::RelocationBase(*layout, c.base);
      image::InspectOptions options;
      options.threads = options_.verify_threads;
      options.carveout = std::make_pair(c.base, c.size);
      std::vector<CoredumpSegment> placed;
      for (size_t i : layout->loadable) {
        placed.push_back({c.base + (image.segments()[i].paddr - reloc),
                          image.segments()[i].memsz});
      }
      // Only copy once the whole image is known to fit.
      if (absl::Status fits = image::CheckFitsCarveout(
              *layout, image.segments(), c.base, c.size);
          !fits.ok()) {
        return Annotate(fits, image.name());
      }
      options.destination = [&](size_t i) {
        const image::ProgramHeader& ph = image.segments()[i];
        return p.memory().Map(c.base + (ph.paddr - reloc), ph.memsz);
      };
      *report = image::Inspect(image, options);
      if (!report->ok()) return image::ReportStatus(*report);
      tx.Update([&](Hold& h) {
        if (what.empty()) {
          h.placed = placed;
          h.machine = image.header().machine;
        }
      });
      *d = absl::StrCat(
          "hash table v", report->version, " ",
          image::HashAlgorithmName(report->algorithm),
          ": every segment matches; ",
          report->signers.empty()
              ? ""
              : absl::StrCat(image::SchemeName(report->signers[0].scheme),
                             " signature and chain verify (root ",
                             report->signers[0].root_sha256.substr(0, 16),
                             "…); "),
          layout->loadable.size(), " segments copied to ", Hex(c.base),
          " (span ", Hex(layout->span()), ")");
      return absl::OkStatus();
    });
  };

  // Hands an image's metadata to the secure world.
  auto init = [&](uint32_t pas_id, const image::FirmwareImage& image,
                  const devicetree::CarveoutRange& c, bool dtb) {
    if (absl::Status s = tx.Step(
            "pas_init_image",
            [&](std::string* d) {
              const std::string metadata = image.Metadata();
              *d = absl::StrCat("PAS id ", pas_id, ", metadata ",
                                metadata.size(),
                                " bytes (headers + hash segment)");
              absl::Status st = p.secure_world().PasInitImage(pas_id, metadata);
              if (st.ok()) {
                tx.Update([&](Hold& h) {
                  (dtb ? h.metadata_dtb : h.metadata_main) = true;
                });
              }
              return st;
            });
        !s.ok()) {
      return s;
    }
    auto layout = image::ComputeLayout(image.segments());
    if (!layout.ok() || !layout->relocatable) return absl::OkStatus();
    return tx.Step("pas_mem_setup", [&](std::string* d) {
      *d = absl::StrCat("PAS id ", pas_id, " relocated to ", Hex(c.base),
                        ", span ", Hex(layout->span()));
      return p.secure_world().PasMemSetup(pas_id, c.base, layout->span());
    });
  };

  std::optional<image::FirmwareImage> main;
  image::ImageReport main_report;
  if (absl::Status s = load(source, node.carveouts[0], "", &main, &main_report);
      !s.ok()) {
    return s;
  }
  std::optional<image::FirmwareImage> dtb;
  if (slot.dtb_pas) {
    image::ImageReport dtb_report;
    if (absl::Status s = load(FirmwareSource::Named(node.firmware_names[1]),
                              node.carveouts[1], "_dtb", &dtb, &dtb_report);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = init(*slot.dtb_pas, *dtb, node.carveouts[1], true);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = init(*node.pas_id, *main, node.carveouts[0], false);
      !s.ok()) {
    return s;
  }
  LoadedImage loaded;
  loaded.source = source.Describe();
  loaded.sha256 = main_report.metadata_sha256;
  loaded.version = main_report.image_version;
  loaded.hash_table_version = main_report.version;
  loaded.sw_id = main_report.identity.image_type();
  loaded.anti_rollback_version = main_report.identity.anti_rollback_version;
  absl::MutexLock lock(&mu_);
  slot.image = loaded;
  slot.source = source;
  return absl::OkStatus();
}

absl::Status LifecycleEngine::DoMap(Slot& slot, Transaction& tx) {
  const devicetree::CoprocessorNode& node = slot.node;
  if (!slot.linux_owned) {
    if (!os_owns_iommu_) {
      tx.AddNote(
          "IOMMU managed by the hypervisor: nothing to map (it maps the "
          "firmware when the secure world releases reset)");
    } else {
      tx.AddNote(absl::StrCat(
          "no hypervisor manages the IOMMU, but the device tree names no "
          "firmware stream for ",
          node.name,
          " (`iommus`, or an `iommu-map` entry for function 0): nothing "
          "mapped, so its firmware fetches will fault"));
    }
    return absl::OkStatus();
  }
  platform::Platform& p = *platform_;
  const devicetree::StreamId& stream = *node.firmware_stream;
  uint32_t domain = 0;
  if (absl::Status s = tx.Step(
          "iommu_attach",
          [&](std::string* d) {
            auto attached = p.iommu().Attach(stream.sid, stream.mask);
            if (!attached.ok()) return attached.status();
            domain = *attached;
            tx.Update([&](Hold& h) { h.domain = domain; });
            *d = absl::StrCat("stream ", Hex(stream.sid), "/", Hex(stream.mask),
                              " -> translation context ", domain);
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  auto map = [&](uint64_t iova, uint64_t pa, uint64_t size, uint32_t prot,
                 const std::string& what) {
    return tx.Step("smmu_map", [&](std::string* d) {
      *d = absl::StrCat(what, ": iova ", Hex(iova), " -> ", Hex(pa), " +",
                        Hex(size), " ", platform::IommuPermissions(prot),
                        " on stream ", Hex(stream.sid));
      absl::Status st = p.iommu().Map(domain, iova, pa, size, prot);
      if (st.ok()) {
        tx.Update([&](Hold& h) {
          h.mappings.push_back({iova, pa, size, prot});
        });
      }
      return st;
    });
  };
  const devicetree::CarveoutRange& main = node.carveouts[0];
  const uint32_t rw = platform::kIommuRead | platform::kIommuWrite;
  if (absl::Status s =
          map(slot.video ? 0 : main.base, main.base, PageAlign(main.size),
              slot.video ? rw | platform::kIommuPriv : rw,
              slot.video ? "firmware carveout at IOVA 0, privileged"
                         : "firmware carveout, identity");
      !s.ok()) {
    return s;
  }
  if (slot.dtb_pas) {
    const devicetree::CarveoutRange& dtb = node.carveouts[1];
    if (absl::Status s = map(dtb.base, dtb.base, PageAlign(dtb.size), rw,
                             "DTB carveout, identity");
        !s.ok()) {
      return s;
    }
  }
  std::vector<DevMem> devmem;
  if (absl::Status s = tx.Step(
          "pas_get_rsctable",
          [&](std::string* d) {
            auto table = p.secure_world().PasGetResourceTable(*node.pas_id, "");
            if (!table.ok()) {
              if (ReasonOf(table.status()) == "SCM_CALL_UNAVAILABLE") {
                *d = "not available: no resource table";
                return absl::OkStatus();
              }
              return table.status();
            }
            auto parsed = ParseResourceTable(*table);
            if (!parsed.ok()) return parsed.status();
            devmem = std::move(*parsed);
            *d = absl::StrCat(devmem.size(), " device-memory entr",
                              devmem.size() == 1 ? "y" : "ies");
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  for (const DevMem& entry : devmem) {
    if (absl::Status s = map(entry.da, entry.pa, entry.length, rw,
                             absl::StrCat("device memory '", entry.name, "'"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status LifecycleEngine::DoReset(Slot& slot, absl::Duration ready_timeout,
                                      Transaction& tx) {
  const devicetree::CoprocessorNode& node = slot.node;
  platform::Platform& p = *platform_;
  auto auth = [&](uint32_t pas_id, const devicetree::CarveoutRange& c,
                  bool dtb) -> absl::Status {
    std::optional<uint64_t> bridge;
    // Without a hypervisor the secure world reads the carveout through an
    // SHM bridge the OS registers.
    if (os_owns_iommu_) {
      if (absl::Status s = tx.Step(
              "shm_bridge_create",
              [&](std::string* d) {
                auto handle = p.secure_world().ShmBridgeCreate(c.base, c.size);
                if (!handle.ok()) return handle.status();
                bridge = *handle;
                *d = absl::StrCat(Hex(c.base), " +", Hex(c.size), " -> bridge ",
                                  Hex(*handle));
                return absl::OkStatus();
              });
          !s.ok()) {
        return s;
      }
    }
    absl::Status status = tx.Step(
        "pas_auth_and_reset",
        [&](std::string* d) {
          *d = absl::StrCat("PAS id ", pas_id, dtb ? " (DTB image)" : "");
          absl::Status st = p.secure_world().PasAuthAndReset(pas_id);
          if (st.ok()) {
            tx.Update([&](Hold& h) {
              (dtb ? h.running_dtb : h.running_main) = true;
            });
          }
          return st;
        },
        /*even_if_interrupted=*/false);
    if (bridge) {
      // The bridge exists only while the secure world authenticates.
      absl::Status deleted = tx.Step(
          "shm_bridge_delete",
          [&](std::string* d) {
            *d = absl::StrCat("bridge ", Hex(*bridge));
            return p.secure_world().ShmBridgeDelete(*bridge);
          },
          /*even_if_interrupted=*/true);
      if (status.ok() && !deleted.ok()) status = deleted;
    }
    return status;
  };

  if (slot.dtb_pas) {
    if (absl::Status s = auth(*slot.dtb_pas, node.carveouts[1], true);
        !s.ok()) {
      return s;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    slot.signals.clear();
  }
  if (absl::Status s = auth(*node.pas_id, node.carveouts[0], false); !s.ok()) {
    return s;
  }

  const absl::Duration timeout = ready_timeout > absl::ZeroDuration()
                                     ? ready_timeout
                                     : options_.ready_timeout;
  if (absl::Status s = tx.Step(
          "wait_ready",
          [&](std::string* d) {
            const absl::Time until =
                std::min(absl::Now() + timeout, tx.ctx().deadline);
            const absl::Time start = absl::Now();
            absl::MutexLock lock(&mu_);
            while (true) {
              while (!slot.signals.empty()) {
                platform::Signal signal = std::move(slot.signals.front());
                slot.signals.pop_front();
                if (signal.kind == SignalKind::kReady) {
                  *d = absl::StrCat("ready after ",
                                    absl::FormatDuration(absl::Now() - start));
                  return absl::OkStatus();
                }
                if (IsCrash(signal.kind)) return CrashStatus(node.name, signal);
              }
              // Cancelled, past the caller's deadline, or shutting down.
              if (absl::Status st = tx.Interrupted(); !st.ok()) return st;
              if (absl::Now() >= until) {
                return Error(
                    absl::StatusCode::kDeadlineExceeded, "READY_TIMEOUT",
                    absl::StrCat(node.name, " did not raise 'ready' within ",
                                 absl::FormatDuration(timeout),
                                 "; PAS shutdown issued, mappings removed"),
                    {{"coprocessor", node.name},
                     {"timeout_ms",
                      absl::StrCat(absl::ToInt64Milliseconds(timeout))}});
              }
              AwaitSignal(slot, until);
            }
          });
      !s.ok()) {
    return s;
  }
  return tx.Step(
      "release_metadata",
      [&](std::string* d) {
        absl::Status status = p.secure_world().ReleaseMetadata(*node.pas_id);
        if (slot.dtb_pas) {
          absl::Status dtb = p.secure_world().ReleaseMetadata(*slot.dtb_pas);
          if (status.ok()) status = dtb;
        }
        if (status.ok()) {
          tx.Update([](Hold& h) { h.metadata_main = h.metadata_dtb = false; });
        }
        *d = absl::StrCat(
            "PAS id ", *node.pas_id,
            slot.dtb_pas ? absl::StrCat(" and ", *slot.dtb_pas) : "");
        return status;
      },
      /*even_if_interrupted=*/true);
}

absl::Status LifecycleEngine::DoStop(Slot& slot,
                                     absl::Duration stop_ack_timeout,
                                     Transaction& tx) {
  platform::Platform& p = *platform_;
  bool running;
  {
    absl::MutexLock lock(&mu_);
    running = slot.state == State::kRunning;
    if (running) {
      slot.signals.clear();
      SetState(slot, State::kStopping, "stop");
    }
  }
  if (running) {
    const absl::Duration timeout = stop_ack_timeout > absl::ZeroDuration()
                                       ? stop_ack_timeout
                                       : options_.stop_ack_timeout;
    absl::Status requested = tx.Step(
        "request_stop",
        [&](std::string* d) {
          *d = "stop bit raised";
          return p.signals().RequestStop(slot.node.path);
        },
        /*even_if_interrupted=*/true);
    if (requested.ok()) {
      (void)tx.Step(
          "wait_stop_ack",
          [&](std::string* d) {
            const absl::Time until = absl::Now() + timeout;
            absl::MutexLock lock(&mu_);
            while (absl::Now() < until && !stopping_) {
              while (!slot.signals.empty()) {
                const SignalKind kind = slot.signals.front().kind;
                slot.signals.pop_front();
                if (kind == SignalKind::kStopAck) {
                  *d = "acknowledged";
                  return absl::OkStatus();
                }
                if (IsCrash(kind)) {
                  *d = "crashed while stopping";
                  return absl::OkStatus();
                }
              }
              AwaitSignal(slot, until);
            }
            tx.AddNote(absl::StrCat("no stop-ack within ",
                                    absl::FormatDuration(timeout),
                                    "; shut down anyway"));
            *d = "timed out; shutting down anyway";
            return absl::OkStatus();
          },
          /*even_if_interrupted=*/true);
    } else {
      tx.AddNote(absl::StrCat("stop request failed (", requested.message(),
                              "); shut down anyway"));
    }
  }
  Teardown(slot, tx);
  absl::MutexLock lock(&mu_);
  slot.image.reset();
  return absl::OkStatus();
}

void LifecycleEngine::Teardown(Slot& slot, Transaction& tx) {
  platform::Platform& p = *platform_;
  Hold hold;
  {
    absl::MutexLock lock(&mu_);
    hold = slot.hold;
  }
  const uint32_t pas_id = *slot.node.pas_id;
  auto step = [&](const std::string& name, const std::string& detail,
                  const std::function<absl::Status()>& fn) {
    (void)tx.Step(
        name,
        [&](std::string* d) {
          *d = detail;
          return fn();
        },
        /*even_if_interrupted=*/true);
  };
  if (hold.running_main) {
    step("pas_shutdown", absl::StrCat("PAS id ", pas_id), [&] {
      absl::Status s = p.secure_world().PasShutdown(pas_id);
      tx.Update([](Hold& h) { h.running_main = false; });
      return s;
    });
  }
  if (hold.running_dtb) {
    step("pas_shutdown", absl::StrCat("PAS id ", *slot.dtb_pas, " (DTB)"), [&] {
      absl::Status s = p.secure_world().PasShutdown(*slot.dtb_pas);
      tx.Update([](Hold& h) { h.running_dtb = false; });
      return s;
    });
  }
  if (hold.metadata_main || hold.metadata_dtb) {
    step("release_metadata", absl::StrCat("PAS id ", pas_id), [&] {
      absl::Status s = hold.metadata_main
                           ? p.secure_world().ReleaseMetadata(pas_id)
                           : absl::OkStatus();
      if (hold.metadata_dtb) {
        absl::Status dtb = p.secure_world().ReleaseMetadata(*slot.dtb_pas);
        if (s.ok()) s = dtb;
      }
      tx.Update([](Hold& h) { h.metadata_main = h.metadata_dtb = false; });
      return s;
    });
  }
  if (hold.domain) {
    for (const Hold::Mapped& m : hold.mappings) {
      step("smmu_unmap", absl::StrCat("iova ", Hex(m.iova), " +", Hex(m.size)),
           [&]() -> absl::Status {
             auto unmapped = p.iommu().Unmap(*hold.domain, m.iova, m.size);
             if (!unmapped.ok()) return unmapped.status();
             if (*unmapped != m.size) {
               return Error(absl::StatusCode::kInternal, "UNMAP_INCOMPLETE",
                            absl::StrCat("unmapped ", Hex(*unmapped),
                                         " bytes, expected ", Hex(m.size)));
             }
             return absl::OkStatus();
           });
    }
    step("iommu_detach", absl::StrCat("translation context ", *hold.domain),
         [&] { return p.iommu().Detach(*hold.domain); });
    tx.Update([](Hold& h) {
      h.mappings.clear();
      h.domain.reset();
    });
  }
}

absl::StatusOr<TransitionResult> LifecycleEngine::Authenticate(
    absl::string_view name, const FirmwareSource& source,
    const CallContext& ctx) {
  return Run(name, "authenticate", ctx, {State::kOffline},
             [&](Slot& slot, Transaction& tx) {
               absl::Status s = DoAuthenticate(slot, source, tx);
               if (s.ok()) tx.Enter(State::kAuthenticated, "authenticate");
               return s;
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Map(absl::string_view name,
                                                      const CallContext& ctx) {
  return Run(name, "map", ctx, {State::kAuthenticated},
             [&](Slot& slot, Transaction& tx) {
               absl::Status s = DoMap(slot, tx);
               if (s.ok()) tx.Enter(State::kMapped, "map");
               return s;
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Reset(
    absl::string_view name, absl::Duration ready_timeout,
    const CallContext& ctx) {
  return Run(name, "reset", ctx, {State::kMapped},
             [&](Slot& slot, Transaction& tx) {
               absl::Status s = DoReset(slot, ready_timeout, tx);
               if (s.ok()) tx.Enter(State::kRunning, "reset");
               return s;
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Start(
    absl::string_view name, const FirmwareSource& source,
    absl::Duration ready_timeout, const CallContext& ctx) {
  return Run(name, "start", ctx, {State::kOffline},
             [&](Slot& slot, Transaction& tx) {
               if (absl::Status s = DoAuthenticate(slot, source, tx); !s.ok()) {
                 return s;
               }
               tx.Enter(State::kAuthenticated, "start");
               if (absl::Status s = DoMap(slot, tx); !s.ok()) return s;
               tx.Enter(State::kMapped, "start");
               if (absl::Status s = DoReset(slot, ready_timeout, tx); !s.ok()) {
                 return s;
               }
               tx.Enter(State::kRunning, "start");
               return absl::OkStatus();
             });
}

absl::StatusOr<TransitionResult> LifecycleEngine::Stop(
    absl::string_view name, absl::Duration stop_ack_timeout,
    const CallContext& ctx) {
  // A stop is never abandoned half-way: it ignores the caller's deadline
  // once begun.
  CallContext patient = ctx;
  patient.cancelled = nullptr;
  return Run(
      name, "stop", patient,
      {State::kRunning, State::kCrashed, State::kAuthenticated, State::kMapped},
      [&](Slot& slot, Transaction& tx) {
        absl::Status s = DoStop(slot, stop_ack_timeout, tx);
        if (s.ok()) tx.Enter(State::kOffline, "stop");
        return s;
      });
}

// ---- crashes and recovery ----

void LifecycleEngine::OnSignal(const platform::Signal& signal) {
  absl::MutexLock lock(&mu_);
  Slot* slot = nullptr;
  for (const auto& s : slots_) {
    if (s->node.path == signal.coprocessor) slot = s.get();
  }
  if (slot == nullptr || stopping_) return;
  if (slot->busy) {
    // The transition in progress reads it, or Release() handles it.
    slot->signals.push_back(signal);
    return;
  }
  HandleCrash(*slot, signal);
}

void LifecycleEngine::Release(Slot& slot) {
  slot.busy = false;
  std::deque<platform::Signal> pending;
  pending.swap(slot.signals);
  for (const platform::Signal& signal : pending) {
    if (slot.busy) break;
    HandleCrash(slot, signal);
  }
}

void LifecycleEngine::AwaitSignal(Slot& slot, absl::Time until) {
  mu_.AwaitWithDeadline(
      absl::Condition(
          +[](std::deque<platform::Signal>* q) { return !q->empty(); },
          &slot.signals),
      std::min(until, absl::Now() + kSignalPoll));
}

void LifecycleEngine::HandleCrash(Slot& slot, const platform::Signal& signal) {
  if (stopping_ || slot.state != State::kRunning || !IsCrash(signal.kind)) {
    return;
  }
  ++slot.crash_count;
  const absl::Status crash = CrashStatus(slot.node.name, signal);
  slot.last_error = ErrorRecord{ReasonOf(crash), std::string(crash.message()),
                                "crash", absl::Now()};
  SetState(slot, State::kCrashed, CrashReason(signal.kind));
  // The coredump and the recovery need the slot for a while: not on the
  // platform's delivery thread.
  slot.busy = true;
  // Reap the recoveries that ended.
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

void LifecycleEngine::Recover(Slot* slot) {
  const std::string name = slot->node.name;
  Hold hold;
  std::string reason;
  {
    absl::MutexLock lock(&mu_);
    hold = slot->hold;
    reason = slot->last_error ? slot->last_error->reason : "CRASHED";
  }
  // Coredump of the carveout the firmware occupied, before anything else.
  Coredump dump;
  auto bytes = WriteCoredump(platform_->memory(), hold.machine, hold.placed,
                             absl::StrCat(name, " crashed: ", reason));
  {
    absl::MutexLock lock(&mu_);
    if (bytes.ok()) {
      dump.crash_id = next_crash_++;
      dump.coprocessor = name;
      dump.reason = reason;
      dump.time = absl::Now();
      dump.sha256 = absl::BytesToHexString(
          image::Digest(image::HashAlgorithm::kSha256, *bytes));
      dump.bytes = std::move(*bytes);
      slot->coredumps.push_back(std::move(dump));
      while (slot->coredumps.size() > options_.coredumps_per_coprocessor) {
        slot->coredumps.pop_front();
      }
    }
    HistoryEntry entry;
    entry.time = absl::Now();
    entry.coprocessor = name;
    entry.operation = "crash";
    entry.from = State::kRunning;
    entry.to = State::kCrashed;
    entry.result = reason;
    entry.message = slot->last_error ? slot->last_error->message : "";
    if (slot->image) entry.image_sha256 = slot->image->sha256;
    history_->Add(std::move(entry));
    const RecoveryPolicy& policy = options_.recovery;
    if (!policy.restart || slot->restarts >= policy.max_restarts || stopping_) {
      Release(*slot);
      return;
    }
    ++slot->restarts;
    SetState(
        *slot, State::kRecovering,
        absl::StrCat("restart ", slot->restarts, " of ", policy.max_restarts));
  }
  // Backoff doubles with every restart; interrupted when pild stops.
  const absl::Duration backoff =
      options_.recovery.initial_backoff * (1 << (slot->restarts - 1));
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::atomic<bool>* stopping) { return stopping->load(); },
            &stopping_),
        backoff);
    if (stopping_) {
      Release(*slot);
      return;
    }
  }
  CallContext ctx;
  ctx.caller.peer = "recovery";
  Transaction tx(this, slot, ctx);
  const absl::Time start = absl::Now();
  Teardown(*slot, tx);
  FirmwareSource source;
  {
    absl::MutexLock lock(&mu_);
    source = slot->source;
  }
  absl::Status status = DoAuthenticate(*slot, source, tx);
  if (status.ok()) status = DoMap(*slot, tx);
  if (status.ok()) status = DoReset(*slot, absl::ZeroDuration(), tx);
  if (!status.ok()) Teardown(*slot, tx);
  absl::MutexLock lock(&mu_);
  HistoryEntry entry;
  entry.time = start;
  entry.coprocessor = name;
  entry.operation = "recover";
  entry.caller.peer = "recovery";
  entry.from = State::kRecovering;
  if (status.ok()) {
    SetState(*slot, State::kRunning, "recovered");
  } else {
    slot->last_error =
        ErrorRecord{ReasonOf(status), std::string(status.message()), "recover",
                    absl::Now()};
    SetState(*slot, State::kCrashed,
             absl::StrCat("recovery failed: ", ReasonOf(status)));
  }
  entry.to = slot->state;
  entry.result = status.ok() ? "OK" : ReasonOf(status);
  entry.message = std::string(status.message());
  entry.duration = absl::Now() - start;
  if (slot->image) entry.image_sha256 = slot->image->sha256;
  history_->Add(std::move(entry));
  Release(*slot);
}

absl::StatusOr<std::vector<std::string>> LifecycleEngine::Adopt() {
  std::vector<std::string> actions;
  if (platform_ == nullptr) return actions;
  auto observed = platform_->Observe();
  if (!observed.ok()) return observed.status();
  os_owns_iommu_ = !observed->hypervisor;
  platform::Platform& p = *platform_;
  for (const auto& owned : slots_) {
    Slot& slot = *owned;
    if (!slot.node.pas_id) continue;
    const uint32_t pas_id = *slot.node.pas_id;
    Hold hold;
    std::string core_state = "off";
    for (const auto& c : observed->cores) {
      if (c.coprocessor == slot.node.path) core_state = c.state;
    }
    for (const auto& per : observed->peripherals) {
      const bool main = per.pas_id == pas_id;
      const bool dtb = slot.dtb_pas && per.pas_id == *slot.dtb_pas;
      if (!main && !dtb) continue;
      (main ? hold.metadata_main : hold.metadata_dtb) = per.metadata_held;
      (main ? hold.running_main : hold.running_dtb) = per.state == "running";
    }
    if (slot.node.firmware_stream) {
      const auto& stream = *slot.node.firmware_stream;
      for (const auto& s : observed->streams) {
        if (s.owner == "os" && s.sid == stream.sid && s.mask == stream.mask) {
          hold.domain = s.domain;
        }
      }
      for (const auto& m : observed->mappings) {
        if (hold.domain && m.domain == *hold.domain) {
          hold.mappings.push_back({m.iova, m.pa, m.size, m.prot});
        }
      }
    }
    const bool alive = hold.running_main &&
                       (core_state == "running" || core_state == "crashed");
    CallContext ctx;
    ctx.caller.peer = "adopt";
    Transaction tx(this, &slot, ctx);
    {
      absl::MutexLock lock(&mu_);
      slot.hold = hold;
    }
    if (alive) {
      if (hold.metadata_main || hold.metadata_dtb) {
        (void)p.secure_world().ReleaseMetadata(pas_id);
        if (slot.dtb_pas) (void)p.secure_world().ReleaseMetadata(*slot.dtb_pas);
        tx.Update([](Hold& h) { h.metadata_main = h.metadata_dtb = false; });
      }
      absl::MutexLock lock(&mu_);
      LoadedImage adopted;
      adopted.source = "(adopted: running when pild started)";
      slot.image = adopted;
      SetState(slot,
               core_state == "running" ? State::kRunning : State::kCrashed,
               "adopted");
      actions.push_back(absl::StrCat(slot.node.name, ": ", core_state,
                                     " on the hardware; adopted"));
      continue;
    }
    // Whatever a previous pild left half-done is released.
    for (const auto& b : observed->bridges) {
      for (const auto& c : slot.node.carveouts) {
        if (b.base < c.base + c.size && c.base < b.base + b.size) {
          (void)p.secure_world().ShmBridgeDelete(b.handle);
          actions.push_back(
              absl::StrCat(slot.node.name, ": deleted bridge ", Hex(b.handle)));
        }
      }
    }
    const bool leftovers = hold.metadata_main || hold.metadata_dtb ||
                           hold.running_main || hold.running_dtb ||
                           hold.domain.has_value();
    if (leftovers) {
      Teardown(slot, tx);
      for (const Step& step : tx.steps()) {
        actions.push_back(
            absl::StrCat(slot.node.name, ": ", step.name, " ", step.detail));
      }
    }
  }
  return actions;
}

}  // namespace pil::server
