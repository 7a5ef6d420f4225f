#include "platform/devicetree/iommus.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pil::devicetree {

std::vector<StreamId> ParseIommus(const Fdt& fdt, int node,
                                  absl::string_view label,
                                  std::vector<std::string>& problems) {
  std::vector<StreamId> out;
  auto cells = fdt.Cells(node, "iommus");
  if (!cells.ok()) {
    problems.push_back(std::string(cells.status().message()));
    return out;
  }
  size_t i = 0;
  while (i < cells->size()) {
    const uint32_t phandle = (*cells)[i];
    auto smmu = fdt.NodeByPhandle(phandle);
    if (!smmu) {
      problems.push_back(absl::StrCat(label, " refers to phandle 0x",
                                      absl::Hex(phandle),
                                      ", which no node has"));
      return out;
    }
    auto iommu_cells = fdt.U32(*smmu, "#iommu-cells");
    if (!iommu_cells || *iommu_cells > 4) {
      problems.push_back(absl::StrCat(
          label, " refers to ", fdt.PathOf(*smmu),
          ", which has no valid #iommu-cells (expected one cell <= 4)"));
      return out;
    }
    const size_t n = *iommu_cells;
    if (i + 1 + n > cells->size()) {
      problems.push_back(absl::StrCat(label, " is truncated: a specifier for ",
                                      fdt.PathOf(*smmu), " needs ", n,
                                      " cells after the phandle, ",
                                      cells->size() - i - 1, " remain"));
      return out;
    }
    StreamId id;
    id.sid = n >= 1 ? (*cells)[i + 1] : 0;
    id.mask = n >= 2 ? (*cells)[i + 2] : 0;
    id.smmu_path = fdt.PathOf(*smmu);
    out.push_back(std::move(id));
    i += 1 + n;
  }
  return out;
}

std::vector<IommuMapEntry> ParseIommuMap(const Fdt& fdt, int node,
                                         std::optional<StreamId>* firmware,
                                         std::vector<std::string>& problems) {
  std::vector<IommuMapEntry> out;
  auto cells = fdt.Cells(node, "iommu-map");
  if (!cells.ok()) {
    problems.push_back(std::string(cells.status().message()));
    return out;
  }
  if (cells->size() % 4 != 0) {
    problems.push_back(absl::StrCat(
        "iommu-map has ", cells->size(),
        " cells, expected <id-base phandle iommu-base length> tuples"));
    return out;
  }
  const uint32_t id_mask = fdt.U32(node, "iommu-map-mask").value_or(~0u);
  bool found = false;
  for (size_t i = 0; i < cells->size(); i += 4) {
    auto smmu = fdt.NodeByPhandle((*cells)[i + 1]);
    if (!smmu) {
      problems.push_back(absl::StrCat("iommu-map refers to phandle 0x",
                                      absl::Hex((*cells)[i + 1]),
                                      ", which no node has"));
      continue;
    }
    IommuMapEntry entry;
    entry.function_id = (*cells)[i];
    entry.smmu_path = fdt.PathOf(*smmu);
    entry.sid_base = (*cells)[i + 2];
    entry.length = (*cells)[i + 3];
    // The first covering entry wins, as in the kernel's id mapping.
    const uint32_t id = 0 & id_mask;
    if (!found && id >= entry.function_id &&
        uint64_t{id} - entry.function_id < entry.length) {
      found = true;
      *firmware = StreamId{entry.sid_base + (id - entry.function_id),
                           fdt.U32(*smmu, "stream-match-mask").value_or(0),
                           entry.smmu_path};
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace pil::devicetree
