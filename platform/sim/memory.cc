#include "platform/sim/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"

namespace pil::sim {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return Error(absl::StatusCode::kInternal, "SIM_MEMORY",
               absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SimMemory>> SimMemory::Create(
    const std::vector<std::pair<uint64_t, uint64_t>>& carveouts,
    const std::string& path) {
  std::vector<std::pair<uint64_t, uint64_t>> sorted = carveouts;
  std::sort(sorted.begin(), sorted.end());
  // Overlapping or repeated carveouts share one region.
  std::vector<std::pair<uint64_t, uint64_t>> merged;  // base, end
  for (const auto& [base, size] : sorted) {
    if (size == 0) continue;
    if (!merged.empty() && base < merged.back().second) {
      merged.back().second = std::max(merged.back().second, base + size);
    } else {
      merged.emplace_back(base, base + size);
    }
  }
  std::vector<MemoryRegion> regions;
  uint64_t offset = 0;
  for (const auto& [base, end] : merged) {
    regions.push_back(MemoryRegion{base, end - base, offset});
    offset += PageAlignUp(end - base);
  }
  auto memory = std::unique_ptr<SimMemory>(new SimMemory());
  memory->regions_ = std::move(regions);
  memory->path_ = path;
  int fd = -1;
  if (!path.empty()) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot create", path);
    if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
      ::close(fd);
      return Errno("cannot size", path);
    }
  }
  absl::Status mapped = memory->MapBacking(fd, offset);
  if (fd >= 0) ::close(fd);
  if (!mapped.ok()) return mapped;
  return memory;
}

absl::StatusOr<std::unique_ptr<SimMemory>> SimMemory::Open(
    const std::vector<MemoryRegion>& regions, const std::string& path) {
  auto memory = std::unique_ptr<SimMemory>(new SimMemory());
  memory->regions_ = regions;
  memory->path_ = path;
  uint64_t size = 0;
  for (const MemoryRegion& r : regions) {
    size = std::max(size, r.offset + (r.size + 4095) / 4096 * 4096);
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < size) {
    ::close(fd);
    return Error(absl::StatusCode::kFailedPrecondition, "SIM_MEMORY",
                 absl::StrCat(path, " is smaller than the memory layout (",
                              size, " bytes)"));
  }
  absl::Status mapped = memory->MapBacking(fd, size);
  ::close(fd);
  if (!mapped.ok()) return mapped;
  return memory;
}

absl::Status SimMemory::MapBacking(int fd, uint64_t size) {
  size_ = size;
  if (size == 0) return absl::OkStatus();
  void* p =
      fd >= 0 ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
              : ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return Errno("cannot map", path_);
  base_ = static_cast<uint8_t*>(p);
  return absl::OkStatus();
}

SimMemory::~SimMemory() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

absl::StatusOr<absl::Span<uint8_t>> SimMemory::Map(uint64_t address,
                                                   uint64_t size) {
  for (const MemoryRegion& r : regions_) {
    if (address < r.base || address - r.base >= r.size) continue;
    const uint64_t offset = address - r.base;
    if (size > r.size - offset) break;
    return absl::MakeSpan(base_ + r.offset + offset, static_cast<size_t>(size));
  }
  return Error(absl::StatusCode::kInvalidArgument, "OUTSIDE_CARVEOUT",
               absl::StrCat("[", Hex(address), ", +", Hex(size),
                            ") is not inside one carveout"),
               {{"address", Hex(address)}, {"size", Hex(size)}});
}

void SimMemory::Zero(absl::Span<uint8_t> span) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(span.data());
  const uintptr_t end = begin + span.size();
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = end / page * page;
  if (first < last) {
    // A shared backing gives its pages back (MADV_REMOVE punches a hole in
    // the file); anonymous memory drops them.
    const int advice = path_.empty() ? MADV_DONTNEED : MADV_REMOVE;
    if (::madvise(reinterpret_cast<void*>(first), last - first, advice) == 0) {
      std::memset(span.data(), 0, first - begin);
      std::memset(reinterpret_cast<uint8_t*>(last), 0, end - last);
      return;
    }
  }
  std::memset(span.data(), 0, span.size());
}

uint64_t SimMemory::ResidentBytes() const {
  if (base_ == nullptr) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((size_ + page - 1) / page);
  if (::mincore(base_, size_, pages.data()) != 0) return 0;
  uint64_t resident = 0;
  for (unsigned char p : pages) resident += (p & 1) ? page : 0;
  return resident;
}

}  // namespace pil::sim
