#include "platform/sim/soc.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/bytes.h"
#include "platform/image/inspect.h"
#include "platform/image/layout.h"
#include "platform/image/signature.h"

namespace pil::sim {
namespace {

using platform::SignalKind;

constexpr uint64_t kPage = 4096;
constexpr size_t kCallLogSize = 256;
// SCM statuses (qcom_scm.h).
constexpr int64_t kScmError = -1;
constexpr int64_t kScmInvalidArgument = -2;
constexpr int64_t kScmInvalidAddress = -3;
constexpr int64_t kScmNotSupported = -4;
constexpr int64_t kScmBusy = -12;

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v)); }

// A secure-world rejection: `code` and `reason`, the SCM status in metadata.
absl::Status Scm(absl::StatusCode code, absl::string_view reason,
                 int64_t scm_status, std::string message,
                 ErrorMetadata metadata = {}) {
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

// Images of the real data signed with Qualcomm's test roots, and pild's
// TEST-ONLY roots (platform/image/testkeys/ROOT_SHA256).
constexpr const char* kDefaultRoots[] = {
    "b53fb23d1953decb95928fe657556cea6edab3444dc708c019057cbaf8c62d4a",
    "f8ab20526358c4fa4cef96d78c45180dc3db75e8f24051ad624448c134b4e861",
    "9cda6268c11916ff53b41f2b1701e2758fc3bbd227538ee127158f7c9527a454",
    "f479760f7945275ebf5014aea556badbd3f4580a4f5c0cb11d019a49f0ae704b",
    "0ac41ac28eb1cb7c3be2424b15daff9a4edbbc7cc5c4579f762a80fce4ecd061",
};

}  // namespace

std::vector<std::string> DefaultTrustedRoots() {
  return std::vector<std::string>(std::begin(kDefaultRoots),
                                  std::end(kDefaultRoots));
}

std::optional<uint32_t> ExpectedImageType(uint32_t pas_id) {
  switch (pas_id) {
    case 1:
      return 0x04;  // adsp
    case 4:
      return 0x02;  // modem
    case 6:
      return 0x0d;  // wcnss / wpss
    case 9:
      return 0x0e;  // venus / iris
    case 12:
      return 0x18;  // slpi
    case 18:
      return 0x17;  // cdsp
    case 30:
      return 0x44;  // cdsp1
    case 36:
      return 0x53;  // adsp dtb
    case 37:
      return 0x52;  // cdsp dtb
    case 38:
      return 0x51;  // modem dtb
    case 39:
      return 0x58;  // gpdsp0
    case 40:
      return 0x5a;  // gpdsp1
    default:
      return std::nullopt;
  }
}

struct SimSoc::Core {
  devicetree::CoprocessorNode node;
  bool video = false;
  bool dt_linux_owned = false;
  // The stream the core really fetches with: the device tree's firmware
  // stream, else the one the hypervisor programs.
  uint32_t sid = 0;
  uint32_t mask = 0;
  std::string state = "off";
  uint64_t generation = 0;
  Peripheral* main = nullptr;
  Peripheral* dtb = nullptr;
  std::vector<v1::DevMem> devmem;
};

struct SimSoc::Peripheral {
  uint32_t pas_id = 0;
  Core* core = nullptr;
  bool dtb = false;
  uint64_t carveout_base = 0;
  uint64_t carveout_size = 0;
  std::optional<uint32_t> image_type;
  uint32_t anti_rollback_minimum = 0;

  std::string state = "idle";  // idle, initialized, running
  std::shared_ptr<const std::string> metadata;
  image::ElfHeaders elf;
  image::LoadLayout layout;
  std::optional<std::pair<uint64_t, uint64_t>> mem_setup;
  uint64_t generation = 0;
  std::map<std::string, uint32_t> calls;  // per call kind, for fault plans
  std::optional<uint32_t> hypervisor_bank;

  // Where segment paddrs land in physical memory.
  uint64_t PlacementBase() const {
    return layout.relocatable && mem_setup ? mem_setup->first : carveout_base;
  }
  uint64_t RelocationBase() const {
    return image::RelocationBase(layout, carveout_base);
  }
  uint64_t Place(uint64_t paddr) const {
    return PlacementBase() + (paddr - RelocationBase());
  }
};

