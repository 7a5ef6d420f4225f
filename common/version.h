// pild's version, as GetInfo and --version report it.
#ifndef PILD_COMMON_VERSION_H_
#define PILD_COMMON_VERSION_H_

namespace pil {

inline constexpr char kVersion[] = "0.5.0";

}  // namespace pil

#endif  // PILD_COMMON_VERSION_H_
