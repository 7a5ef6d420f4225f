#include "platform/sim/boards.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error.h"
#include "platform/sim/boards/bundled_boards.h"

namespace pil::sim {

absl::StatusOr<absl::string_view> BundledBoard(absl::string_view name) {
  for (const auto& [board, dtb] : BundledBoards()) {
    if (board == name) return dtb;
  }
  return Error(absl::StatusCode::kNotFound, "UNKNOWN_BOARD",
               absl::StrCat("no bundled board named '", name, "'; bundled: ",
                            absl::StrJoin(BundledBoardNames(), ", ")),
               {{"board", std::string(name)}});
}

std::vector<std::string> BundledBoardNames() {
  std::vector<std::string> names;
  for (const auto& entry : BundledBoards()) {
    names.emplace_back(entry.first);
  }
  return names;
}

}  // namespace pil::sim
