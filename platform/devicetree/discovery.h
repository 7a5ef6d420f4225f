// Discovery of firmware-loaded coprocessors in a device tree.
//
//   absl::StatusOr<Board> board = Discover(dtb_bytes);
//   for (const CoprocessorNode& c : board->coprocessors) ...
//
// Matches PAS remoteprocs (`qcom,<soc>-<sub>-pas`, the older ADSP-style
// `qcom,<soc>-{adsp,cdsp,slpi}-pil`, WCNSS `qcom,{riva,pronto-v*}-pil`),
// video codecs (`qcom,<soc>-venus[-v2]`, `qcom,<soc>-iris`; BootMethod
// kVideoWrapper when a `video-firmware` subnode says there is no
// TrustZone), and every `*-pil` node the Linux QDSP6 drivers boot without
// PAS (qcom_q6v5_adsp, _mss, _wcss: BootMethod kQdsp6Registers, listed with
// a problem since pild does not model that loading). Disabled nodes are
// listed with their status.
#ifndef PILD_PLATFORM_DEVICETREE_DISCOVERY_H_
#define PILD_PLATFORM_DEVICETREE_DISCOVERY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/devicetree/fdt.h"

namespace pil::devicetree {

// Parses `dtb` and returns the board's coprocessors in document order.
// INVALID_ARGUMENT (DTB_MALFORMED) when the blob is not a well-formed device
// tree. Inconsistencies inside one coprocessor node do not fail discovery;
// they are listed in CoprocessorNode::problems.
absl::StatusOr<Board> Discover(absl::string_view dtb);

// The same for an already validated tree.
Board Discover(const Fdt& fdt);

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_DISCOVERY_H_
