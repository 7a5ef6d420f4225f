// SimSoc's private parts, shared by its files: the secure world's status
// codes, a core and a peripheral (PAS id) as the model keeps them.
#ifndef PILD_PLATFORM_SIM_SOC_INTERNAL_H_
#define PILD_PLATFORM_SIM_SOC_INTERNAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/error.h"
#include "platform/image/elf.h"
#include "platform/image/layout.h"
#include "platform/pas/smmu_rules.h"
#include "platform/sim/soc.h"

namespace pil::sim {

// SCM statuses (qcom_scm.h).
inline constexpr int64_t kScmError = -1;
inline constexpr int64_t kScmInvalidArgument = -2;
inline constexpr int64_t kScmInvalidAddress = -3;
inline constexpr int64_t kScmNotSupported = -4;
inline constexpr int64_t kScmBusy = -12;

// A secure-world rejection: `code` and `reason`, the SCM status in metadata.
absl::Status Scm(absl::StatusCode code, absl::string_view reason,
                 int64_t scm_status, std::string message,
                 ErrorMetadata metadata = {});
// The SCM status a call's result carries (0 for OK).
int64_t ScmStatusOf(const absl::Status& status);

// The wrapper registers a codec booted without TrustZone has.
inline constexpr uint32_t kWrapperRegisters[] = {
    pas::kWrapperCpaStart,       pas::kWrapperCpaEnd,
    pas::kWrapperFwStart,        pas::kWrapperFwEnd,
    pas::kWrapperNonpixStart,    pas::kWrapperNonpixEnd,
    pas::kWrapperCpuClockConfig, pas::kWrapperCpuCgcDis,
    pas::kWrapperA9ssSwReset};

struct SimSoc::Core {
  devicetree::CoprocessorNode node;
  bool dt_linux_owned = false;
  // The stream the core really fetches with: the device tree's firmware
  // stream, else the one the hypervisor programs.
  uint32_t sid = 0;
  uint32_t mask = 0;
  // Where it sees its carveout through the SMMU.
  pas::FirmwareWindow window;
  pas::CoreState state = pas::CoreState::kOff;
  uint64_t generation = 0;
  Peripheral* main = nullptr;
  Peripheral* dtb = nullptr;
  std::vector<v1::DevMem> devmem;
  // A codec the OS boots through its wrapper (no peripheral): the wrapper
  // registers by offset.
  std::map<uint32_t, uint32_t> wrapper;
};

struct SimSoc::Peripheral {
  uint32_t pas_id = 0;
  Core* core = nullptr;
  bool dtb = false;
  uint64_t carveout_base = 0;
  uint64_t carveout_size = 0;
  std::optional<uint32_t> image_type;
  uint32_t anti_rollback_minimum = 0;

  pas::PasState state = pas::PasState::kIdle;
  std::shared_ptr<const std::string> metadata;
  image::ElfHeaders elf;
  image::LoadLayout layout;
  std::optional<std::pair<uint64_t, uint64_t>> mem_setup;
  uint64_t generation = 0;
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
}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_SOC_INTERNAL_H_
