// The regions under /reserved-memory, placed as Linux places them at boot.
//
// A region with `reg` is where it says. A region with `size` and no `reg`
// is placed by the OS: after every static region, in device-tree order,
// aligned to `alignment` (64 bytes when absent, the cache line; at least
// 2 MiB for a reusable `shared-dma-pool`), in the first of its
// `alloc-ranges` with room (without them, anywhere in the memory nodes),
// clear of every region reserved before it. The kernel's allocator works
// top-down — the highest address that fits — unless the range starts where
// an earlier placed region ends (or inside one) and does not end at or
// inside one, in which case it works bottom-up to keep the placements
// contiguous. For one device tree the placement is always the same.
#ifndef PILD_PLATFORM_DEVICETREE_RESERVED_MEMORY_H_
#define PILD_PLATFORM_DEVICETREE_RESERVED_MEMORY_H_

#include <cstdint>
#include <map>
#include <string>

#include "platform/devicetree/fdt.h"

namespace pil::devicetree {

struct ReservedRegion {
  uint64_t base = 0;
  uint64_t size = 0;
  bool dynamic = false;  // placed by the OS, not by `reg`
};

struct ReservedMemory {
  // By node path: every region with a place.
  std::map<std::string, ReservedRegion> placed;
  // By node path: why a region has none (malformed, or no room).
  std::map<std::string, std::string> unplaced;
};

ReservedMemory PlaceReservedMemory(const Fdt& fdt);

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_RESERVED_MEMORY_H_
