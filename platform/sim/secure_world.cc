// SimSoc: the secure world (PAS calls) and its call log.
#include <atomic>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/hex.h"
#include "platform/image/hash_segment.h"
#include "platform/image/inspect.h"
#include "platform/image/layout.h"
#include "platform/image/signature.h"
#include "platform/pas/resource_table.h"
#include "platform/sim/soc.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {
namespace {

// Secure-world calls kept for Observe().
constexpr size_t kCallLogSize = 256;

}  // namespace

absl::Status Scm(absl::StatusCode code, absl::string_view reason,
                 int64_t scm_status, std::string message,
                 ErrorMetadata metadata) {
  metadata["scm_status"] = absl::StrCat(scm_status);
  return Error(code, reason, message, std::move(metadata));
}

int64_t ScmStatusOf(const absl::Status& status) {
  if (status.ok()) return 0;
  auto meta = MetadataOf(status);
  int64_t value = kScmError;
  if (meta.count("scm_status") &&
      !absl::SimpleAtoi(meta["scm_status"], &value)) {
    value = kScmError;
  }
  return value;
}

absl::Status SimSoc::Log(const char* call, uint32_t pas_id, std::string detail,
                         absl::Status status) {
  pas::HardwareState::Call entry;
  entry.call = call;
  entry.pas_id = pas_id;
  entry.detail = std::move(detail);
  entry.status = ScmStatusOf(status);
  entry.time = absl::Now();
  calls_.push_back(std::move(entry));
  if (calls_.size() > kCallLogSize) calls_.pop_front();
  return status;
}

absl::StatusOr<bool> SimSoc::PasIsSupported(uint32_t pas_id) {
  absl::MutexLock lock(&mu_);
  const bool supported = FindPeripheral(pas_id) != nullptr;
  (void)Log("pas_is_supported", pas_id, supported ? "yes" : "no",
            absl::OkStatus());
  return supported;
}

