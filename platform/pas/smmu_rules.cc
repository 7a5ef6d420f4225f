#include "platform/pas/smmu_rules.h"

#include "platform/backend.h"

namespace pil::pas {

FirmwareWindow FirmwareWindowFor(devicetree::CoprocessorKind kind,
                                 uint64_t carveout_base) {
  const uint32_t rw = platform::kIommuRead | platform::kIommuWrite;
  if (kind == devicetree::CoprocessorKind::kVideoCodec) {
    return {0, rw | platform::kIommuPriv, true};
  }
  return {carveout_base, rw, false};
}

}  // namespace pil::pas
