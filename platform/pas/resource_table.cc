#include "platform/pas/resource_table.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/page.h"
#include "platform/image/bytes.h"

namespace pil::pas {
namespace {

constexpr uint32_t kRscDevmem = 1;
constexpr size_t kDevmemSize = 4 + 5 * 4 + 32;  // type + fields + name

absl::Status Invalid(std::string message) {
  return Error(absl::StatusCode::kInvalidArgument, "RESOURCE_TABLE_INVALID",
               absl::StrCat("resource table from the secure world: ", message));
}

}  // namespace

absl::StatusOr<std::vector<DevMem>> ParseResourceTable(
    absl::string_view table) {
  using image::Le32;
  if (table.size() < 16) {
    return Invalid(absl::StrCat("is ", table.size(),
                                " bytes, smaller than its 16-byte header"));
  }
  if (Le32(table, 0) != 1) {
    return Invalid(absl::StrCat("version ", Le32(table, 0), ", expected 1"));
  }
  if (Le32(table, 8) != 0 || Le32(table, 12) != 0) {
    return Invalid("reserved header fields are not zero");
  }
  const uint64_t count = Le32(table, 4);
  if (16 + 4 * count > table.size()) {
    return Invalid(
        absl::StrCat(count, " entries do not fit ", table.size(), " bytes"));
  }
  std::vector<DevMem> entries;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t offset = Le32(table, 16 + 4 * i);
    if (offset < 16 + 4 * count || offset + 4 > table.size()) {
      return Invalid(absl::StrCat("entry ", i, " at offset ", offset,
                                  " is outside the table"));
    }
    if (Le32(table, offset) != kRscDevmem) continue;
    if (offset + kDevmemSize > table.size()) {
      return Invalid(absl::StrCat("devmem entry ", i, " is truncated"));
    }
    DevMem d;
    d.da = Le32(table, offset + 4);
    d.pa = Le32(table, offset + 8);
    d.length = Le32(table, offset + 12);
    d.flags = Le32(table, offset + 16);
    if (Le32(table, offset + 20) != 0) {
      return Invalid(absl::StrCat("devmem entry ", i, " has reserved != 0"));
    }
    absl::string_view name = table.substr(offset + 24, 32);
    d.name = std::string(name.substr(0, name.find('\0')));
    // Ends are computed in 64 bits: a 32-bit end wraps to 0.
    if (!PageAligned(d.da) || !PageAligned(d.pa) || !PageAligned(d.length) ||
        d.length == 0 || uint64_t{d.da} + d.length > 0x100000000ull ||
        uint64_t{d.pa} + d.length > 0x100000000ull) {
      return Invalid(absl::StrCat("devmem entry ", i, " ('", d.name,
                                  "') is not a 4 KiB-aligned, non-empty "
                                  "range"));
    }
    for (const DevMem& other : entries) {
      if (uint64_t{d.da} < uint64_t{other.da} + other.length &&
          uint64_t{other.da} < uint64_t{d.da} + d.length) {
        return Invalid(absl::StrCat("devmem entries '", other.name, "' and '",
                                    d.name, "' overlap"));
      }
    }
    entries.push_back(std::move(d));
  }
  return entries;
}

std::string BuildResourceTable(const std::vector<DevMem>& entries) {
  const size_t header = 16 + 4 * entries.size();
  std::string table(header + kDevmemSize * entries.size(), '\0');
  image::StoreLe(table, 0, 1, 4);
  image::StoreLe(table, 4, entries.size(), 4);
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t at = header + i * kDevmemSize;
    image::StoreLe(table, 16 + 4 * i, at, 4);
    image::StoreLe(table, at, kRscDevmem, 4);
    image::StoreLe(table, at + 4, entries[i].da, 4);
    image::StoreLe(table, at + 8, entries[i].pa, 4);
    image::StoreLe(table, at + 12, entries[i].length, 4);
    image::StoreLe(table, at + 16, entries[i].flags, 4);
    const std::string name = entries[i].name.substr(0, 31);
    std::memcpy(table.data() + at + 24, name.data(), name.size());
  }
  return table;
}

}  // namespace pil::pas
