#include "platform/devicetree/reserved_memory.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pil::devicetree {
namespace {

constexpr uint64_t kCacheLine = 64;       // SMP_CACHE_BYTES on arm64
constexpr uint64_t kCmaAlign = 2u << 20;  // a pageblock, 4 KiB pages

struct Span {
  uint64_t base = 0, end = 0;  // [base, end)
};

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v)); }

std::string Describe(const std::vector<Span>& spans) {
  return absl::StrJoin(spans, ", ", [](std::string* out, const Span& s) {
    absl::StrAppend(out, "[", Hex(s.base), ", ", Hex(s.end), ")");
  });
}

// Cells as (base, size) pairs of `ac` and `sc` cells; nullopt when the
// count does not divide, a value needs more than 64 bits or a span wraps.
std::optional<std::vector<Span>> Pairs(const std::vector<uint32_t>& cells,
                                       size_t ac, size_t sc) {
  if (ac < 1 || ac > 2 || sc < 1 || sc > 2 || cells.size() % (ac + sc) != 0) {
    return std::nullopt;
  }
  std::vector<Span> out;
  for (size_t i = 0; i < cells.size(); i += ac + sc) {
    uint64_t base = 0, size = 0;
    for (size_t c = 0; c < ac; ++c) base = (base << 32) | cells[i + c];
    for (size_t c = 0; c < sc; ++c) size = (size << 32) | cells[i + ac + c];
    if (size > UINT64_MAX - base) return std::nullopt;
    out.push_back({base, base + size});
  }
  return out;
}

bool Available(const Fdt& fdt, int node) {
  auto status = fdt.Strings(node, "status");
  return !status.ok() || status->empty() || (*status)[0] == "okay" ||
         (*status)[0] == "ok";
}

// [range) minus `taken`, as gaps in ascending order.
std::vector<Span> Gaps(Span range, std::vector<Span> taken) {
  std::sort(taken.begin(), taken.end(),
            [](const Span& a, const Span& b) { return a.base < b.base; });
  std::vector<Span> gaps;
  uint64_t at = range.base;
  for (const Span& t : taken) {
    if (t.end <= at || t.base >= range.end) continue;
    if (t.base > at) gaps.push_back({at, t.base});
    at = std::max(at, t.end);
    if (at >= range.end) break;
  }
  if (at < range.end) gaps.push_back({at, range.end});
  return gaps;
}

std::vector<Span> Intersect(Span range, const std::vector<Span>& memory) {
  std::vector<Span> out;
  for (const Span& m : memory) {
    Span s{std::max(range.base, m.base), std::min(range.end, m.end)};
    if (s.base < s.end) out.push_back(s);
  }
  return out;
}

// The place for `size` bytes aligned to `align` in `gaps`, from the top or
// the bottom.
std::optional<uint64_t> Fit(const std::vector<Span>& gaps, uint64_t size,
                            uint64_t align, bool bottom_up) {
  if (bottom_up) {
    for (const Span& g : gaps) {
      if (g.base > UINT64_MAX - (align - 1)) continue;
      const uint64_t at = (g.base + align - 1) & ~(align - 1);
      if (at < g.end && g.end - at >= size) return at;
    }
    return std::nullopt;
  }
  for (auto g = gaps.rbegin(); g != gaps.rend(); ++g) {
    if (g->end - g->base < size) continue;
    const uint64_t at = (g->end - size) & ~(align - 1);
    if (at >= g->base) return at;
  }
  return std::nullopt;
}

bool Touches(uint64_t address, const std::vector<Span>& spans) {
  return std::any_of(spans.begin(), spans.end(), [&](const Span& s) {
    return address >= s.base && address <= s.end;
  });
}

}  // namespace

