// A validated, bounds-checked view of a flattened device tree (DTB).
//
//   auto fdt = Fdt::Parse(blob);
//   if (!fdt.ok()) return fdt.status();
//   for (int node : fdt->Nodes()) {
//     auto compatible = fdt->Strings(node, "compatible");
//     ...
//   }
//
// Parse() copies the blob into aligned storage and checks its whole
// structure with libfdt's fdt_check_full(); every accessor then checks
// property lengths before it reads. Nodes are libfdt structure offsets.
// Thread-safe for concurrent reads.
#ifndef PILD_PLATFORM_DEVICETREE_FDT_H_
#define PILD_PLATFORM_DEVICETREE_FDT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pil::devicetree {

class Fdt {
 public:
  // Validates a copy of `blob`. INVALID_ARGUMENT (DTB_MALFORMED) with
  // libfdt's diagnosis when it is not a complete, well-formed device tree.
  static absl::StatusOr<Fdt> Parse(absl::string_view blob);

  // Like Parse() but without a copy: `blob` must be 8-byte aligned and
  // outlive the returned view.
  static absl::StatusOr<Fdt> Borrow(absl::string_view blob);

  // Every node in depth-first document order, the root first.
  const std::vector<int>& Nodes() const { return nodes_; }

  // Full path of `node`, e.g. "/soc@0/remoteproc@6800000".
  std::string PathOf(int node) const;

  // The parent of `node`; nullopt for the root.
  std::optional<int> ParentOf(int node) const;

  // Raw bytes of property `name`; nullopt when absent.
  std::optional<absl::Span<const uint8_t>> Property(int node,
                                                    const char* name) const;

  // Property `name` as big-endian 32-bit cells; empty when absent.
  // INVALID_ARGUMENT when its length is not a multiple of 4.
  absl::StatusOr<std::vector<uint32_t>> Cells(int node, const char* name) const;

  // A one-cell property; nullopt when absent or not exactly 4 bytes.
  std::optional<uint32_t> U32(int node, const char* name) const;

  // A string-list property (NUL-separated); empty when absent.
  // INVALID_ARGUMENT when it is not NUL-terminated.
  absl::StatusOr<std::vector<std::string>> Strings(int node,
                                                   const char* name) const;

  // The child of `node` named `name` (with unit address, if any).
  std::optional<int> Subnode(int node, const char* name) const;

  // The node whose phandle is `phandle`; nullopt when none.
  std::optional<int> NodeByPhandle(uint32_t phandle) const;

  // #address-cells / #size-cells that `node` declares for its children,
  // with the devicetree-specification defaults (2 and 1) when absent.
  // INVALID_ARGUMENT when out of range.
  absl::StatusOr<int> AddressCells(int node) const;
  absl::StatusOr<int> SizeCells(int node) const;

 private:
  Fdt() = default;
  static absl::StatusOr<Fdt> Validate(Fdt fdt);
  absl::StatusOr<int> CellCount(int node, const char* name, int absent) const;
  const void* blob() const {
    return storage_.empty() ? borrowed_ : storage_.data();
  }

  std::vector<uint64_t> storage_;  // the copy; empty for borrowed views
  const void* borrowed_ = nullptr;
  size_t size_ = 0;
  std::vector<int> nodes_;
  std::vector<int> parents_;  // parallel to nodes_, -1 for the root
};

}  // namespace pil::devicetree

#endif  // PILD_PLATFORM_DEVICETREE_FDT_H_
