// Facts about Qualcomm subsystems that a device tree does not state: PAS
// ids and the Linux drivers' defaults (firmware names, DTB PAS ids).
#ifndef PILD_PLATFORM_DEVICETREE_KNOWN_HARDWARE_H_
#define PILD_PLATFORM_DEVICETREE_KNOWN_HARDWARE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pil::devicetree {

// The PAS id of `subsystem` ("adsp", "cdsp", "video", ...) on `soc`.
// PAS ids are per-SoC namespaces; nullopt when unknown.
std::optional<uint32_t> PasIdFor(absl::string_view soc,
                                 absl::string_view subsystem);

// The PAS id of the DTB image of `subsystem`, for subsystems that load one.
std::optional<uint32_t> DtbPasIdFor(absl::string_view subsystem);

// What the Linux driver bound to a node assumes when the node does not say.
struct DriverDefaults {
  // Main image first, then the DTB image when the driver loads one (MSS:
  // the MBA image, then the modem image).
  std::vector<std::string> firmware_names;
  std::optional<uint32_t> dtb_pas_id;
};

// The defaults of the first of `compatible` that a driver matches (a node's
// fallback compatibles count, as in the kernel); nullopt when none does.
std::optional<DriverDefaults> DriverDefaultsFor(
    const std::vector<std::string>& compatible);

// True for the `*-pil` compatibles that the PAS drivers handle (older
// ADSP/SLPI nodes, WCNSS). Other `*-pil` nodes (MSS, WCSS, the non-TZ
// ADSP/CDSP/WPSS variants) boot without PAS: see Qdsp6PilFor.
bool IsPasLoadedPil(absl::string_view compatible);

// A `*-pil` compatible that a Linux driver boots without PAS, through the
// Hexagon's QDSP6SS registers.
struct Qdsp6Pil {
  // Unique-name stem: adsp, cdsp, wpss, mpss, wcss.
  absl::string_view subsystem;
  // qcom_q6v5_adsp, qcom_q6v5_mss or qcom_q6v5_wcss.
  absl::string_view driver;
};

// The match tables of those three drivers; nullopt for any other string.
std::optional<Qdsp6Pil> Qdsp6PilFor(absl::string_view compatible);

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_KNOWN_HARDWARE_H_
