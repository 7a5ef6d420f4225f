// Little-endian loads and stores on byte strings. Callers check bounds
// first; these functions do not.
#ifndef PILD_PLATFORM_IMAGE_BYTES_H_
#define PILD_PLATFORM_IMAGE_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace pil::image {

inline uint64_t LoadLe(absl::string_view bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= uint64_t{static_cast<uint8_t>(bytes[offset + i])} << (8 * i);
  }
  return value;
}
inline uint16_t Le16(absl::string_view b, size_t o) {
  return static_cast<uint16_t>(LoadLe(b, o, 2));
}
inline uint32_t Le32(absl::string_view b, size_t o) {
  return static_cast<uint32_t>(LoadLe(b, o, 4));
}
inline uint64_t Le64(absl::string_view b, size_t o) { return LoadLe(b, o, 8); }

inline void StoreLe(std::string& bytes, size_t offset, uint64_t value,
                    size_t width) {
  for (size_t i = 0; i < width; ++i) {
    bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
}

// Store a + b (a * b) in the out-parameter; true when it overflows.
inline bool AddOverflows(uint64_t a, uint64_t b, uint64_t* sum) {
  return __builtin_add_overflow(a, b, sum);
}
inline bool MulOverflows(uint64_t a, uint64_t b, uint64_t* product) {
  return __builtin_mul_overflow(a, b, product);
}

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_BYTES_H_
