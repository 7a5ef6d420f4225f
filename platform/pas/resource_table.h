// The resource table the secure world hands out (PAS_GET_RSCTABLE) when
// Linux owns the IOMMU: the device memory the firmware needs mapped. The
// remoteproc layout: struct resource_table {ver, num, reserved[2],
// offset[num]}, then entries; RSC_DEVMEM = {type 1, da, pa, len, flags,
// reserved, name[32]}.
#ifndef PILD_PLATFORM_PAS_RESOURCE_TABLE_H_
#define PILD_PLATFORM_PAS_RESOURCE_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::pas {

// An RSC_DEVMEM entry: device address `da` maps to physical `pa`.
struct DevMem {
  uint32_t da = 0;
  uint32_t pa = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
  std::string name;
};

// Parses a remoteproc resource table: version 1, reserved fields zero,
// every offset and entry inside the table; RSC_DEVMEM entries with
// reserved 0, 4 KiB-aligned da/pa/length and IOVA ranges that do not
// overlap. Other entry types are skipped. INVALID_ARGUMENT
// (RESOURCE_TABLE_INVALID) naming the entry otherwise.
absl::StatusOr<std::vector<DevMem>> ParseResourceTable(absl::string_view table);

// A version-1 table of RSC_DEVMEM entries (names cut to 31 characters), as
// the secure world builds it.
std::string BuildResourceTable(const std::vector<DevMem>& entries);

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_RESOURCE_TABLE_H_
