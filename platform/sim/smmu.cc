#include "platform/sim/smmu.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/pas/smmu_rules.h"

namespace pil::sim {

using pas::SmrsOverlap;

absl::StatusOr<uint32_t> SmmuModel::Attach(uint32_t sid, uint32_t mask,
                                           Owner owner) {
  for (const auto& [index, bank] : banks_) {
    if (SmrsOverlap(sid, mask, bank.sid, bank.mask)) {
      return Error(
          absl::StatusCode::kFailedPrecondition, "SMR_CONFLICT",
          absl::StrCat("stream-match entry ", Hex(sid), "/", Hex(mask),
                       " overlaps ", Hex(bank.sid), "/", Hex(bank.mask),
                       " of context bank ", index, " (owned by the ",
                       bank.owner == Owner::kOs ? "OS" : "hypervisor", ")"),
          {{"sid", Hex(sid)},
           {"mask", Hex(mask)},
           {"owner", platform::MappingOwnerName(bank.owner)}});
    }
  }
  const uint32_t index = next_bank_++;
  Bank& bank = banks_[index];
  bank.sid = sid;
  bank.mask = mask;
  bank.owner = owner;
  return index;
}

absl::StatusOr<SmmuModel::Bank*> SmmuModel::Find(uint32_t bank) {
  auto it = banks_.find(bank);
  if (it == banks_.end()) {
    return Error(absl::StatusCode::kNotFound, "NO_SUCH_DOMAIN",
                 absl::StrCat("no context bank ", bank));
  }
  return &it->second;
}

absl::Status SmmuModel::Detach(uint32_t bank) {
  auto found = Find(bank);
  if (!found.ok()) return found.status();
  banks_.erase(bank);
  return absl::OkStatus();
}

absl::Status SmmuModel::Map(uint32_t index, uint64_t iova, uint64_t pa,
                            uint64_t size, uint32_t prot) {
  auto bank = Find(index);
  if (!bank.ok()) return bank.status();
  if (iova % kPageSize || pa % kPageSize || size % kPageSize || size == 0) {
    return Error(
        absl::StatusCode::kInvalidArgument, "MISALIGNED",
        absl::StrCat("map iova ", Hex(iova), " pa ", Hex(pa), " size ",
                     Hex(size), ": all must be non-zero multiples of 4 KiB"));
  }
  if (iova + size < iova || pa + size < pa) {
    return Error(absl::StatusCode::kInvalidArgument, "MISALIGNED",
                 "mapping wraps around the address space");
  }
  auto& t = (*bank)->translations;
  auto next = t.lower_bound(iova);
  const bool overlaps_next = next != t.end() && next->first < iova + size;
  bool overlaps_prev = false;
  if (next != t.begin()) {
    auto prev = std::prev(next);
    overlaps_prev = prev->first + prev->second.size > iova;
  }
  if (overlaps_next || overlaps_prev) {
    return Error(absl::StatusCode::kAlreadyExists, "MAPPING_EXISTS",
                 absl::StrCat("iova [", Hex(iova), ", +", Hex(size),
                              ") of context bank ", index,
                              " is already mapped (EEXIST)"),
                 {{"iova", Hex(iova)}});
  }
  t[iova] = Translation{size, pa, prot};
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SmmuModel::Unmap(uint32_t index, uint64_t iova,
                                          uint64_t size) {
  auto bank = Find(index);
  if (!bank.ok()) return bank.status();
  auto& t = (*bank)->translations;
  const uint64_t end = iova + size;
  uint64_t unmapped = 0;
  auto it = t.lower_bound(iova);
  if (it != t.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.size > iova) it = prev;
  }
  while (it != t.end() && it->first < end) {
    const uint64_t start = it->first;
    const Translation tr = it->second;
    it = t.erase(it);
    // Keep the parts outside [iova, end).
    if (start < iova) {
      t[start] = Translation{iova - start, tr.pa, tr.prot};
    }
    if (start + tr.size > end) {
      t[end] =
          Translation{start + tr.size - end, tr.pa + (end - start), tr.prot};
    }
    const uint64_t lo = std::max(start, iova);
    const uint64_t hi = std::min(start + tr.size, end);
    unmapped += hi - lo;
    it = t.lower_bound(hi);
  }
  return unmapped;
}

SmmuModel::Result SmmuModel::Translate(const Access& access,
                                       const std::string& coprocessor) {
  Result result;
  const Bank* bank = nullptr;
  for (const auto& [index, b] : banks_) {
    if (SmrsOverlap(access.sid, 0, b.sid, b.mask)) {
      bank = &b;
      break;
    }
  }
  if (bank == nullptr) {
    result.fault = platform::FaultKind::kUnmatchedStream;
  } else {
    auto it = bank->translations.upper_bound(access.iova);
    if (it == bank->translations.begin() ||
        std::prev(it)->first + std::prev(it)->second.size <= access.iova) {
      result.fault = platform::FaultKind::kTranslation;
    } else {
      const auto& [start, tr] = *std::prev(it);
      const bool denied =
          (access.write && !(tr.prot & platform::kIommuWrite)) ||
          (!access.write && !(tr.prot & platform::kIommuRead)) ||
          (access.exec && (tr.prot & platform::kIommuNoExec)) ||
          (!access.privileged && (tr.prot & platform::kIommuPriv));
      if (denied) {
        result.fault = platform::FaultKind::kPermission;
      } else {
        result.ok = true;
        result.pa = tr.pa + (access.iova - start);
        return result;
      }
    }
  }
  pas::HardwareState::Fault fault;
  fault.fault.sid = access.sid;
  fault.fault.iova = access.iova;
  fault.fault.access = access.write  ? platform::AccessType::kWrite
                       : access.exec ? platform::AccessType::kExecute
                                     : platform::AccessType::kRead;
  fault.fault.kind = result.fault;
  fault.coprocessor = coprocessor;
  fault.time = absl::Now();
  faults_.push_back(fault);
  return result;
}

bool SmmuModel::Routes(uint32_t sid, Owner* owner) const {
  for (const auto& [index, b] : banks_) {
    if (SmrsOverlap(sid, 0, b.sid, b.mask)) {
      if (owner != nullptr) *owner = b.owner;
      return true;
    }
  }
  return false;
}

std::vector<pas::HardwareState::Mapping> SmmuModel::Mappings() const {
  std::vector<pas::HardwareState::Mapping> out;
  for (const auto& [index, bank] : banks_) {
    for (const auto& [iova, tr] : bank.translations) {
      pas::HardwareState::Mapping m;
      m.domain = index;
      m.sid = bank.sid;
      m.mask = bank.mask;
      m.iova = iova;
      m.pa = tr.pa;
      m.size = tr.size;
      m.prot = tr.prot;
      m.owner = bank.owner;
      out.push_back(m);
    }
  }
  return out;
}

std::vector<pas::HardwareState::Stream> SmmuModel::Streams() const {
  std::vector<pas::HardwareState::Stream> out;
  for (const auto& [index, bank] : banks_) {
    out.push_back({index, bank.sid, bank.mask, bank.owner});
  }
  return out;
}

}  // namespace pil::sim
