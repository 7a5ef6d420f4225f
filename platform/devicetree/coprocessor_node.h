// What the device tree says about one firmware-loaded coprocessor.
#ifndef PILD_PLATFORM_DEVICETREE_COPROCESSOR_NODE_H_
#define PILD_PLATFORM_DEVICETREE_COPROCESSOR_NODE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pil::devicetree {

enum class CoprocessorKind { kRemoteproc, kVideoCodec };

// Who programs the SMMU for the firmware stream: Linux (at EL2, no
// hypervisor) or a hypervisor (Gunyah/QHEE) on the OS's behalf.
enum class IommuOwner { kLinux, kHypervisor };

// How the firmware is booted.
enum class BootMethod {
  // The secure world authenticates the image and releases reset (PAS).
  kPas,
  // No TrustZone: the OS copies the image into the carveout, maps it at IOVA
  // 0 for the `video-firmware` subnode's stream and releases the codec's
  // processor through the video wrapper's reset register (SC7180 Chromebooks
  // and the like).
  kVideoWrapper,
  // No PAS: the OS loads the image and starts the Hexagon through its
  // QDSP6SS registers (`*-pil` nodes of qcom_q6v5_adsp, _mss, _wcss).
  kQdsp6Registers,
};

// A reserved-memory region referenced by `memory-region`.
struct CarveoutRange {
  uint64_t base = 0;
  uint64_t size = 0;
  std::string node_path;
  // Placed by the OS at boot (`size`, `alignment`, `alloc-ranges`, no
  // `reg`), where Linux places it (reserved_memory.h).
  bool dynamic = false;
};

// An `iommus` specifier.
struct StreamId {
  uint32_t sid = 0;
  uint32_t mask = 0;
  std::string smmu_path;
};

// An `iommu-map` entry: IDs [function_id, function_id + length) map to
// stream IDs [sid_base, sid_base + length).
struct IommuMapEntry {
  uint32_t function_id = 0;
  std::string smmu_path;
  uint32_t sid_base = 0;
  uint32_t length = 0;
};

struct CoprocessorNode {
  std::string path;
  // Short unique name: adsp, cdsp, slpi, mpss, wpss, wcnss, video, ...
  std::string name;
  CoprocessorKind kind = CoprocessorKind::kRemoteproc;
  // SoC part of the first compatible ("sm8550"); empty when it has none.
  std::string soc;
  std::vector<std::string> compatible;
  // The status property; "okay" when absent.
  std::string status;
  // Peripheral id for PAS calls; nullopt when the subsystem is unknown. Kept
  // when known for nodes booted without PAS.
  std::optional<uint32_t> pas_id;
  // PAS id of the DTB image, when the node names one.
  std::optional<uint32_t> dtb_pas_id;
  // Main image first, then the DTB image (MSS: the MBA, then the modem).
  std::vector<std::string> firmware_names;
  // True when the node has no firmware-name and the driver default is used.
  bool firmware_names_default = false;
  // `memory-region` (an older MSS: its `mba` and `mpss` subnodes'): main
  // carveout first, then the DTB carveout, ...
  std::vector<CarveoutRange> carveouts;
  std::vector<StreamId> iommus;
  std::vector<IommuMapEntry> iommu_map;
  // The stream the firmware fetches with (see IommuOwner): a remoteproc's
  // first `iommus`; a codec's `video-firmware` or `firmware` subnode's first
  // `iommus`, else its `iommu-map` entry for function 0.
  std::optional<StreamId> firmware_stream;
  IommuOwner iommu_owner = IommuOwner::kHypervisor;
  BootMethod boot = BootMethod::kPas;
  // Inconsistencies in this node (dangling phandles, truncated specifiers,
  // carveouts that cannot be placed, unknown PAS id of a PAS node), and a
  // kQdsp6Registers boot, which pild does not model. A coprocessor with
  // problems is listed but cannot be booted.
  std::vector<std::string> problems;

  bool enabled() const { return status == "okay" || status == "ok"; }
};

// The board a device tree describes.
struct Board {
  std::string model;
  std::vector<std::string> compatible;
  std::vector<CoprocessorNode> coprocessors;
};

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_COPROCESSOR_NODE_H_
