// SimSoc: building the model from a device tree and a profile, and what
// it reports (Observe).
#include "platform/sim/soc.h"

#include <algorithm>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "platform/devicetree/discovery.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {
namespace {

// TEST-ONLY roots (platform/image/testkeys/ROOT_SHA256).
constexpr const char* kDefaultRoots[] = {
    "b53fb23d1953decb95928fe657556cea6edab3444dc708c019057cbaf8c62d4a",
    "f8ab20526358c4fa4cef96d78c45180dc3db75e8f24051ad624448c134b4e861",
    "9cda6268c11916ff53b41f2b1701e2758fc3bbd227538ee127158f7c9527a454",
    "f479760f7945275ebf5014aea556badbd3f4580a4f5c0cb11d019a49f0ae704b",
    "0ac41ac28eb1cb7c3be2424b15daff9a4edbbc7cc5c4579f762a80fce4ecd061",
    // The test roots Debian's MSM8916/APQ8016 images are signed to (the
    // DragonBoard 410c's secure world accepts them): venus-1.8, wcnss.
    "983054f5c4b3fd2c8a98aa917271adb7d8766127c34d56a89f5e0a311ca45c2f",
    "0576ae2edfc92993ea0f070ef01bf529bf7b4c12e4a28af7369e87bf88897e4e",
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
  for (const v1::Fault& fault : profile.faults()) {
    fault_plan_.push_back({fault, 0});
  }
  for (const auto& node : board_.coprocessors) {
    const bool wrapper = node.boot == devicetree::BootMethod::kVideoWrapper;
    if (!node.enabled() || node.carveouts.empty() ||
        node.boot == devicetree::BootMethod::kQdsp6Registers ||
        (wrapper ? !node.firmware_stream : !node.pas_id)) {
      continue;
    }
    auto core = std::make_unique<Core>();
    core->node = node;
    core->window = pas::FirmwareWindowFor(node.kind, node.carveouts[0].base);
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
    if (wrapper) {
      // No secure world knows it: the OS owns its memory and its reset,
      // which is asserted at power-on.
      for (uint32_t offset : kWrapperRegisters) core->wrapper[offset] = 0;
      core->wrapper[pas::kWrapperA9ssSwReset] = pas::kWrapperA9ssResetBit;
      carveouts.emplace_back(node.carveouts[0].base, node.carveouts[0].size);
      cores_.push_back(std::move(core));
      continue;
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

void SimSoc::Subscribe(std::function<void(const pas::Signal&)> handler) {
  absl::MutexLock lock(&handler_mu_);
  handler_ = std::move(handler);
}

absl::StatusOr<pas::HardwareState> SimSoc::Observe() {
  absl::MutexLock lock(&mu_);
  pas::HardwareState state;
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

}  // namespace pil::sim
