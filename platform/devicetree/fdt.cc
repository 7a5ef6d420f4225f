#include "platform/devicetree/fdt.h"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libfdt.h>
}

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::devicetree {
namespace {

absl::Status Malformed(absl::string_view what) {
  return Error(absl::StatusCode::kInvalidArgument, "DTB_MALFORMED",
               absl::StrCat("malformed device tree: ", what));
}

}  // namespace

absl::StatusOr<Fdt> Fdt::Parse(absl::string_view blob) {
  Fdt fdt;
  fdt.storage_.resize((blob.size() + 7) / 8);
  if (!blob.empty()) std::memcpy(fdt.storage_.data(), blob.data(), blob.size());
  fdt.size_ = blob.size();
  return Validate(std::move(fdt));
}

absl::StatusOr<Fdt> Fdt::Borrow(absl::string_view blob) {
  if (reinterpret_cast<uintptr_t>(blob.data()) % 8 != 0) {
    return absl::InvalidArgumentError(
        "a borrowed device tree must be 8-byte aligned");
  }
  Fdt fdt;
  fdt.borrowed_ = blob.data();
  fdt.size_ = blob.size();
  return Validate(std::move(fdt));
}

absl::StatusOr<Fdt> Fdt::Validate(Fdt fdt) {
  constexpr size_t kHeaderSize = 40;  // struct fdt_header
  const size_t size = fdt.size_;
  if (size < kHeaderSize) {
    return Malformed(absl::StrCat("expected at least ", kHeaderSize,
                                  " bytes of header, found ", size));
  }
  const void* raw = fdt.blob();
  if (fdt_magic(raw) != FDT_MAGIC) {
    return Malformed(absl::StrCat("expected magic 0x", absl::Hex(FDT_MAGIC),
                                  ", found 0x", absl::Hex(fdt_magic(raw))));
  }
  if (fdt_totalsize(raw) > size) {
    return Malformed(absl::StrCat("header says ", fdt_totalsize(raw),
                                  " bytes, the blob has ", size,
                                  " (truncated)"));
  }
  // Older layouts have no strings-block size; libfdt 1.6's full check
  // dereferences null on some of them (found by the devicetree fuzzer).
  if (fdt_version(raw) < 17) {
    return Malformed(absl::StrCat(
        "expected a version 17 device tree (what dtc writes), found version ",
        fdt_version(raw)));
  }
  if (int err = fdt_check_full(raw, size); err != 0) {
    return Malformed(fdt_strerror(err));
  }

  // Record the node order and parents once; libfdt's own parent lookup
  // rescans the tree from the root.
  std::vector<int> stack;
  int depth = 0;
  int node = 0;
  while (node >= 0) {
    if (depth < 0) break;
    stack.resize(static_cast<size_t>(depth));
    fdt.nodes_.push_back(node);
    fdt.parents_.push_back(stack.empty() ? -1 : stack.back());
    stack.push_back(node);
    node = fdt_next_node(raw, node, &depth);
  }
  if (node != -FDT_ERR_NOTFOUND && depth >= 0) {
    return Malformed(fdt_strerror(node));
  }
  return fdt;
}

std::string Fdt::PathOf(int node) const {
  char path[1024];
  if (fdt_get_path(blob(), node, path, sizeof(path)) != 0) {
    return absl::StrCat("<node at offset ", node, ">");
  }
  return path;
}

std::optional<int> Fdt::ParentOf(int node) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node);
  if (it == nodes_.end() || *it != node) return std::nullopt;
  int parent = parents_[static_cast<size_t>(it - nodes_.begin())];
  if (parent < 0) return std::nullopt;
  return parent;
}

std::optional<absl::Span<const uint8_t>> Fdt::Property(int node,
                                                       const char* name) const {
  int len = 0;
  const void* data = fdt_getprop(blob(), node, name, &len);
  if (data == nullptr || len < 0) return std::nullopt;
  return absl::MakeConstSpan(static_cast<const uint8_t*>(data),
                             static_cast<size_t>(len));
}

absl::StatusOr<std::vector<uint32_t>> Fdt::Cells(int node,
                                                 const char* name) const {
  std::vector<uint32_t> cells;
  auto bytes = Property(node, name);
  if (!bytes) return cells;
  if (bytes->size() % 4 != 0) {
    return Malformed(absl::StrCat(PathOf(node), ": property ", name, " is ",
                                  bytes->size(),
                                  " bytes, expected a multiple of 4"));
  }
  cells.reserve(bytes->size() / 4);
  for (size_t i = 0; i < bytes->size(); i += 4) {
    const uint8_t* p = bytes->data() + i;
    cells.push_back((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                    (uint32_t{p[2]} << 8) | uint32_t{p[3]});
  }
  return cells;
}

std::optional<uint32_t> Fdt::U32(int node, const char* name) const {
  auto bytes = Property(node, name);
  if (!bytes || bytes->size() != 4) return std::nullopt;
  const uint8_t* p = bytes->data();
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

absl::StatusOr<std::vector<std::string>> Fdt::Strings(int node,
                                                      const char* name) const {
  std::vector<std::string> strings;
  auto bytes = Property(node, name);
  if (!bytes || bytes->empty()) return strings;
  if (bytes->back() != 0) {
    return Malformed(absl::StrCat(PathOf(node), ": property ", name,
                                  " is not NUL-terminated"));
  }
  const char* begin = reinterpret_cast<const char*>(bytes->data());
  const char* end = begin + bytes->size();
  for (const char* p = begin; p < end;) {
    const char* nul = static_cast<const char*>(std::memchr(p, 0, end - p));
    strings.emplace_back(p, nul);
    p = nul + 1;
  }
  return strings;
}

std::optional<int> Fdt::Subnode(int node, const char* name) const {
  int child = fdt_subnode_offset(blob(), node, name);
  if (child < 0) return std::nullopt;
  return child;
}

std::optional<int> Fdt::NodeByPhandle(uint32_t phandle) const {
  if (phandle == 0 || phandle == 0xffffffffu) return std::nullopt;
  int node = fdt_node_offset_by_phandle(blob(), phandle);
  if (node < 0) return std::nullopt;
  return node;
}

absl::StatusOr<int> Fdt::CellCount(int node, const char* name,
                                   int absent) const {
  if (!Property(node, name)) return absent;
  auto value = U32(node, name);
  if (!value || *value > 4) {
    return Malformed(
        absl::StrCat(PathOf(node), ": ", name, " must be one cell <= 4"));
  }
  return static_cast<int>(*value);
}

absl::StatusOr<int> Fdt::AddressCells(int node) const {
  return CellCount(node, "#address-cells", 2);
}

absl::StatusOr<int> Fdt::SizeCells(int node) const {
  return CellCount(node, "#size-cells", 1);
}

}  // namespace pil::devicetree