absl::Status SimSoc::PasInitImage(uint32_t pas_id, absl::string_view metadata) {
  absl::MutexLock lock(&mu_);
  const std::string detail =
      absl::StrCat("metadata ", metadata.size(), " bytes");
  Peripheral* p = FindPeripheral(pas_id);
  if (p == nullptr) {
    return Log(
        "pas_init_image", pas_id, detail,
        Scm(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED", kScmNotSupported,
            absl::StrCat("PAS id ", pas_id,
                         " is not supported by "
                         "the secure world of this SoC")));
  }
  if (absl::Status s = InjectedScmFailure("pas_init_image", *p); !s.ok()) {
    return Log("pas_init_image", pas_id, detail, s);
  }
  if (p->state != pas::PasState::kIdle) {
    return Log(
        "pas_init_image", pas_id, detail,
        Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE", kScmBusy,
            absl::StrCat("init_image for PAS id ", pas_id, " while it is ",
                         pas::PasStateName(p->state),
                         p->metadata ? " (metadata held; release it "
                                       "or shut down first)"
                                     : ""),
            {{"state", pas::PasStateName(p->state)}}));
  }
  auto invalid = [&](absl::Status cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return Log("pas_init_image", pas_id, detail,
               Scm(absl::StatusCode::kInvalidArgument, "METADATA_INVALID",
                   kScmInvalidArgument,
                   absl::StrCat("the secure world rejects the metadata of PAS "
                                "id ",
                                pas_id, ": ", cause.message()),
                   {{"cause", ReasonOf(cause)}}));
  };
  auto elf = image::ParseElfHeaders(metadata);
  if (!elf.ok()) return invalid(elf.status());
  const auto& phdrs = elf->phdrs;
  size_t hash_index = 0;
  for (size_t i = 1; i < phdrs.size(); ++i) {
    if (phdrs[i].is_hash()) {
      hash_index = i;
      break;
    }
  }
  if (phdrs.size() < 2 || hash_index == 0 ||
      phdrs[0].filesz > metadata.size() ||
      phdrs[0].filesz + phdrs[hash_index].filesz != metadata.size()) {
    return invalid(absl::InvalidArgumentError(
        "expected the ELF and program headers (program header 0) followed "
        "by exactly the hash segment"));
  }
  auto hs = image::ParseHashSegment(
      metadata.substr(static_cast<size_t>(phdrs[0].filesz)), phdrs.size());
  if (!hs.ok()) return invalid(hs.status());
  auto layout = image::ComputeLayout(phdrs);
  if (!layout.ok()) return invalid(layout.status());

  // Authenticate the hash table: signature, chain, fused root, identity.
  auto rejected =
      [&](absl::string_view reason, std::string message,
          ErrorMetadata meta = {}) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        meta["pas_id"] = absl::StrCat(pas_id);
        return Log(
            "pas_init_image", pas_id, detail,
            Scm(absl::StatusCode::kPermissionDenied, reason, kScmError,
                absl::StrCat("the secure world rejects the image for PAS id ",
                             pas_id, ": ", message),
                std::move(meta)));
      };
  if (hs->signers.empty()) {
    return rejected("SIGNATURE_MISSING", "it is not signed");
  }
  std::vector<image::SignerVerdict> verdicts;
  for (const image::SignerBlobs& signer : hs->signers) {
    image::SignerVerdict v = image::VerifySigner(signer, hs->signed_region);
    if (!v.signature_ok) {
      return rejected(
          "SIGNATURE_INVALID",
          absl::StrCat(signer.role, " signature: ", v.signature_problem),
          {{"signer", signer.role}});
    }
    if (!v.chain_ok) {
      return rejected("CHAIN_BROKEN",
                      absl::StrCat(signer.role, " chain: ", v.chain_problem),
                      {{"signer", signer.role},
                       {"certificate", absl::StrCat(v.broken_certificate)}});
    }
    if (!trusted_roots_.count(v.root_sha256)) {
      return rejected(
          "ROOT_NOT_TRUSTED",
          absl::StrCat(signer.role, " root ", v.root_sha256,
                       " is not among the SoC's fused root hashes"),
          {{"signer", signer.role}, {"root_sha256", v.root_sha256}});
    }
    verdicts.push_back(std::move(v));
  }
  const image::ImageIdentity id = image::IdentityOf(*hs, verdicts);
  if (p->image_type && id.image_type() != *p->image_type) {
    return rejected(
        "SW_ID_MISMATCH",
        absl::StrCat("SW_ID image type ", Hex(id.image_type()), ", expected ",
                     Hex(*p->image_type), " for PAS id ", pas_id),
        {{"expected", Hex(*p->image_type)}, {"found", Hex(id.image_type())}});
  }
  if (id.anti_rollback_version < p->anti_rollback_minimum) {
    return rejected(
        "ROLLBACK",
        absl::StrCat("anti-rollback version ", id.anti_rollback_version,
                     " is below the fused minimum ", p->anti_rollback_minimum),
        {{"expected", absl::StrCat(p->anti_rollback_minimum)},
         {"found", absl::StrCat(id.anti_rollback_version)}});
  }

  p->metadata = std::make_shared<const std::string>(metadata);
  p->elf = std::move(*elf);
  p->layout = *layout;
  p->mem_setup.reset();
  p->state = pas::PasState::kInitialized;
  ++p->generation;
  return Log("pas_init_image", pas_id, detail, absl::OkStatus());
}

