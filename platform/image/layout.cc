#include "platform/image/layout.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "platform/image/bytes.h"

namespace pil::image {
namespace {

absl::Status Invalid(absl::string_view reason, std::string message,
                     ErrorMetadata metadata = {}) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message,
               std::move(metadata));
}

}  // namespace

absl::StatusOr<LoadLayout> ComputeLayout(
    const std::vector<ProgramHeader>& phdrs) {
  LoadLayout layout;
  layout.min_address = std::numeric_limits<uint64_t>::max();
  size_t flagged = 0;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const ProgramHeader& p = phdrs[i];
    if (!p.loadable()) continue;
    uint64_t end = 0;
    uint64_t aligned = 0;
    if (AddOverflows(p.paddr, p.memsz, &end) ||
        AddOverflows(end, kPageSize - 1, &aligned)) {
      return Invalid(
          "SEGMENT_ADDRESS_OVERFLOW",
          absl::StrCat("segment ", i, " [", Hex(p.paddr), ", +", Hex(p.memsz),
                       ") wraps around the address space"),
          {{"segment", absl::StrCat(i)}});
    }
    layout.loadable.push_back(i);
    if (p.relocatable()) ++flagged;
    layout.min_address = std::min(layout.min_address, p.paddr);
    layout.max_address =
        std::max(layout.max_address, aligned & ~(kPageSize - 1));
  }
  if (layout.loadable.empty()) {
    return Invalid("NO_LOADABLE_SEGMENTS",
                   "image has no loadable segment (PT_LOAD with p_memsz > 0)");
  }
  // Segments are copied into memory in parallel: two that share a byte
  // would leave it undefined. Sorted by address, each must end before the
  // next begins, except a segment without file data that lies wholly in the
  // zero-filled tail of an earlier one: its bytes are zero whichever order a
  // loader uses, so it is subsumed (real images have them: WCNSS).
  std::vector<size_t> by_address = layout.loadable;
  std::stable_sort(by_address.begin(), by_address.end(),
                   [&](size_t a, size_t b) {
                     return phdrs[a].paddr < phdrs[b].paddr ||
                            (phdrs[a].paddr == phdrs[b].paddr &&
                             phdrs[a].memsz > phdrs[b].memsz);
                   });
  std::vector<size_t> kept;
  for (size_t index : by_address) {
    const ProgramHeader& b = phdrs[index];
    if (!kept.empty()) {
      const ProgramHeader& a = phdrs[kept.back()];
      if (b.paddr - a.paddr < a.memsz) {
        const bool in_zero_tail = b.filesz == 0 &&
                                  b.paddr - a.paddr >= a.filesz &&
                                  b.memsz <= a.memsz - (b.paddr - a.paddr);
        if (in_zero_tail) {
          layout.subsumed.push_back(index);
          continue;
        }
        const size_t i = std::min(kept.back(), index);
        const size_t j = std::max(kept.back(), index);
        return Invalid(
            "SEGMENTS_OVERLAP",
            absl::StrCat("segments ", i, " and ", j, " overlap: [",
                         Hex(phdrs[i].paddr), ", +", Hex(phdrs[i].memsz),
                         ") and [", Hex(phdrs[j].paddr), ", +",
                         Hex(phdrs[j].memsz),
                         ") (only a segment without file data may lie "
                         "inside another's zero-filled tail)"),
            {{"segment", absl::StrCat(i)}, {"other_segment", absl::StrCat(j)}});
      }
    }
    kept.push_back(index);
  }
  std::sort(kept.begin(), kept.end());
  std::sort(layout.subsumed.begin(), layout.subsumed.end());
  layout.loadable = std::move(kept);
  // Relocatable when any loadable segment says so (as the kernel's loader
  // reads it); partially when the placed ones disagree.
  layout.relocatable = flagged > 0;
  const size_t flagged_kept = static_cast<size_t>(
      std::count_if(layout.loadable.begin(), layout.loadable.end(),
                    [&](size_t i) { return phdrs[i].relocatable(); }));
  layout.partially_relocatable =
      flagged_kept > 0 && flagged_kept < layout.loadable.size();
  return layout;
}

absl::Status CheckFitsCarveout(const LoadLayout& layout,
                               const std::vector<ProgramHeader>& phdrs,
                               uint64_t base, uint64_t size) {
  const std::string carveout =
      absl::StrCat("[", Hex(base), ", +", Hex(size), ")");
  const std::string needed =
      absl::StrCat(Hex(layout.min_address), "..", Hex(layout.max_address));
  if (layout.span() > size) {
    return Invalid(
        "IMAGE_TOO_LARGE",
        absl::StrCat("image spans ", Hex(layout.span()),
                     " bytes, the carveout ", carveout, " has ", Hex(size),
                     "; it needs reserved memory ", needed),
        {{"expected", Hex(size)},
         {"found", Hex(layout.span())},
         {"needed", needed}});
  }
  const uint64_t reloc = RelocationBase(layout, base);
  for (size_t i : layout.loadable) {
    const ProgramHeader& p = phdrs[i];
    const bool below = p.paddr < reloc;
    const uint64_t offset = p.paddr - reloc;
    uint64_t end = 0;
    if (below || AddOverflows(offset, p.memsz, &end) || end > size) {
      return Invalid(
          "SEGMENT_OUTSIDE_CARVEOUT",
          absl::StrCat("segment ", i, " [", Hex(p.paddr), ", +", Hex(p.memsz),
                       ") lies outside the carveout ", carveout,
                       layout.relocatable ? " after relocation" : "",
                       "; the image needs reserved memory ", needed),
          {{"segment", absl::StrCat(i)}, {"needed", needed}});
    }
  }
  return absl::OkStatus();
}

}  // namespace pil::image
