// The device trees the sim ships with (platform/sim/boards/*.dts).
#ifndef PILD_PLATFORM_SIM_BOARDS_H_
#define PILD_PLATFORM_SIM_BOARDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::sim {

// SM8550-style board with Linux at EL2 owning the SMMU.
inline constexpr char kDefaultBoard[] = "sm8550-el2-sim";

// The DTB of bundled board `name`. NOT_FOUND (UNKNOWN_BOARD) listing the
// bundled boards when there is none by that name.
absl::StatusOr<absl::string_view> BundledBoard(absl::string_view name);

// Names of the bundled boards.
std::vector<std::string> BundledBoardNames();

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_BOARDS_H_