absl::Status SimSoc::PasMemSetup(uint32_t pas_id, uint64_t address,
                                 uint64_t size) {
  absl::MutexLock lock(&mu_);
  const std::string detail =
      absl::StrCat("address ", Hex(address), " size ", Hex(size));
  Peripheral* p = FindPeripheral(pas_id);
  if (p == nullptr) {
    return Log(
        "pas_mem_setup", pas_id, detail,
        Scm(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED", kScmNotSupported,
            absl::StrCat("PAS id ", pas_id, " is not supported")));
  }
  if (absl::Status s = InjectedScmFailure("pas_mem_setup", *p); !s.ok()) {
    return Log("pas_mem_setup", pas_id, detail, s);
  }
  if (p->state != pas::PasState::kInitialized) {
    return Log(
        "pas_mem_setup", pas_id, detail,
        Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE", kScmBusy,
            absl::StrCat("mem_setup for PAS id ", pas_id, " while it is ",
                         pas::PasStateName(p->state), "; expected initialized"),
            {{"state", pas::PasStateName(p->state)}}));
  }
  if (address < p->carveout_base || size > p->carveout_size ||
      address - p->carveout_base > p->carveout_size - size) {
    return Log("pas_mem_setup", pas_id, detail,
               Scm(absl::StatusCode::kInvalidArgument,
                   "SEGMENT_OUTSIDE_CARVEOUT", kScmInvalidAddress,
                   absl::StrCat("mem_setup [", Hex(address), ", +", Hex(size),
                                ") is outside PAS id ", pas_id, "'s memory [",
                                Hex(p->carveout_base), ", +",
                                Hex(p->carveout_size), ")")));
  }
  p->mem_setup = std::make_pair(address, size);
  return Log("pas_mem_setup", pas_id, detail, absl::OkStatus());
}

absl::Status SimSoc::AuthenticateSegments(const Peripheral& p,
                                          const std::string& metadata,
                                          uint64_t placement_base) const {
  const auto& phdrs = p.elf.phdrs;
  const size_t header_size = static_cast<size_t>(phdrs[0].filesz);
  size_t hash_index = 0;
  for (size_t i = 1; i < phdrs.size(); ++i) {
    if (phdrs[i].is_hash()) {
      hash_index = i;
      break;
    }
  }
  auto hs = image::ParseHashSegment(
      absl::string_view(metadata).substr(header_size), phdrs.size());
  if (!hs.ok()) return hs.status();
  auto mismatch = [&](size_t i, std::string message) {
    return Scm(
        absl::StatusCode::kPermissionDenied, "HASH_MISMATCH", kScmError,
        absl::StrCat("the secure world rejects the image for PAS id ", p.pas_id,
                     ": ", message),
        {{"segment", absl::StrCat(i)}, {"pas_id", absl::StrCat(p.pas_id)}});
  };
  if (image::Digest(hs->algorithm, absl::string_view(metadata).substr(
                                       0, header_size)) != hs->Entry(0)) {
    return mismatch(0, "the headers do not match hash-table entry 0");
  }
  const uint64_t reloc = image::RelocationBase(p.layout, p.carveout_base);
  // Hash segments in parallel, largest first, as the secure world's cores
  // would.
  std::vector<size_t> order;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    if (i != hash_index && phdrs[i].loadable() && phdrs[i].filesz != 0) {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return phdrs[a].filesz > phdrs[b].filesz;
  });
  std::vector<int> verdict(phdrs.size(), 1);  // 1 ok, 0 mismatch, -1 outside
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < order.size(); k = next++) {
      const size_t i = order[k];
      const uint64_t pa = placement_base + (phdrs[i].paddr - reloc);
      auto bytes = memory_->Map(pa, phdrs[i].filesz);
      if (!bytes.ok()) {
        verdict[i] = -1;
        continue;
      }
      const absl::string_view data(reinterpret_cast<const char*>(bytes->data()),
                                   bytes->size());
      verdict[i] = image::Digest(hs->algorithm, data) == hs->Entry(i) ? 1 : 0;
    }
  };
  std::thread helper(worker);
  worker();
  helper.join();
  for (size_t i = 0; i < phdrs.size(); ++i) {
    if (verdict[i] == -1) {
      return Scm(absl::StatusCode::kInvalidArgument, "SEGMENT_OUTSIDE_CARVEOUT",
                 kScmInvalidAddress,
                 absl::StrCat("segment ", i, " of PAS id ", p.pas_id,
                              " lies outside its memory"),
                 {{"segment", absl::StrCat(i)}});
    }
    if (verdict[i] == 0) {
      return mismatch(i, absl::StrCat("segment ", i,
                                      " in memory does not match hash-table "
                                      "entry ",
                                      i, " (changed after init_image?)"));
    }
  }
  return absl::OkStatus();
}

