// IOMMU properties of a device-tree node: `iommus` specifiers and
// `iommu-map` entries. Problems are appended to `problems`, never thrown;
// what parses before a problem is kept.
#ifndef PILD_PLATFORM_DEVICETREE_IOMMUS_H_
#define PILD_PLATFORM_DEVICETREE_IOMMUS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/devicetree/fdt.h"

namespace pil::devicetree {

// The `iommus` specifiers of `node`, in order; empty when it has none.
// `label` names the property in problems ("iommus",
// "video-firmware/iommus").
std::vector<StreamId> ParseIommus(const Fdt& fdt, int node,
                                  absl::string_view label,
                                  std::vector<std::string>& problems);

// The `iommu-map` entries of `node`. `*firmware` becomes the stream that
// function 0 (the firmware, IRIS_FIRMWARE) maps to, with the SMMU's
// stream-match mask; unchanged when no entry covers it.
std::vector<IommuMapEntry> ParseIommuMap(const Fdt& fdt, int node,
                                         std::optional<StreamId>* firmware,
                                         std::vector<std::string>& problems);

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_IOMMUS_H_
