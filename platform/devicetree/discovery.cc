#include "platform/devicetree/discovery.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "platform/devicetree/fdt.h"
#include "platform/devicetree/iommus.h"
#include "platform/devicetree/known_hardware.h"
#include "platform/devicetree/reserved_memory.h"

namespace pil::devicetree {
namespace {

// A compatible string recognised as a firmware-loaded coprocessor.
struct Match {
  CoprocessorKind kind;
  std::string subsystem;  // adsp, cdsp, ..., "video" for codecs
  BootMethod boot = BootMethod::kPas;
  absl::string_view driver = "";  // for kQdsp6Registers: the Linux driver
};

// "qcom,sm8550-adsp-pas" -> ("sm8550", "adsp").
std::optional<std::pair<std::string, std::string>> SplitSocSubsystem(
    absl::string_view body) {
  size_t dash = body.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 >= body.size()) {
    return std::nullopt;
  }
  return std::make_pair(std::string(body.substr(0, dash)),
                        std::string(body.substr(dash + 1)));
}

std::optional<Match> MatchCompatible(absl::string_view compatible) {
  if (auto pil = Qdsp6PilFor(compatible)) {
    return Match{CoprocessorKind::kRemoteproc, std::string(pil->subsystem),
                 BootMethod::kQdsp6Registers, pil->driver};
  }
  if (IsPasLoadedPil(compatible)) {
    absl::string_view body = compatible;
    absl::ConsumePrefix(&body, "qcom,");
    absl::ConsumeSuffix(&body, "-pil");
    if (body == "riva" || absl::StartsWith(body, "pronto-")) {
      return Match{CoprocessorKind::kRemoteproc, "wcnss", BootMethod::kPas, ""};
    }
    auto parts = SplitSocSubsystem(body);
    if (!parts) return std::nullopt;
    return Match{CoprocessorKind::kRemoteproc, parts->second, BootMethod::kPas,
                 ""};
  }
  if (!absl::ConsumePrefix(&compatible, "qcom,")) return std::nullopt;
  absl::string_view body = compatible;
  if (absl::ConsumeSuffix(&body, "-pas")) {
    auto parts = SplitSocSubsystem(body);
    if (!parts) return std::nullopt;
    return Match{CoprocessorKind::kRemoteproc, parts->second, BootMethod::kPas,
                 ""};
  }
  for (absl::string_view suffix : {"-venus", "-venus-v2", "-iris"}) {
    absl::string_view soc = compatible;
    if (absl::ConsumeSuffix(&soc, suffix) && !soc.empty() &&
        !absl::StrContains(soc, '-')) {
      return Match{CoprocessorKind::kVideoCodec, "video", BootMethod::kPas, ""};
    }
  }
  return std::nullopt;
}

std::string SocOf(absl::string_view compatible) {
  if (!absl::ConsumePrefix(&compatible, "qcom,")) return "";
  size_t dash = compatible.find('-');
  if (dash == absl::string_view::npos) return "";
  std::string soc(compatible.substr(0, dash));
  // WCNSS compatibles name an IP block, not a SoC.
  if (soc == "riva" || soc == "pronto") return "";
  return soc;
}

// Reads the node behind each phandle of `node`'s `memory-region`; a region
// without `reg` is where `reserved` placed it. `prefix` ("mba/") names a
// subnode in problems.
void ResolveCarveouts(const Fdt& fdt, const ReservedMemory& reserved, int node,
                      absl::string_view prefix, CoprocessorNode& out) {
  auto phandles = fdt.Cells(node, "memory-region");
  if (!phandles.ok()) {
    out.problems.push_back(std::string(phandles.status().message()));
    return;
  }
  for (size_t i = 0; i < phandles->size(); ++i) {
    const std::string where = absl::StrCat(prefix, "memory-region[", i, "]");
    auto region = fdt.NodeByPhandle((*phandles)[i]);
    if (!region) {
      out.problems.push_back(absl::StrCat(where, " refers to phandle 0x",
                                          absl::Hex((*phandles)[i]),
                                          ", which no node has"));
      continue;
    }
    const std::string region_path = fdt.PathOf(*region);
    auto parent = fdt.ParentOf(*region);
    if (!parent) {
      out.problems.push_back(absl::StrCat(where, " refers to the root node"));
      continue;
    }
    auto address_cells = fdt.AddressCells(*parent);
    auto size_cells = fdt.SizeCells(*parent);
    auto reg = fdt.Cells(*region, "reg");
    if (!address_cells.ok() || !size_cells.ok() || !reg.ok()) {
      out.problems.push_back(
          absl::StrCat(where, " (", region_path, "): ",
                       !address_cells.ok() ? address_cells.status().message()
                       : !size_cells.ok()  ? size_cells.status().message()
                                           : reg.status().message()));
      continue;
    }
    const size_t ac = static_cast<size_t>(*address_cells);
    const size_t sc = static_cast<size_t>(*size_cells);
    if (reg->empty()) {
      auto placed = reserved.placed.find(region_path);
      if (placed != reserved.placed.end() && placed->second.dynamic) {
        out.carveouts.push_back(
            {placed->second.base, placed->second.size, region_path, true});
        continue;
      }
      auto why = reserved.unplaced.find(region_path);
      out.problems.push_back(absl::StrCat(
          where, " (", region_path, ") has no reg and cannot be placed: ",
          why != reserved.unplaced.end()
              ? why->second
              : "it has no size either, or is not under /reserved-memory"));
      continue;
    }
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2) {
      out.problems.push_back(absl::StrCat(
          where, " (", region_path, "): expected 1 or 2 address and size ",
          "cells, found #address-cells ", ac, " and #size-cells ", sc));
      continue;
    }
    if (reg->size() < ac + sc) {
      out.problems.push_back(
          absl::StrCat(where, " (", region_path, "): reg has ", reg->size(),
                       " cells, expected at least ", ac + sc));
      continue;
    }
    auto combine = [&](size_t first, size_t count) {
      uint64_t value = 0;
      for (size_t c = 0; c < count; ++c)
        value = (value << 32) | (*reg)[first + c];
      return value;
    };
    CarveoutRange range;
    range.base = combine(0, ac);
    range.size = combine(ac, sc);
    range.node_path = region_path;
    out.carveouts.push_back(std::move(range));
  }
}