absl::Status SimSoc::PasAuthAndReset(uint32_t pas_id) {
  std::shared_ptr<const std::string> metadata;
  uint64_t placement = 0;
  uint64_t generation = 0;
  std::optional<uint64_t> hypervisor_bridge;
  Peripheral* p = nullptr;
  {
    absl::MutexLock lock(&mu_);
    p = FindPeripheral(pas_id);
    if (p == nullptr) {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED",
                     kScmNotSupported,
                     absl::StrCat("PAS id ", pas_id, " is not supported")));
    }
    if (absl::Status s = InjectedScmFailure("pas_auth_and_reset", *p);
        !s.ok()) {
      return Log("pas_auth_and_reset", pas_id, "", s);
    }
    if (p->state != pas::PasState::kInitialized) {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE",
                     kScmBusy,
                     absl::StrCat("auth_and_reset for PAS id ", pas_id,
                                  " while it is ", pas::PasStateName(p->state),
                                  p->state == pas::PasState::kIdle
                                      ? "; init_image comes first"
                                      : ""),
                     {{"state", pas::PasStateName(p->state)}}));
    }
    if (p->layout.relocatable && !p->mem_setup) {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kFailedPrecondition, "MEM_SETUP_MISSING",
                     kScmInvalidArgument,
                     absl::StrCat("PAS id ", pas_id,
                                  " has a relocatable image but no mem_setup "
                                  "said where it was loaded")));
    }
    const uint64_t base = p->PlacementBase();
    const uint64_t room = p->carveout_size - (base - p->carveout_base);
    absl::Status fits =
        image::CheckFitsCarveout(p->layout, p->elf.phdrs, base, room);
    if (!fits.ok()) {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kInvalidArgument,
                     "SEGMENT_OUTSIDE_CARVEOUT", kScmInvalidAddress,
                     std::string(fits.message()), MetadataOf(fits)));
    }
    if (hypervisor_) {
      // The hypervisor traps the call: it bridges the carveout while the
      // secure world authenticates and maps the core's stream.
      auto bridge = AddBridge(p->carveout_base, p->carveout_size, true);
      if (!bridge.ok()) {
        return Log(
            "pas_auth_and_reset", pas_id, "",
            Scm(absl::StatusCode::kFailedPrecondition, "HYPERVISOR_CONFLICT",
                kScmError,
                absl::StrCat("the hypervisor cannot bridge PAS id ", pas_id,
                             "'s memory: ", bridge.status().message())));
      }
      hypervisor_bridge = *bridge;
      if (!p->dtb) {
        if (absl::Status s = HypervisorMap(*p); !s.ok()) {
          bridges_.erase(*hypervisor_bridge);
          return Log("pas_auth_and_reset", pas_id, "", s);
        }
      }
    } else if (!BridgeCovers(p->carveout_base, p->carveout_size)) {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kFailedPrecondition,
                     "SHM_BRIDGE_MISSING", kScmError,
                     absl::StrCat("no SHM bridge covers PAS id ", pas_id,
                                  "'s memory [", Hex(p->carveout_base), ", +",
                                  Hex(p->carveout_size),
                                  "): with Linux owning the IOMMU the secure "
                                  "world can only use bridged memory")));
    }
    metadata = p->metadata;
    placement = base;
    generation = p->generation;
  }

  absl::Status verified = AuthenticateSegments(*p, *metadata, placement);

  absl::MutexLock lock(&mu_);
  if (hypervisor_bridge) bridges_.erase(*hypervisor_bridge);
  if (p->generation != generation || p->state != pas::PasState::kInitialized) {
    HypervisorUnmap(*p);
    return Log("pas_auth_and_reset", pas_id, "",
               Scm(absl::StatusCode::kAborted, "PAS_WRONG_STATE", kScmBusy,
                   absl::StrCat("PAS id ", pas_id,
                                " changed state during auth_and_reset")));
  }
  if (!verified.ok()) {
    HypervisorUnmap(*p);
    return Log("pas_auth_and_reset", pas_id, "", verified);
  }
  p->state = pas::PasState::kRunning;
  if (!p->dtb) ReleaseReset(*p->core);
  return Log("pas_auth_and_reset", pas_id, "", absl::OkStatus());
}