absl::StatusOr<std::unique_ptr<SimSoc>> SimSoc::Create(
    absl::string_view dtb, const v1::Profile& profile,
    const std::string& memory_path) {
  auto soc = std::unique_ptr<SimSoc>(new SimSoc());
  if (absl::Status s = soc->Setup(dtb, profile, memory_path); !s.ok()) {
    return s;
  }
  soc->scheduler_ = std::thread([s = soc.get()] { s->SchedulerLoop(); });
  soc->delivery_ = std::thread([s = soc.get()] { s->DeliveryLoop(); });
  return soc;
}

absl::Status SimSoc::Setup(absl::string_view dtb, const v1::Profile& profile,
                           const std::string& memory_path) {
  auto board = devicetree::Discover(dtb);
  if (!board.ok()) return board.status();
  board_ = std::move(*board);
  profile_ = profile;

  bool any_linux = false;
  for (const auto& node : board_.coprocessors) {
    if (node.enabled() && node.iommu_owner == devicetree::IommuOwner::kLinux) {
      any_linux = true;
    }
  }
  hypervisor_ = profile.has_hypervisor() ? profile.hypervisor() : !any_linux;
  for (const std::string& root :
       profile.trusted_root_sha256().empty()
           ? DefaultTrustedRoots()
           : std::vector<std::string>(profile.trusted_root_sha256().begin(),
                                      profile.trusted_root_sha256().end())) {
    trusted_roots_.insert(absl::AsciiStrToLower(root));
  }
  auto ms = [](uint32_t value, int64_t fallback) {
    return absl::Milliseconds(value != 0 ? value : fallback);
  };
  boot_time_ = ms(profile.timings().boot_ms(), 20);
  handover_time_ = ms(profile.timings().handover_ms(), 5);
  stop_ack_time_ = ms(profile.timings().stop_ack_ms(), 10);
  std::vector<std::pair<uint64_t, uint64_t>> carveouts;
  absl::MutexLock lock(&mu_);
  fault_plan_.assign(profile.faults().begin(), profile.faults().end());
  for (const auto& node : board_.coprocessors) {
    if (!node.enabled() || !node.pas_id || node.carveouts.empty()) continue;
    auto core = std::make_unique<Core>();
    core->node = node;
    core->video = node.kind == devicetree::CoprocessorKind::kVideoCodec;
    core->dt_linux_owned = node.iommu_owner == devicetree::IommuOwner::kLinux;
    const v1::Peripheral* settings = nullptr;
    for (const v1::Peripheral& p : profile.peripherals()) {
      if (p.coprocessor() == node.name) settings = &p;
    }
    if (node.firmware_stream) {
      core->sid = node.firmware_stream->sid;
      core->mask = node.firmware_stream->mask;
    } else {
      core->sid = settings && settings->has_hypervisor_sid()
                      ? settings->hypervisor_sid()
                      : 0x2000 | (*node.pas_id << 4);
    }
    if (settings) {
      core->devmem.assign(settings->devmem().begin(), settings->devmem().end());
    }
    auto add = [&](uint32_t pas_id, bool dtb_image,
                   size_t carveout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto p = std::make_unique<Peripheral>();
      p->pas_id = pas_id;
      p->core = core.get();
      p->dtb = dtb_image;
      p->carveout_base = node.carveouts[carveout].base;
      p->carveout_size = node.carveouts[carveout].size;
      p->image_type = ExpectedImageType(pas_id);
      if (settings && !dtb_image) {
        if (settings->has_image_type()) p->image_type = settings->image_type();
        p->anti_rollback_minimum = settings->anti_rollback_minimum();
      }
      carveouts.emplace_back(p->carveout_base, p->carveout_size);
      Peripheral* raw = p.get();
      peripherals_[pas_id] = std::move(p);
      return raw;
    };
    core->main = add(*node.pas_id, false, 0);
    if (node.dtb_pas_id && node.carveouts.size() >= 2) {
      core->dtb = add(*node.dtb_pas_id, true, 1);
    }
    cores_.push_back(std::move(core));
  }
  auto memory = SimMemory::Create(carveouts, memory_path);
  if (!memory.ok()) return memory.status();
  memory_ = std::move(*memory);
  return absl::OkStatus();
}