// The first `iommus` specifier of the child `subnode` of `node` (a codec's
// `video-firmware` or `firmware`); nullopt, with a problem naming the
// subnode, when it has none that parses.
std::optional<StreamId> SubnodeStream(const Fdt& fdt, int node,
                                      const char* subnode,
                                      CoprocessorNode& out) {
  auto child = fdt.Subnode(node, subnode);
  if (!child) return std::nullopt;
  std::vector<StreamId> ids =
      ParseIommus(fdt, *child, absl::StrCat(subnode, "/iommus"), out.problems);
  if (!ids.empty()) return ids.front();
  out.problems.push_back(
      absl::StrCat("the ", subnode, " subnode (", fdt.PathOf(*child),
                   ") has no usable iommus: the firmware stream is unknown"));
  return std::nullopt;
}

// The firmware stream of a codec and who maps it. Without TrustZone it is
// the `video-firmware` subnode's; otherwise a `firmware` subnode's (the
// newer Iris form), else the `iommu-map` entry of function 0.
void ResolveCodecStream(const Fdt& fdt, int node, CoprocessorNode& out) {
  std::optional<StreamId> mapped;
  out.iommu_map = ParseIommuMap(fdt, node, &mapped, out.problems);
  const char* subnode =
      out.boot == BootMethod::kVideoWrapper ? "video-firmware" : "firmware";
  std::optional<StreamId> own = SubnodeStream(fdt, node, subnode, out);
  // Masks are not compared: iommu-map's is the SMMU's stream-match-mask.
  if (own && mapped && out.boot == BootMethod::kPas &&
      (own->sid != mapped->sid || own->smmu_path != mapped->smmu_path)) {
    out.problems.push_back(absl::StrCat(
        "the firmware subnode's stream 0x", absl::Hex(own->sid), " (",
        own->smmu_path, ") disagrees with iommu-map function 0's 0x",
        absl::Hex(mapped->sid), " (", mapped->smmu_path,
        "); the subnode's is used"));
  }
  out.firmware_stream =
      own || out.boot == BootMethod::kVideoWrapper ? own : mapped;
  const bool linux_owned =
      out.firmware_stream.has_value() || fdt.Subnode(node, subnode).has_value();
  out.iommu_owner = linux_owned ? IommuOwner::kLinux : IommuOwner::kHypervisor;
}

