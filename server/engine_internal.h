// The engine's private parts, shared by its files (engine.cc: slots and
// snapshots; engine_transitions.cc: transitions; engine_crashes.cc: events,
// crashes and recovery; engine_adopt.cc: adoption; transaction.cc).
#ifndef PILD_SERVER_ENGINE_INTERNAL_H_
#define PILD_SERVER_ENGINE_INTERNAL_H_

#include <atomic>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "platform/backend.h"
#include "server/engine.h"

namespace pil::server {

// One managed coprocessor.
struct LifecycleEngine::Slot {
  devicetree::CoprocessorNode node;
  // The backend's operations; null when it cannot drive this coprocessor,
  // and then `unsupported` says why.
  platform::CoprocessorOps* ops = nullptr;
  absl::Status unsupported;

  // Guarded by the engine's mu_.
  State state = State::kOffline;
  absl::Time since;
  uint32_t crash_count = 0;
  std::optional<ErrorRecord> last_error;
  std::optional<LoadedImage> image;
  FirmwareSource source;    // what it last booted, for recovery
  RecoveryPolicy recovery;  // EngineOptions.recovery until changed
  // A transition (or recovery) holds the slot; events then queue here.
  bool busy = false;
  // A Stop asked the recovery holding the slot to give up (cleared when it
  // releases the slot).
  std::atomic<bool> abandon_recovery{false};
  std::deque<platform::Event> events;
  uint32_t restarts = 0;
  std::deque<Coredump> coredumps;
  // The last crash's coredump was kept (else a Stop looks for it: some
  // backends have one only after the core is restarted or stopped).
  bool crash_dumped = true;
};

// One transition's steps, cancellation and events: what the backend's
// operations see as platform::Steps.
class LifecycleEngine::Transaction : public platform::Steps {
 public:
  Transaction(LifecycleEngine* engine, Slot* slot, const CallContext& ctx)
      : engine_(engine), slot_(slot), ctx_(ctx) {}

  // platform::Steps
  absl::Status Step(absl::string_view name,
                    const std::function<absl::Status(std::string*)>& fn,
                    bool even_if_interrupted = false) override;
  absl::Status Interrupted() const override;
  std::optional<platform::Event> NextEvent(absl::Time until) override;
  void DropEvents() override;
  void Note(absl::string_view note) override;
  absl::Time deadline() const override { return ctx_.deadline; }

  // The state the coprocessor enters (under the engine's lock).
  void Enter(State state, const std::string& operation);

  // The images LoadImages read for this transition, as a boot takes them.
  std::optional<image::FirmwareImage> main_image, dtb_image;
  platform::BootImages images(const Slot& slot) const;
  // Records what the backend verified as the coprocessor's loaded image.
  void Keep(Slot& slot, const platform::VerifiedImage& verified);
  // The journal (when there is one): a step begins; the image it boots.
  void JournalStep(absl::string_view step);
  void JournalBooting(const Slot& slot, const LoadedImage& image);

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

// The image `requested` names for `node`: the node's first firmware name
// when it names none (FIRMWARE_NOT_FOUND when the node has none either).
absl::StatusOr<FirmwareSource> SourceFor(
    const devicetree::CoprocessorNode& node, const FirmwareSource& requested);
// Whether a boot of `node` also loads its DTB image (firmware_names[1]
// into carveouts[1]).
bool LoadsDtb(const devicetree::CoprocessorNode& node);
// A "load" step's detail: "NAME: N bytes (split), M program headers".
std::string LoadDetail(const FirmwareSource& from,
                       const image::FirmwareImage& image);

// FAILED_PRECONDITION WRONG_STATE: `operation` of `name` needs one of
// `from`, and it is `state`.
absl::Status WrongState(absl::string_view operation, absl::string_view name,
                        State state, const std::vector<State>& from);

}  // namespace pil::server

#endif  // PILD_SERVER_ENGINE_INTERNAL_H_
