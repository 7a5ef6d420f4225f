// The SMMU rules the PAS tier and the simulated hardware share: how
// stream-match entries match, and where a coprocessor fetches its firmware.
#ifndef PILD_PLATFORM_PAS_SMMU_RULES_H_
#define PILD_PLATFORM_PAS_SMMU_RULES_H_

#include <cstdint>

#include "platform/devicetree/coprocessor_node.h"

namespace pil::pas {

// Whether stream-match entries (id1, mask1) and (id2, mask2) both match
// some stream ID (a mask bit set means "any value" in that bit; 16-bit IDs).
// A single stream ID is the entry (sid, 0).
inline bool SmrsOverlap(uint32_t id1, uint32_t mask1, uint32_t id2,
                        uint32_t mask2) {
  return ((id1 ^ id2) & ~(mask1 | mask2) & 0xffff) == 0;
}

// Where a coprocessor's firmware sees its carveout through the SMMU, and
// with which accesses: a remoteproc at the physical address (identity),
// read-write; a video codec at IOVA 0, read-write and privileged only.
struct FirmwareWindow {
  uint64_t iova = 0;
  uint32_t prot = 0;  // platform::IommuProt bits
  bool privileged = false;
};
FirmwareWindow FirmwareWindowFor(devicetree::CoprocessorKind kind,
                                 uint64_t carveout_base);

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_SMMU_RULES_H_