// What pild cannot do for a node its driver boots through QDSP6SS.
std::string Qdsp6Problem(absl::string_view driver) {
  if (driver == "qcom_q6v5_mss") {
    return "boots without PAS: the OS starts the Hexagon through its QDSP6SS "
           "registers with the MBA image, then hands the MBA the modem image "
           "through the RMB registers (qcom_q6v5_mss); pild does not model "
           "this loading";
  }
  if (driver == "qcom_q6v5_wcss") {
    return "boots without PAS through its QDSP6SS and WCSS reset registers "
           "(qcom_q6v5_wcss); pild does not model this loading";
  }
  return absl::StrCat("boots without PAS through its QDSP6SS registers (",
                      driver, "); pild does not model this loading");
}

// Whether a codec's wrapper is the VPU v1-v5 one (A9SS reset): Venus,
// except the IRIS2 generation (sm8250, sc7280) and every Iris.
bool HasV1ToV5Wrapper(const CoprocessorNode& codec) {
  for (const std::string& c : codec.compatible) {
    if (c == "qcom,sm8250-venus" || c == "qcom,sc7280-venus" ||
        absl::EndsWith(c, "-iris")) {
      return false;
    }
  }
  return true;
}

CoprocessorNode Describe(const Fdt& fdt, const ReservedMemory& reserved,
                         int node, const Match& match,
                         std::vector<std::string> compatible) {
  CoprocessorNode out;
  out.path = fdt.PathOf(node);
  out.kind = match.kind;
  out.boot = match.boot;
  if (out.kind == CoprocessorKind::kVideoCodec &&
      fdt.Subnode(node, "video-firmware")) {
    out.boot = BootMethod::kVideoWrapper;
  }
  out.soc = SocOf(compatible.front());
  out.compatible = std::move(compatible);
  if (out.boot == BootMethod::kVideoWrapper && !HasV1ToV5Wrapper(out)) {
    out.problems.push_back(
        "its video-firmware subnode calls for the VPU v6 (IRIS2) wrapper, "
        "released through its XTSS reset; pild models the v1-v5 (A9SS) "
        "wrapper only");
  }

  auto status = fdt.Strings(node, "status");
  out.status = status.ok() && !status->empty() ? status->front() : "okay";
  if (!status.ok())
    out.problems.push_back(std::string(status.status().message()));

  // Only PAS needs the id; a node booted otherwise keeps a known one.
  out.pas_id = PasIdFor(out.soc, match.subsystem);
  // A fallback compatible names the subsystem the driver knows, as
  // "qcom,qcs8300-gpdsp-pas", "qcom,sa8775p-gpdsp0-pas" does.
  for (size_t i = 1; !out.pas_id && i < out.compatible.size(); ++i) {
    std::optional<Match> fallback = MatchCompatible(out.compatible[i]);
    if (fallback && fallback->boot == match.boot) {
      out.pas_id = PasIdFor(SocOf(out.compatible[i]), fallback->subsystem);
    }
  }
  if (!out.pas_id && out.boot == BootMethod::kPas) {
    out.problems.push_back(absl::StrCat("no PAS id is known for subsystem '",
                                        match.subsystem, "'"));
  }
  if (out.boot == BootMethod::kQdsp6Registers) {
    out.problems.push_back(Qdsp6Problem(match.driver));
  }

  // Names the node gives override the driver's, position by position.
  const std::optional<DriverDefaults> defaults =
      DriverDefaultsFor(out.compatible);
  auto names = fdt.Strings(node, "firmware-name");
  if (!names.ok()) {
    out.problems.push_back(std::string(names.status().message()));
  } else {
    out.firmware_names = std::move(*names);
    out.firmware_names_default = out.firmware_names.empty();
  }
  if (defaults) {
    for (size_t i = out.firmware_names.size();
         i < defaults->firmware_names.size(); ++i) {
      out.firmware_names.push_back(defaults->firmware_names[i]);
    }
  }
  if (out.firmware_names.empty()) {
    out.firmware_names_default = false;
    out.problems.push_back(
        "no firmware-name, and no driver default is known for this "
        "compatible");
  }
  if (out.firmware_names.size() >= 2 && out.boot == BootMethod::kPas) {
    out.dtb_pas_id = defaults && defaults->dtb_pas_id
                         ? defaults->dtb_pas_id
                         : DtbPasIdFor(match.subsystem);
  }

  ResolveCarveouts(fdt, reserved, node, "", out);
  // Older MSS nodes name their regions in `mba` and `mpss` subnodes.
  if (match.driver == "qcom_q6v5_mss" && !fdt.Property(node, "memory-region")) {
    for (const char* sub : {"mba", "mpss"}) {
      if (auto child = fdt.Subnode(node, sub)) {
        ResolveCarveouts(fdt, reserved, *child, absl::StrCat(sub, "/"), out);
      }
    }
  }
  if (out.carveouts.empty() &&
      std::none_of(out.problems.begin(), out.problems.end(),
                   [](const std::string& p) {
                     return absl::StrContains(p, "memory-region");
                   })) {
    out.problems.push_back("no memory-region: the node has no carveout");
  }
  out.iommus = ParseIommus(fdt, node, "iommus", out.problems);
  if (out.kind == CoprocessorKind::kVideoCodec) {
    ResolveCodecStream(fdt, node, out);
    return out;
  }
  std::optional<StreamId> unused;
  out.iommu_map = ParseIommuMap(fdt, node, &unused, out.problems);
  // A remoteproc with `iommus` (even a malformed one) is Linux-managed, as
  // in the kernel.
  if (!out.iommus.empty()) out.firmware_stream = out.iommus.front();
  out.iommu_owner = fdt.Property(node, "iommus").has_value()
                        ? IommuOwner::kLinux
                        : IommuOwner::kHypervisor;
  return out;
}

}  // namespace

