// The physical memory of a simulated SoC's carveouts, backed sparsely by a
// file that several processes can map (the sim and pild), or by anonymous
// memory. Only touched pages cost memory: a 256 MiB carveout costs nothing
// until written.
#ifndef PILD_PLATFORM_SIM_MEMORY_H_
#define PILD_PLATFORM_SIM_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "platform/pas/hardware.h"

namespace pil::sim {

// A carveout and where its bytes are in the backing.
struct MemoryRegion {
  uint64_t base = 0;
  uint64_t size = 0;
  uint64_t offset = 0;  // in the backing file
};

class SimMemory : public pas::PhysicalMemory {
 public:
  // Lays out `carveouts` (base, size; duplicates merged) in a backing file
  // at `path`, created sparse and truncated to size; anonymous memory when
  // `path` is empty.
  static absl::StatusOr<std::unique_ptr<SimMemory>> Create(
      const std::vector<std::pair<uint64_t, uint64_t>>& carveouts,
      const std::string& path);

  // Maps an existing backing file with the given layout (another process's
  // view of the same memory).
  static absl::StatusOr<std::unique_ptr<SimMemory>> Open(
      const std::vector<MemoryRegion>& regions, const std::string& path);

  ~SimMemory() override;
  SimMemory(const SimMemory&) = delete;
  SimMemory& operator=(const SimMemory&) = delete;

  absl::StatusOr<absl::Span<uint8_t>> Map(uint64_t address,
                                          uint64_t size) override;
  // Whole pages are released (they read back as zero, in every process
  // mapping the backing), the partial pages at either end written.
  void Zero(absl::Span<uint8_t> span) override;

  const std::vector<MemoryRegion>& regions() const { return regions_; }
  const std::string& path() const { return path_; }

  // Bytes of the backing actually allocated (touched pages).
  uint64_t ResidentBytes() const;

 private:
  SimMemory() = default;
  absl::Status MapBacking(int fd, uint64_t size);

  std::vector<MemoryRegion> regions_;
  std::string path_;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_MEMORY_H_