ReservedMemory PlaceReservedMemory(const Fdt& fdt) {
  ReservedMemory out;
  const int root = fdt.Nodes().front();
  std::optional<int> reserved;
  std::vector<Span> memory;
  for (int node : fdt.Nodes()) {
    if (fdt.ParentOf(node) != root) continue;
    const std::string path = fdt.PathOf(node);
    if (path == "/reserved-memory") reserved = node;
    auto type = fdt.Strings(node, "device_type");
    if (type.ok() && !type->empty() && (*type)[0] == "memory") {
      auto ac = fdt.AddressCells(root);
      auto sc = fdt.SizeCells(root);
      auto reg = fdt.Cells(node, "reg");
      if (!ac.ok() || !sc.ok() || !reg.ok()) continue;
      if (auto spans = Pairs(*reg, *ac, *sc)) {
        for (const Span& s : *spans) {
          if (s.end > s.base) memory.push_back(s);
        }
      }
    }
  }
  if (!reserved) return out;
  auto ac_or = fdt.AddressCells(*reserved);
  auto sc_or = fdt.SizeCells(*reserved);
  if (!ac_or.ok() || !sc_or.ok()) return out;
  const size_t ac = static_cast<size_t>(*ac_or);
  const size_t sc = static_cast<size_t>(*sc_or);

  // Static regions first, all of them; the dynamic ones queue in order.
  std::vector<Span> taken;
  std::vector<int> queue;
  for (int node : fdt.Nodes()) {
    if (fdt.ParentOf(node) != *reserved || !Available(fdt, node)) continue;
    const std::string path = fdt.PathOf(node);
    auto reg = fdt.Cells(node, "reg");
    if (reg.ok() && !reg->empty()) {
      auto spans = Pairs(*reg, ac, sc);
      if (!spans || spans->empty()) {
        out.unplaced[path] = absl::StrCat("reg has ", reg->size(),
                                          " cells, not pairs of ", ac, "+", sc);
        continue;
      }
      taken.insert(taken.end(), spans->begin(), spans->end());
      out.placed[path] = {spans->front().base,
                          spans->front().end - spans->front().base, false};
    } else if (fdt.Property(node, "size")) {
      queue.push_back(node);
    }
  }

  std::vector<Span> dynamic;
  for (int node : queue) {
    const std::string path = fdt.PathOf(node);
    auto size_cells = fdt.Cells(node, "size");
    auto align_cells = fdt.Cells(node, "alignment");
    auto ranges_cells = fdt.Cells(node, "alloc-ranges");
    if (!size_cells.ok() || size_cells->size() != sc ||
        (align_cells.ok() && !align_cells->empty() &&
         align_cells->size() != ac) ||
        !align_cells.ok()) {
      out.unplaced[path] =
          absl::StrCat("size must be ", sc, " cell(s) and alignment ", ac,
                       " (the parent's #size-cells and #address-cells)");
      continue;
    }
    uint64_t size = 0, align = kCacheLine;
    for (uint32_t c : *size_cells) size = (size << 32) | c;
    if (!align_cells->empty()) {
      align = 0;
      for (uint32_t c : *align_cells) align = (align << 32) | c;
    }
    auto compatible = fdt.Strings(node, "compatible");
    if (compatible.ok() &&
        std::find(compatible->begin(), compatible->end(), "shared-dma-pool") !=
            compatible->end() &&
        fdt.Property(node, "reusable") && !fdt.Property(node, "no-map")) {
      align = std::max(align, kCmaAlign);
    }
    if (size == 0 || align == 0 || (align & (align - 1)) != 0) {
      out.unplaced[path] =
          absl::StrCat("size ", Hex(size), " and alignment ", Hex(align),
                       ": expected a size above 0 and an "
                       "alignment that is a power of two");
      continue;
    }
    std::vector<Span> ranges;
    if (!ranges_cells.ok() ||
        (!ranges_cells->empty() && !Pairs(*ranges_cells, ac, sc))) {
      out.unplaced[path] = absl::StrCat(
          "alloc-ranges has ",
          ranges_cells.ok() ? ranges_cells->size() : size_t{0},
          " cells, expected <base size> pairs of ", ac, "+", sc, " cells");
      continue;
    }
    if (!ranges_cells->empty()) {
      ranges = *Pairs(*ranges_cells, ac, sc);
    } else if (!memory.empty()) {
      // push_back, not `= {...}`: GCC 12 at -O2 warns (-Wnonnull) there.
      ranges.push_back({0, UINT64_MAX});
    } else {
      out.unplaced[path] =
          "has neither alloc-ranges nor a memory node with a size (the "
          "bootloader fills it in): nowhere known to place it";
      continue;
    }
    std::optional<uint64_t> at;
    for (const Span& range : ranges) {
      const bool bottom_up =
          Touches(range.base, dynamic) && !Touches(range.end, dynamic);
      std::vector<Span> gaps;
      for (const Span& usable : memory.empty() ? std::vector<Span>{range}
                                               : Intersect(range, memory)) {
        for (const Span& g : Gaps(usable, taken)) gaps.push_back(g);
      }
      std::sort(gaps.begin(), gaps.end(),
                [](const Span& a, const Span& b) { return a.base < b.base; });
      at = Fit(gaps, size, align, bottom_up);
      if (at) break;
    }
    if (!at) {
      out.unplaced[path] = absl::StrCat(
          "needs ", Hex(size), " bytes aligned to ", Hex(align), " in ",
          ranges_cells->empty() ? "memory" : Describe(ranges),
          ", and no room is left there clear of the regions reserved "
          "before it");
      continue;
    }
    const Span placed{*at, *at + size};
    taken.push_back(placed);
    dynamic.push_back(placed);
    out.placed[path] = {*at, size, true};
  }
  return out;
}

}  // namespace pil::devicetree