SimSoc::~SimSoc() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.SignalAll();
    deliver_.SignalAll();
  }
  if (scheduler_.joinable()) scheduler_.join();
  if (delivery_.joinable()) delivery_.join();
}

SimSoc::Peripheral* SimSoc::FindPeripheral(uint32_t pas_id) {
  auto it = peripherals_.find(pas_id);
  return it == peripherals_.end() ? nullptr : it->second.get();
}

SimSoc::Core* SimSoc::FindCore(absl::string_view coprocessor) {
  for (auto& core : cores_) {
    if (core->node.path == coprocessor || core->node.name == coprocessor) {
      return core.get();
    }
  }
  return nullptr;
}

absl::Status SimSoc::Log(const char* call, uint32_t pas_id, std::string detail,
                         absl::Status status) {
  platform::HardwareState::Call entry;
  entry.call = call;
  entry.pas_id = pas_id;
  entry.detail = std::move(detail);
  entry.status = ScmStatusOf(status);
  entry.time = absl::Now();
  calls_.push_back(std::move(entry));
  if (calls_.size() > kCallLogSize) calls_.pop_front();
  return status;
}

absl::Status SimSoc::InjectedScmFailure(const char* call, Peripheral& p) {
  const uint32_t count = ++p.calls[call];
  for (auto it = fault_plan_.begin(); it != fault_plan_.end(); ++it) {
    if (it->kind_case() != v1::Fault::kScmFailure ||
        it->coprocessor() != p.core->node.name ||
        it->scm_failure().call() != call) {
      continue;
    }
    const uint32_t occurrence = std::max(it->scm_failure().occurrence(), 1u);
    if (count != occurrence && !(it->repeat() && count >= occurrence)) {
      continue;
    }
    const int32_t status = it->scm_failure().status() != 0
                               ? it->scm_failure().status()
                               : static_cast<int32_t>(kScmError);
    if (!it->repeat()) fault_plan_.erase(it);
    return Scm(absl::StatusCode::kInternal, "SCM_CALL_FAILED", status,
               absl::StrCat(call, " for PAS id ", p.pas_id,
                            " failed with SCM status ", status, " (injected)"),
               {{"pas_id", absl::StrCat(p.pas_id)}});
  }
  return absl::OkStatus();
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
  if (p->state != "idle") {
    return Log(
        "pas_init_image", pas_id, detail,
        Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE", kScmBusy,
            absl::StrCat("init_image for PAS id ", pas_id, " while it is ",
                         p->state,
                         p->metadata ? " (metadata held; release it "
                                       "or shut down first)"
                                     : ""),
            {{"state", p->state}}));
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
  p->state = "initialized";
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
  if (p->state != "initialized") {
    return Log(
        "pas_mem_setup", pas_id, detail,
        Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE", kScmBusy,
            absl::StrCat("mem_setup for PAS id ", pas_id, " while it is ",
                         p->state, "; expected initialized"),
            {{"state", p->state}}));
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
  const uint64_t iova = core.video ? 0 : p.carveout_base;
  const uint32_t prot = platform::kIommuRead | platform::kIommuWrite |
                        (core.video ? uint32_t{platform::kIommuPriv} : 0u);
  absl::Status mapped =
      smmu_.Map(*bank, iova, p.carveout_base,
                (p.carveout_size + kPage - 1) / kPage * kPage, prot);
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
    if (p->state != "initialized") {
      return Log("pas_auth_and_reset", pas_id, "",
                 Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE",
                     kScmBusy,
                     absl::StrCat(
                         "auth_and_reset for PAS id ", pas_id, " while it is ",
                         p->state,
                         p->state == "idle" ? "; init_image comes first" : ""),
                     {{"state", p->state}}));
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
  if (p->generation != generation || p->state != "initialized") {
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
  p->state = "running";
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
  if (p->state != "running") {
    return Log("pas_shutdown", pas_id, "",
               Scm(absl::StatusCode::kFailedPrecondition, "PAS_WRONG_STATE",
                   kScmInvalidArgument,
                   absl::StrCat("shutdown for PAS id ", pas_id, " while it is ",
                                p->state, "; expected running"),
                   {{"state", p->state}}));
  }
  HypervisorUnmap(*p);
  p->state = "idle";
  ++p->generation;
  if (!p->dtb) {
    Core& core = *p->core;
    core.state = "off";
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
  if (p->state == "initialized") {
    p->state = "idle";
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
  // struct resource_table {ver, num, reserved[2], offset[num]} followed by
  // RSC_DEVMEM entries {type, da, pa, len, flags, reserved, name[32]}.
  const auto& devmem = p->core->devmem;
  const size_t header = 16 + 4 * devmem.size();
  const size_t entry = 4 + 5 * 4 + 32;
  std::string table(header + entry * devmem.size(), '\0');
  image::StoreLe(table, 0, 1, 4);
  image::StoreLe(table, 4, devmem.size(), 4);
  for (size_t i = 0; i < devmem.size(); ++i) {
    const size_t at = header + i * entry;
    image::StoreLe(table, 16 + 4 * i, at, 4);
    image::StoreLe(table, at, 1, 4);  // RSC_DEVMEM
    image::StoreLe(table, at + 4, devmem[i].da(), 4);
    image::StoreLe(table, at + 8, devmem[i].pa(), 4);
    image::StoreLe(table, at + 12, devmem[i].length(), 4);
    image::StoreLe(table, at + 16, devmem[i].flags(), 4);
    const std::string name = devmem[i].name().substr(0, 31);
    std::memcpy(table.data() + at + 24, name.data(), name.size());
  }
  (void)Log("pas_get_rsctable", pas_id,
            absl::StrCat(devmem.size(), " devmem entries"), absl::OkStatus());
  return table;
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

// ---- coprocessor behaviour ----

void SimSoc::ReleaseReset(Core& core) {
  core.state = "booting";
  const uint64_t generation = ++core.generation;
  Schedule(boot_time_,
           [this, &core, generation]()
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Boot(core, generation); });
}

std::optional<v1::Fault> SimSoc::TakeFault(Core& core,
                                           v1::Fault::KindCase kind) {
  for (auto it = fault_plan_.begin(); it != fault_plan_.end(); ++it) {
    if (it->kind_case() == kind && it->coprocessor() == core.node.name) {
      v1::Fault fault = *it;
      if (!it->repeat()) fault_plan_.erase(it);
      return fault;
    }
  }
  return std::nullopt;
}

void SimSoc::Boot(Core& core, uint64_t generation) {
  if (core.generation != generation || core.state != "booting") return;
  if (TakeFault(core, v1::Fault::kNeverReady)) return;  // stays booting
  if (core.dtb != nullptr && core.dtb->state != "running") {
    Crash(core, SignalKind::kFatal,
          absl::StrCat("fatal error: no DTB image (PAS id ", core.dtb->pas_id,
                       " is ", core.dtb->state, ")"));
    return;
  }
  // Fetch every loadable page through the SMMU with the core's stream.
  const Peripheral& p = *core.main;
  for (const image::ProgramHeader& ph : p.elf.phdrs) {
    if (!ph.loadable()) continue;
    const uint64_t pa = p.Place(ph.paddr);
    const bool writable = (ph.flags & 2) != 0;
    const bool exec = (ph.flags & 1) != 0;
    for (uint64_t offset = 0; offset < ph.memsz; offset += kPage) {
      const uint64_t page_pa = (pa + offset) & ~(kPage - 1);
      SmmuModel::Access access;
      access.sid = core.sid;
      access.iova = core.video ? page_pa - p.carveout_base : page_pa;
      access.exec = exec;
      access.privileged = core.video;
      for (bool write : {false, true}) {
        if (write && !writable) continue;
        access.write = write;
        SmmuModel::Result r = smmu_.Translate(access, core.node.path);
        if (!r.ok) {
          platform::HardwareState::Fault fault = smmu_.faults().back();
          Crash(
              core, SignalKind::kSmmuFault,
              absl::StrCat("SMMU ", r.fault_type, " fault: stream ",
                           Hex(access.sid), " ", write ? "writing" : "reading",
                           " iova ", Hex(access.iova)),
              &fault);
          return;
        }
        if (r.pa != page_pa) {
          Crash(core, SignalKind::kFatal,
                absl::StrCat("fatal error: iova ", Hex(access.iova),
                             " translates to ", Hex(r.pa),
                             ", not the firmware at ", Hex(page_pa)));
          return;
        }
      }
    }
  }
  for (const v1::DevMem& d : core.devmem) {
    SmmuModel::Access access;
    access.sid = core.sid;
    access.iova = d.da();
    access.privileged = core.video;
    SmmuModel::Result r = smmu_.Translate(access, core.node.path);
    if (!r.ok) {
      platform::HardwareState::Fault fault = smmu_.faults().back();
      Crash(core, SignalKind::kSmmuFault,
            absl::StrCat("SMMU ", r.fault_type, " fault: stream ",
                         Hex(access.sid), " reading device memory '", d.name(),
                         "' at iova ", Hex(d.da())),
            &fault);
      return;
    }
  }
  core.state = "running";
  Raise(core, SignalKind::kReady, "");
  const uint64_t now = core.generation;
  Schedule(handover_time_,
           [this, &core, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
             if (core.generation == now) Raise(core, SignalKind::kHandover, "");
           });
  if (auto f = TakeFault(core, v1::Fault::kWatchdogAfterMs)) {
    Schedule(absl::Milliseconds(f->watchdog_after_ms()),
             [this, &core, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (core.generation == now && core.state == "running") {
                 Crash(core, SignalKind::kWatchdog,
                       "watchdog bite: the DSP stopped petting its watchdog");
               }
             });
  }
  if (auto f = TakeFault(core, v1::Fault::kFatalAfterMs)) {
    Schedule(absl::Milliseconds(f->fatal_after_ms()),
             [this, &core, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (core.generation == now && core.state == "running") {
                 Crash(core, SignalKind::kFatal,
                       "fatal error: err_qdi.c:456:EF:sim:injected fault");
               }
             });
  }
  if (auto f = TakeFault(core, v1::Fault::kSmmuFault)) {
    const v1::SmmuFaultAfter plan = f->smmu_fault();
    Schedule(absl::Milliseconds(plan.after_ms()),
             [this, &core, now, plan]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (core.generation != now || core.state != "running") return;
               const Peripheral& main = *core.main;
               const uint64_t offset =
                   plan.offset() != 0 ? plan.offset() : main.carveout_size;
               SmmuModel::Access access;
               access.sid = core.sid;
               access.iova = (core.video ? 0 : main.carveout_base) + offset;
               access.write = plan.write();
               access.privileged = core.video;
               SmmuModel::Result r = smmu_.Translate(access, core.node.path);
               if (!r.ok) {
                 platform::HardwareState::Fault fault = smmu_.faults().back();
                 Crash(core, SignalKind::kSmmuFault,
                       absl::StrCat("SMMU ", r.fault_type, " fault: stream ",
                                    Hex(access.sid), " ",
                                    plan.write() ? "writing" : "reading",
                                    " iova ", Hex(access.iova)),
                       &fault);
               }
             });
  }
}

void SimSoc::Crash(Core& core, SignalKind kind, std::string detail,
                   const platform::HardwareState::Fault* fault) {
  core.state = "crashed";
  ++core.generation;
  Raise(core, kind, std::move(detail), fault);
}

void SimSoc::Raise(Core& core, SignalKind kind, std::string detail,
                   const platform::HardwareState::Fault* fault) {
  platform::Signal signal;
  signal.sequence = next_signal_++;
  signal.coprocessor = core.node.path;
  signal.kind = kind;
  signal.detail = std::move(detail);
  signal.time = absl::Now();
  if (fault != nullptr) {
    signal.sid = fault->sid;
    signal.iova = fault->iova;
    signal.write = fault->write;
    signal.fault_type = fault->type;
  }
  outbox_.push_back(std::move(signal));
  deliver_.Signal();
}

absl::Status SimSoc::RequestStop(absl::string_view coprocessor) {
  absl::MutexLock lock(&mu_);
  Core* core = FindCore(coprocessor);
  if (core == nullptr) {
    return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
                 absl::StrCat("no coprocessor ", coprocessor));
  }
  if (core->state != "running") {
    return Error(absl::StatusCode::kFailedPrecondition, "NOT_RUNNING",
                 absl::StrCat(core->node.name, " is ", core->state,
                              "; only a running core acknowledges a stop"));
  }
  core->state = "stopping";
  if (TakeFault(*core, v1::Fault::kStopAckTimeout)) return absl::OkStatus();
  const uint64_t generation = core->generation;
  Core* c = core;
  Schedule(stop_ack_time_,
           [this, c, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
             if (c->generation != generation || c->state != "stopping") {
               return;
             }
             c->state = "stopped";
             Raise(*c, SignalKind::kStopAck, "");
           });
  return absl::OkStatus();
}

void SimSoc::Subscribe(std::function<void(const platform::Signal&)> handler) {
  absl::MutexLock lock(&handler_mu_);
  handler_ = std::move(handler);
}

absl::Status SimSoc::InjectFault(const v1::Fault& fault) {
  absl::MutexLock lock(&mu_);
  if (FindCore(fault.coprocessor()) == nullptr) {
    return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
                 absl::StrCat("no coprocessor ", fault.coprocessor()));
  }
  if (fault.kind_case() == v1::Fault::KIND_NOT_SET) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FAULT",
                 "the fault names no kind");
  }
  v1::Fault named = fault;
  named.set_coprocessor(FindCore(fault.coprocessor())->node.name);
  fault_plan_.push_back(named);
  return absl::OkStatus();
}

