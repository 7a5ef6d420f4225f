// SimSoc: memory the secure world may use (SHM bridges), the SMMU as the
// OS programs it, and the hypervisor's mappings.
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/pas/smmu_rules.h"
#include "platform/sim/soc.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {

bool SimSoc::BridgeCovers(uint64_t base, uint64_t size) const {
  for (const auto& [handle, b] : bridges_) {
    if (!b.hypervisor && b.base <= base && base + size <= b.base + b.size) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<uint64_t> SimSoc::AddBridge(uint64_t base, uint64_t size,
                                           bool hypervisor) {
  if (size == 0 || base + size < base) {
    return Scm(absl::StatusCode::kInvalidArgument, "SHM_BRIDGE_INVALID",
               kScmInvalidArgument, "an SHM bridge needs a non-empty range");
  }
  for (const auto& [handle, b] : bridges_) {
    if (base < b.base + b.size && b.base < base + size) {
      return Scm(absl::StatusCode::kAlreadyExists, "SHM_BRIDGE_OVERLAP",
                 kScmInvalidArgument,
                 absl::StrCat("SHM bridge [", Hex(base), ", +", Hex(size),
                              ") overlaps bridge ", Hex(handle), " [",
                              Hex(b.base), ", +", Hex(b.size), ")",
                              b.hypervisor ? " of the hypervisor" : ""),
                 {{"handle", Hex(handle)}});
    }
  }
  const uint64_t handle = next_bridge_++;
  bridges_[handle] = Bridge{base, size, hypervisor};
  return handle;
}

absl::Status SimSoc::HypervisorMap(Peripheral& p) {
  Core& core = *p.core;
  auto bank = smmu_.Attach(core.sid, core.mask, SmmuModel::Owner::kHypervisor);
  if (!bank.ok()) {
    return Scm(
        absl::StatusCode::kFailedPrecondition, "HYPERVISOR_CONFLICT", kScmError,
        absl::StrCat("the hypervisor cannot map stream ", Hex(core.sid),
                     " for PAS id ", p.pas_id, ": ", bank.status().message(),
                     "; the OS must not map a stream the hypervisor "
                     "manages"),
        {{"sid", Hex(core.sid)}});
  }
  absl::Status mapped =
      smmu_.Map(*bank, core.window.iova, p.carveout_base,
                PageAlignUp(p.carveout_size), core.window.prot);
  if (!mapped.ok()) {
    (void)smmu_.Detach(*bank);
    return mapped;
  }
  p.hypervisor_bank = *bank;
  return absl::OkStatus();
}

void SimSoc::HypervisorUnmap(Peripheral& p) {
  if (p.hypervisor_bank) {
    (void)smmu_.Detach(*p.hypervisor_bank);
    p.hypervisor_bank.reset();
  }
}

absl::StatusOr<uint64_t> SimSoc::ShmBridgeCreate(uint64_t base, uint64_t size) {
  absl::MutexLock lock(&mu_);
  const std::string detail = absl::StrCat(Hex(base), " +", Hex(size));
  for (auto& [pas_id, p] : peripherals_) {
    if (p->carveout_base <= base &&
        base < p->carveout_base + p->carveout_size) {
      if (absl::Status s = InjectedScmFailure("shm_bridge_create", *p);
          !s.ok()) {
        return Log("shm_bridge_create", pas_id, detail, s);
      }
    }
  }
  auto handle = AddBridge(base, size, false);
  (void)Log("shm_bridge_create", 0, detail, handle.status());
  return handle;
}

absl::Status SimSoc::ShmBridgeDelete(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = bridges_.find(handle);
  if (it == bridges_.end() || it->second.hypervisor) {
    return Log(
        "shm_bridge_delete", 0, Hex(handle),
        Scm(absl::StatusCode::kNotFound, "NO_SUCH_BRIDGE", kScmInvalidArgument,
            absl::StrCat("no SHM bridge ", Hex(handle))));
  }
  bridges_.erase(it);
  return Log("shm_bridge_delete", 0, Hex(handle), absl::OkStatus());
}

absl::StatusOr<uint32_t> SimSoc::Attach(uint32_t sid, uint32_t mask) {
  absl::MutexLock lock(&mu_);
  auto bank = smmu_.Attach(sid, mask, SmmuModel::Owner::kOs);
  if (bank.ok()) os_banks_.insert(*bank);
  return bank;
}

absl::Status SimSoc::Detach(uint32_t domain) {
  absl::MutexLock lock(&mu_);
  if (!os_banks_.count(domain)) {
    return Error(absl::StatusCode::kNotFound, "NO_SUCH_DOMAIN",
                 absl::StrCat("no OS translation context ", domain));
  }
  os_banks_.erase(domain);
  return smmu_.Detach(domain);
}

absl::Status SimSoc::Map(uint32_t domain, uint64_t iova, uint64_t pa,
                         uint64_t size, uint32_t prot) {
  absl::MutexLock lock(&mu_);
  if (!os_banks_.count(domain)) {
    return Error(absl::StatusCode::kNotFound, "NO_SUCH_DOMAIN",
                 absl::StrCat("no OS translation context ", domain));
  }
  return smmu_.Map(domain, iova, pa, size, prot);
}

absl::StatusOr<uint64_t> SimSoc::Unmap(uint32_t domain, uint64_t iova,
                                       uint64_t size) {
  absl::MutexLock lock(&mu_);
  if (!os_banks_.count(domain)) {
    return Error(absl::StatusCode::kNotFound, "NO_SUCH_DOMAIN",
                 absl::StrCat("no OS translation context ", domain));
  }
  return smmu_.Unmap(domain, iova, size);
}

}  // namespace pil::sim
