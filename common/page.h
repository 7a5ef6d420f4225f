// The 4 KiB page: the granule of carveout spans, SMMU mappings and
// firmware layouts.
#ifndef PILD_COMMON_PAGE_H_
#define PILD_COMMON_PAGE_H_

#include <cstdint>

namespace pil {

inline constexpr uint64_t kPageSize = 4096;

// `value` rounded up to a page boundary (callers bound it well below 2^64).
inline constexpr uint64_t PageAlignUp(uint64_t value) {
  return (value + kPageSize - 1) / kPageSize * kPageSize;
}

inline constexpr bool PageAligned(uint64_t value) {
  return value % kPageSize == 0;
}

}  // namespace pil

#endif  // PILD_COMMON_PAGE_H_
