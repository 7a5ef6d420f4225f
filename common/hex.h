// Numbers as people read addresses, sizes and stream IDs: "0x9bb00000".
#ifndef PILD_COMMON_HEX_H_
#define PILD_COMMON_HEX_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace pil {

inline std::string Hex(uint64_t value) {
  return absl::StrCat("0x", absl::Hex(value));
}

}  // namespace pil

#endif  // PILD_COMMON_HEX_H_