absl::StatusOr<platform::HardwareState> SimSoc::Observe() {
  absl::MutexLock lock(&mu_);
  platform::HardwareState state;
  state.hypervisor = hypervisor_;
  for (const auto& [handle, b] : bridges_) {
    state.bridges.push_back({handle, b.base, b.size});
  }
  state.streams = smmu_.Streams();
  state.mappings = smmu_.Mappings();
  state.faults = smmu_.faults();
  for (const auto& [pas_id, p] : peripherals_) {
    state.peripherals.push_back({pas_id, p->state, p->metadata != nullptr});
  }
  for (const auto& core : cores_) {
    state.cores.push_back({core->node.path, core->state});
  }
  state.calls.assign(calls_.begin(), calls_.end());
  return state;
}

// ---- threads ----

void SimSoc::Schedule(absl::Duration delay, std::function<void()> run) {
  events_.push_back(Event{absl::Now() + delay, next_event_++, std::move(run)});
  std::push_heap(events_.begin(), events_.end(),
                 [](const Event& a, const Event& b) {
                   return a.when > b.when || (a.when == b.when && a.id > b.id);
                 });
  wake_.Signal();
}

void SimSoc::SchedulerLoop() {
  auto later = [](const Event& a, const Event& b) {
    return a.when > b.when || (a.when == b.when && a.id > b.id);
  };
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (events_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    if (absl::Now() < events_.front().when) {
      wake_.WaitWithDeadline(&mu_, events_.front().when);
      continue;
    }
    std::pop_heap(events_.begin(), events_.end(), later);
    Event event = std::move(events_.back());
    events_.pop_back();
    event.run();
  }
}

void SimSoc::DeliveryLoop() {
  while (true) {
    platform::Signal signal;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && outbox_.empty()) deliver_.Wait(&mu_);
      if (outbox_.empty()) return;  // stopping
      signal = std::move(outbox_.front());
      outbox_.pop_front();
    }
    absl::MutexLock lock(&handler_mu_);
    if (handler_) handler_(signal);
  }
}

}  // namespace pil::sim
