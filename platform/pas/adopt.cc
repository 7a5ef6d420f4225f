// PasCoprocessor::Adopt: what a previous pild left on the hardware.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hex.h"
#include "platform/pas/pas_coprocessor.h"

namespace pil::pas {

using platform::Steps;

bool PasCoprocessor::ClaimWhatIsHeld(const HardwareState& state) {
  const HardwareState* observed = &state;
  bool running_main = false;
  for (const HardwareState::Peripheral& p : observed->peripherals) {
    if (wrapper_) break;  // no secure world holds anything for it
    const bool ours =
        p.pas_id == *node_.pas_id || (dtb_pas_ && p.pas_id == *dtb_pas_);
    if (!ours || !p.metadata_held) continue;
    Claim claim;
    claim.kind = Claim::Kind::kMetadata;
    claim.pas_id = p.pas_id;
    claims_.Add(claim, "release_metadata", absl::StrCat("PAS id ", p.pas_id),
                [this, id = p.pas_id] {
                  return hw_.secure_world().ReleaseMetadata(id);
                });
  }
  if (node_.firmware_stream) {
    const devicetree::StreamId& stream = *node_.firmware_stream;
    for (const HardwareState::Stream& s : observed->streams) {
      if (s.owner != MappingOwner::kOs || s.sid != stream.sid ||
          s.mask != stream.mask) {
        continue;
      }
      Claim domain;
      domain.kind = Claim::Kind::kDomain;
      domain.domain = s.domain;
      domain.sid = s.sid;
      domain.mask = s.mask;
      claims_.Add(domain, "iommu_detach",
                  absl::StrCat("translation context ", s.domain),
                  [this, id = s.domain] { return hw_.iommu().Detach(id); });
      for (const HardwareState::Mapping& m : observed->mappings) {
        if (m.domain != s.domain) continue;
        Claim mapping;
        mapping.kind = Claim::Kind::kMapping;
        mapping.domain = m.domain;
        mapping.sid = m.sid;
        mapping.mask = m.mask;
        mapping.iova = m.iova;
        mapping.address = m.pa;
        mapping.size = m.size;
        mapping.prot = m.prot;
        claims_.Add(mapping, "smmu_unmap",
                    absl::StrCat("iova ", Hex(m.iova), " +", Hex(m.size)),
                    [this, m]() -> absl::Status {
                      auto unmapped =
                          hw_.iommu().Unmap(m.domain, m.iova, m.size);
                      return unmapped.status();
                    });
      }
    }
  }
  for (const HardwareState::Bridge& b : observed->bridges) {
    if (!InCarveouts(b.base, b.size)) continue;
    Claim bridge;
    bridge.kind = Claim::Kind::kBridge;
    bridge.handle = b.handle;
    bridge.address = b.base;
    bridge.size = b.size;
    claims_.Add(
        bridge, "shm_bridge_delete", absl::StrCat("bridge ", Hex(b.handle)),
        [this, h = b.handle] { return hw_.secure_world().ShmBridgeDelete(h); });
  }
  if (wrapper_) {
    // Unreadable counts as out of reset: claimed, so a rollback asserts it
    // before unmapping, but not adopted as running.
    const std::optional<bool> out = WrapperOutOfReset();
    if (!out || *out) ClaimWrapperReset();
    running_main = out.value_or(false);
  }
  for (const HardwareState::Peripheral& p : observed->peripherals) {
    if (wrapper_) break;
    const bool ours =
        p.pas_id == *node_.pas_id || (dtb_pas_ && p.pas_id == *dtb_pas_);
    if (!ours || p.state != PasState::kRunning) continue;
    running_main |= p.pas_id == *node_.pas_id;
    Claim claim;
    claim.kind = Claim::Kind::kRunning;
    claim.pas_id = p.pas_id;
    claims_.Add(
        claim, "pas_shutdown", absl::StrCat("PAS id ", p.pas_id),
        [this, id = p.pas_id] { return hw_.secure_world().PasShutdown(id); });
  }
  return running_main;
}

CoreState PasCoprocessor::CoreOf(const HardwareState& state) const {
  for (const HardwareState::Core& c : state.cores) {
    if (c.coprocessor == node_.path) return c.state;
  }
  return CoreState::kOff;
}

CoreState PasCoprocessor::AwaitBoot(absl::Duration timeout, Steps& steps) {
  CoreState core = CoreState::kBooting;
  (void)steps.Step("wait_ready", [&](std::string* d) {
    const absl::Time until = absl::Now() + timeout;
    while (core == CoreState::kBooting && absl::Now() < until &&
           steps.Interrupted().ok()) {
      absl::SleepFor(absl::Milliseconds(10));
      auto observed = hw_.Observe();
      if (!observed.ok()) return observed.status();
      core = CoreOf(*observed);
    }
    *d = absl::StrCat("released from reset before pild restarted; now ",
                      CoreStateName(core));
    return absl::OkStatus();
  });
  return core;
}

absl::StatusOr<platform::Adoption> PasCoprocessor::Adopt(
    const platform::AdoptRequest& request, Steps& steps) {
  auto observed = hw_.Observe();
  if (!observed.ok()) return observed.status();
  os_owns_iommu_ = !observed->hypervisor;
  platform::Adoption out;
  CoreState core = CoreOf(*observed);
  const bool running_main = ClaimWhatIsHeld(*observed);
  // A stop pild accepted (or a core asked to stop) is finished.
  const bool stop = request.interrupted == "stop" ||
                    core == CoreState::kStopping || core == CoreState::kStopped;
  if (running_main && core == CoreState::kBooting && !stop) {
    core = AwaitBoot(request.ready_timeout, steps);
  }
  const bool alive = running_main && (core == CoreState::kRunning ||
                                      core == CoreState::kCrashed);
  if (alive && !stop) {
    // A running core keeps its reset released and its mappings; only the
    // metadata (released after ready) and bridges (removed after
    // authentication) are leftovers.
    (void)claims_.Release(steps, [](const Claim& c) {
      return c.kind == Claim::Kind::kMetadata || c.kind == Claim::Kind::kBridge;
    });
    out.found = core == CoreState::kRunning
                    ? platform::Adoption::Found::kRunning
                    : platform::Adoption::Found::kCrashed;
    out.actions.push_back(absl::StrCat(node_.name, ": ", CoreStateName(core),
                                       " on the hardware; adopted"));
    return out;
  }
  if (stop && alive && core == CoreState::kRunning) {
    // Asked to stop as a Stop asks, then everything released.
    (void)Stop(/*running=*/true, request.stop_ack_timeout, steps);
  }
  if (!claims_.empty()) claims_.Rollback(steps);
  if (!claims_.empty()) {
    // What could not be released keeps the core from being booted over.
    out.found = platform::Adoption::Found::kCrashed;
    out.actions.push_back(absl::StrCat(
        node_.name, ": could not release everything a previous pild left"));
  }
  return out;
}

}  // namespace pil::pas