absl::Status SimSoc::PasShutdown(uint32_t pas_id) {
  absl::MutexLock lock(&mu_);
  Peripheral* p = FindPeripheral(pas_id);
  if (p == nullptr) {
    return Log(
        "pas_shutdown", pas_id, "",
        Scm(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED", kScmNotSupported,
            absl::StrCat("PAS id ", pas_id, " is not supported")));
  }
  if (absl::Status s = InjectedScmFailure("pas_shutdown", *p); !s.ok()) {
    return Log("pas_shutdown", pas_id, "", s);
  }
  if (p->state != pas::PasState::kRunning) {
    return Log(
        "pas_shutdown", pas_id, "",
        Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE",
            kScmInvalidArgument,
            absl::StrCat("shutdown for PAS id ", pas_id, " while it is ",
                         pas::PasStateName(p->state), "; expected running"),
            {{"state", pas::PasStateName(p->state)}}));
  }
  HypervisorUnmap(*p);
  p->state = pas::PasState::kIdle;
  ++p->generation;
  if (!p->dtb) {
    Core& core = *p->core;
    core.state = pas::CoreState::kOff;
    ++core.generation;
  }
  return Log("pas_shutdown", pas_id, "", absl::OkStatus());
}

absl::Status SimSoc::ReleaseMetadata(uint32_t pas_id) {
  absl::MutexLock lock(&mu_);
  Peripheral* p = FindPeripheral(pas_id);
  if (p == nullptr) {
    return Error(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED",
                 absl::StrCat("PAS id ", pas_id, " is not supported"));
  }
  if (p->metadata == nullptr) return absl::OkStatus();
  p->metadata.reset();
  if (p->state == pas::PasState::kInitialized) {
    p->state = pas::PasState::kIdle;
    ++p->generation;
  }
  return Log("release_metadata", pas_id, "", absl::OkStatus());
}

absl::StatusOr<std::string> SimSoc::PasGetResourceTable(uint32_t pas_id,
                                                        absl::string_view) {
  absl::MutexLock lock(&mu_);
  Peripheral* p = FindPeripheral(pas_id);
  if (p == nullptr || p->dtb) {
    return Log(
        "pas_get_rsctable", pas_id, "",
        Scm(absl::StatusCode::kNotFound, "PAS_NOT_SUPPORTED", kScmNotSupported,
            absl::StrCat("PAS id ", pas_id, " has no resource table")));
  }
  if (hypervisor_) {
    return Log("pas_get_rsctable", pas_id, "",
               Scm(absl::StatusCode::kUnimplemented, "SCM_CALL_UNAVAILABLE",
                   kScmNotSupported,
                   "PAS_GET_RSCTABLE is only available when Linux owns the "
                   "IOMMU"));
  }
  std::vector<pas::DevMem> entries;
  for (const v1::DevMem& d : p->core->devmem) {
    entries.push_back({d.da(), d.pa(), d.length(), d.flags(), d.name()});
  }
  const std::string table = pas::BuildResourceTable(entries);
  (void)Log("pas_get_rsctable", pas_id,
            absl::StrCat(entries.size(), " devmem entries"), absl::OkStatus());
  return table;
}

}  // namespace pil::sim
