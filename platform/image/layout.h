// Where an image's loadable segments go in memory.
//
// A segment is loadable when it is PT_LOAD, not the hash segment, and has
// p_memsz > 0. The image is relocatable when any loadable segment has the
// relocatable flag (bit 27); then it is based at its lowest p_paddr, placed
// at the start of the carveout, and the secure world learns the real base
// through PAS mem_setup. Otherwise segments sit at their absolute p_paddr
// and must fall inside the carveout. All arithmetic is 64-bit and checked
// for overflow.
#ifndef PILD_PLATFORM_IMAGE_LAYOUT_H_
#define PILD_PLATFORM_IMAGE_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/page.h"
#include "platform/image/elf.h"

namespace pil::image {

struct LoadLayout {
  // Indexes of the loadable program headers to place, ascending.
  std::vector<size_t> loadable;
  // Loadable segments without file data that lie wholly inside another's
  // zero-filled tail: nothing to place, their bytes are that tail's zeros.
  std::vector<size_t> subsumed;
  bool relocatable = false;
  // Some, not all, loadable segments carry the relocatable flag.
  bool partially_relocatable = false;
  // Lowest p_paddr and 4 KiB-aligned end of the loadable segments.
  uint64_t min_address = 0;
  uint64_t max_address = 0;
  uint64_t span() const { return max_address - min_address; }
};

// INVALID_ARGUMENT: NO_LOADABLE_SEGMENTS, SEGMENT_ADDRESS_OVERFLOW,
// SEGMENTS_OVERLAP (two loadable segments share an address, other than a
// subsumed one; both named).
absl::StatusOr<LoadLayout> ComputeLayout(
    const std::vector<ProgramHeader>& phdrs);

// Where the image is placed for a carveout at `base`: the relocation base
// that p_paddr is taken relative to.
inline uint64_t RelocationBase(const LoadLayout& layout, uint64_t base) {
  return layout.relocatable ? layout.min_address : base;
}

// OK when every loadable segment lands inside [base, base + size) and the
// span fits. INVALID_ARGUMENT SEGMENT_OUTSIDE_CARVEOUT (segment index, its
// range, the carveout) or IMAGE_TOO_LARGE (span, carveout size), with the
// reserved-memory range the image would need.
absl::Status CheckFitsCarveout(const LoadLayout& layout,
                               const std::vector<ProgramHeader>& phdrs,
                               uint64_t base, uint64_t size);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_LAYOUT_H_