absl::StatusOr<Board> Discover(absl::string_view dtb) {
  auto fdt = Fdt::Parse(dtb);
  if (!fdt.ok()) return fdt.status();
  return Discover(*fdt);
}

Board Discover(const Fdt& tree) {
  const Fdt* fdt = &tree;
  Board board;
  const int root = fdt->Nodes().front();
  auto model = fdt->Strings(root, "model");
  if (model.ok() && !model->empty()) board.model = model->front();
  auto root_compatible = fdt->Strings(root, "compatible");
  if (root_compatible.ok()) board.compatible = std::move(*root_compatible);

  const ReservedMemory reserved = PlaceReservedMemory(*fdt);
  std::set<std::string> names;
  for (int node : fdt->Nodes()) {
    auto compatible = fdt->Strings(node, "compatible");
    if (!compatible.ok() || compatible->empty()) continue;
    std::optional<Match> match;
    for (const std::string& c : *compatible) {
      match = MatchCompatible(c);
      if (match) break;
    }
    if (!match) continue;
    CoprocessorNode described =
        Describe(*fdt, reserved, node, *match, std::move(*compatible));
    // Names are unique: a second "video" becomes "video1".
    described.name = match->subsystem;
    for (int n = 1; names.count(described.name) != 0; ++n) {
      described.name = absl::StrCat(match->subsystem, n);
    }
    names.insert(described.name);
    board.coprocessors.push_back(std::move(described));
  }
  return board;
}

}  // namespace pil::devicetree
