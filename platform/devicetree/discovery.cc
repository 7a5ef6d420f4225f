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
#include "platform/devicetree/known_hardware.h"
#include "platform/devicetree/reserved_memory.h"

namespace pil::devicetree {
namespace {

// A compatible string recognised as a firmware-loaded coprocessor.
struct Match {
  CoprocessorKind kind;
  std::string subsystem;  // adsp, cdsp, ..., "video" for codecs
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
  if (IsPasLoadedPil(compatible)) {
    absl::string_view body = compatible;
    absl::ConsumePrefix(&body, "qcom,");
    absl::ConsumeSuffix(&body, "-pil");
    if (body == "riva" || absl::StartsWith(body, "pronto-")) {
      return Match{CoprocessorKind::kRemoteproc, "wcnss"};
    }
    auto parts = SplitSocSubsystem(body);
    if (!parts) return std::nullopt;
    return Match{CoprocessorKind::kRemoteproc, parts->second};
  }
  if (!absl::ConsumePrefix(&compatible, "qcom,")) return std::nullopt;
  absl::string_view body = compatible;
  if (absl::ConsumeSuffix(&body, "-pas")) {
    auto parts = SplitSocSubsystem(body);
    if (!parts) return std::nullopt;
    return Match{CoprocessorKind::kRemoteproc, parts->second};
  }
  for (absl::string_view suffix : {"-venus", "-venus-v2", "-iris"}) {
    absl::string_view soc = compatible;
    if (absl::ConsumeSuffix(&soc, suffix) && !soc.empty() &&
        !absl::StrContains(soc, '-')) {
      return Match{CoprocessorKind::kVideoCodec, "video"};
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

// Reads the node behind each phandle of `memory-region`; a region without
// `reg` is where `reserved` placed it.
void ResolveCarveouts(const Fdt& fdt, const ReservedMemory& reserved, int node,
                      CoprocessorNode& out) {
  auto phandles = fdt.Cells(node, "memory-region");
  if (!phandles.ok()) {
    out.problems.push_back(std::string(phandles.status().message()));
    return;
  }
  for (size_t i = 0; i < phandles->size(); ++i) {
    const std::string where = absl::StrCat("memory-region[", i, "]");
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

void ResolveIommus(const Fdt& fdt, int node, CoprocessorNode& out) {
  auto cells = fdt.Cells(node, "iommus");
  if (!cells.ok()) {
    out.problems.push_back(std::string(cells.status().message()));
    return;
  }
  size_t i = 0;
  while (i < cells->size()) {
    const uint32_t phandle = (*cells)[i];
    auto smmu = fdt.NodeByPhandle(phandle);
    if (!smmu) {
      out.problems.push_back(absl::StrCat("iommus refers to phandle 0x",
                                          absl::Hex(phandle),
                                          ", which no node has"));
      return;
    }
    auto iommu_cells = fdt.U32(*smmu, "#iommu-cells");
    if (!iommu_cells || *iommu_cells > 4) {
      out.problems.push_back(absl::StrCat(
          "iommus refers to ", fdt.PathOf(*smmu),
          ", which has no valid #iommu-cells (expected one cell <= 4)"));
      return;
    }
    const size_t n = *iommu_cells;
    if (i + 1 + n > cells->size()) {
      out.problems.push_back(absl::StrCat(
          "iommus is truncated: a specifier for ", fdt.PathOf(*smmu), " needs ",
          n, " cells after the phandle, ", cells->size() - i - 1, " remain"));
      return;
    }
    StreamId id;
    id.sid = n >= 1 ? (*cells)[i + 1] : 0;
    id.mask = n >= 2 ? (*cells)[i + 2] : 0;
    id.smmu_path = fdt.PathOf(*smmu);
    out.iommus.push_back(std::move(id));
    i += 1 + n;
  }
}

// Returns the stream-match mask of the SMMU at `smmu_path`'s node.
uint32_t StreamMatchMask(const Fdt& fdt, int smmu) {
  return fdt.U32(smmu, "stream-match-mask").value_or(0);
}

void ResolveIommuMap(const Fdt& fdt, int node, CoprocessorNode& out) {
  auto cells = fdt.Cells(node, "iommu-map");
  if (!cells.ok()) {
    out.problems.push_back(std::string(cells.status().message()));
    return;
  }
  if (cells->size() % 4 != 0) {
    out.problems.push_back(absl::StrCat(
        "iommu-map has ", cells->size(),
        " cells, expected <id-base phandle iommu-base length> tuples"));
    return;
  }
  const uint32_t id_mask = fdt.U32(node, "iommu-map-mask").value_or(~0u);
  std::optional<StreamId> firmware;
  for (size_t i = 0; i < cells->size(); i += 4) {
    auto smmu = fdt.NodeByPhandle((*cells)[i + 1]);
    if (!smmu) {
      out.problems.push_back(absl::StrCat("iommu-map refers to phandle 0x",
                                          absl::Hex((*cells)[i + 1]),
                                          ", which no node has"));
      continue;
    }
    IommuMapEntry entry;
    entry.function_id = (*cells)[i];
    entry.smmu_path = fdt.PathOf(*smmu);
    entry.sid_base = (*cells)[i + 2];
    entry.length = (*cells)[i + 3];
    // The firmware is function 0 (IRIS_FIRMWARE); the first covering entry
    // wins, as in the kernel's id mapping.
    const uint32_t id = 0 & id_mask;
    if (!firmware && id >= entry.function_id &&
        uint64_t{id} - entry.function_id < entry.length) {
      firmware = StreamId{entry.sid_base + (id - entry.function_id),
                          StreamMatchMask(fdt, *smmu), entry.smmu_path};
    }
    out.iommu_map.push_back(std::move(entry));
  }
  if (out.kind == CoprocessorKind::kVideoCodec) out.firmware_stream = firmware;
}

CoprocessorNode Describe(const Fdt& fdt, const ReservedMemory& reserved,
                         int node, const Match& match,
                         std::vector<std::string> compatible) {
  CoprocessorNode out;
  out.path = fdt.PathOf(node);
  out.kind = match.kind;
  out.soc = SocOf(compatible.front());
  out.compatible = std::move(compatible);

  auto status = fdt.Strings(node, "status");
  out.status = status.ok() && !status->empty() ? status->front() : "okay";
  if (!status.ok())
    out.problems.push_back(std::string(status.status().message()));

  out.pas_id = PasIdFor(out.soc, match.subsystem);
  if (!out.pas_id && !(out.kind == CoprocessorKind::kVideoCodec &&
                       fdt.Subnode(node, "video-firmware"))) {
    out.problems.push_back(absl::StrCat("no PAS id is known for subsystem '",
                                        match.subsystem, "'"));
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
  if (out.firmware_names.size() >= 2) {
    out.dtb_pas_id = defaults && defaults->dtb_pas_id
                         ? defaults->dtb_pas_id
                         : DtbPasIdFor(match.subsystem);
  }
  std::optional<int> video_firmware =
      out.kind == CoprocessorKind::kVideoCodec
          ? fdt.Subnode(node, "video-firmware")
          : std::nullopt;
  if (video_firmware) out.boot = BootMethod::kVideoWrapper;

  ResolveCarveouts(fdt, reserved, node, out);
  if (out.carveouts.empty() &&
      std::none_of(out.problems.begin(), out.problems.end(),
                   [](const std::string& p) {
                     return absl::StartsWith(p, "memory-region");
                   })) {
    out.problems.push_back("no memory-region: the node has no carveout");
  }
  ResolveIommus(fdt, node, out);
  ResolveIommuMap(fdt, node, out);
  // A remoteproc with `iommus` (even a malformed one) is Linux-managed, as
  // in the kernel; a codec is when its firmware function maps to a stream.
  bool linux_owned = out.firmware_stream.has_value();
  if (out.kind == CoprocessorKind::kRemoteproc) {
    if (!out.iommus.empty()) out.firmware_stream = out.iommus.front();
    linux_owned = fdt.Property(node, "iommus").has_value();
  }
  if (video_firmware) {
    CoprocessorNode sub;
    ResolveIommus(fdt, *video_firmware, sub);
    if (sub.iommus.empty()) {
      out.problems.push_back(
          "the video-firmware subnode has no usable iommus: no stream to map "
          "the firmware for");
    } else {
      out.firmware_stream = sub.iommus.front();
      linux_owned = true;
    }
  }
  out.iommu_owner = linux_owned ? IommuOwner::kLinux : IommuOwner::kHypervisor;
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
