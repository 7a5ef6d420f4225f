// PasCoprocessor: stopping, rolling back, coredumps, and what it holds.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "platform/pas/pas_coprocessor.h"
#include "platform/pas/smmu_rules.h"

namespace pil::pas {

using platform::Steps;

absl::Status PasCoprocessor::Stop(bool running, absl::Duration stop_ack_timeout,
                                  Steps& steps) {
  // A codec booted through its wrapper has no stop handshake: its reset is
  // asserted (the newest claim), then its memory unmapped.
  if (running && !wrapper_) {
    steps.DropEvents();
    absl::Status requested = steps.Step(
        "request_stop",
        [&](std::string* d) {
          *d = "stop bit raised";
          return hw_.signals().RequestStop(node_.path);
        },
        /*even_if_interrupted=*/true);
    if (requested.ok()) {
      (void)steps.Step(
          "wait_stop_ack",
          [&](std::string* d) {
            const absl::Time until = absl::Now() + stop_ack_timeout;
            while (std::optional<platform::Event> event =
                       steps.NextEvent(until)) {
              if (event->kind == platform::Event::Kind::kStopAck) {
                *d = "acknowledged";
                return absl::OkStatus();
              }
              if (event->kind == platform::Event::Kind::kCrash) {
                *d = "crashed while stopping";
                return absl::OkStatus();
              }
            }
            if (!steps.Interrupted().ok()) {
              steps.Note(
                  "stopped waiting for the stop-ack when the call's deadline "
                  "passed or pild began to shut down; shut down anyway");
            } else {
              steps.Note(absl::StrCat("no stop-ack within ",
                                      absl::FormatDuration(stop_ack_timeout),
                                      "; shut down anyway"));
            }
            *d = "timed out; shutting down anyway";
            return absl::OkStatus();
          },
          /*even_if_interrupted=*/true);
    } else {
      steps.Note(absl::StrCat("stop request failed (", requested.message(),
                              "); shut down anyway"));
    }
  }
  return claims_.Release(steps, [](const Claim&) { return true; });
}

void PasCoprocessor::Rollback(Steps& steps) { claims_.Rollback(steps); }

absl::StatusOr<std::string> PasCoprocessor::Coredump(absl::string_view note) {
  std::vector<CoredumpSegment> placed;
  uint16_t machine = 0;
  {
    absl::MutexLock lock(&mu_);
    placed = placed_;
    machine = machine_;
  }
  if (placed.empty()) {
    return Error(absl::StatusCode::kNotFound, "NO_COREDUMP",
                 absl::StrCat(node_.name, " has no firmware in memory to dump"),
                 {{"coprocessor", node_.name}});
  }
  return WriteCoredump(hw_.memory(), machine, placed, std::string(note));
}

platform::HardwareView PasCoprocessor::Held() const { return claims_.View(); }

bool PasCoprocessor::InCarveouts(uint64_t base, uint64_t size) const {
  for (const devicetree::CarveoutRange& c : node_.carveouts) {
    if (base < c.base + c.size && c.base < base + size) return true;
  }
  return false;
}

platform::HardwareView PasCoprocessor::ViewOf(
    const HardwareState& state) const {
  platform::HardwareView view;
  for (const HardwareState::Peripheral& p : state.peripherals) {
    if (node_.pas_id &&
        (p.pas_id == *node_.pas_id || (dtb_pas_ && p.pas_id == *dtb_pas_))) {
      view.metadata_held |= p.metadata_held;
    }
  }
  for (const HardwareState::Bridge& b : state.bridges) {
    if (InCarveouts(b.base, b.size)) view.bridges.push_back(b);
  }
  for (const HardwareState::Mapping& m : state.mappings) {
    const bool our_stream =
        node_.firmware_stream &&
        SmrsOverlap(m.sid, m.mask, node_.firmware_stream->sid,
                    node_.firmware_stream->mask);
    if (our_stream || InCarveouts(m.pa, m.size)) view.mappings.push_back(m);
  }
  return view;
}

absl::StatusOr<platform::HardwareView> PasCoprocessor::Observe() {
  auto state = hw_.Observe();
  if (!state.ok()) return state.status();
  return ViewOf(*state);
}

}  // namespace pil::pas
