// Fuzz target: device-tree parsing and coprocessor discovery must never
// crash or read out of bounds, whatever the bytes.
#include <cstddef>
#include <cstdint>

#include "platform/devicetree/discovery.h"
#include "platform/devicetree/fdt.h"
#include "tests/fuzz/guarded_buffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pil::fuzz::GuardedBuffer buffer(data, size);
  auto fdt = pil::devicetree::Fdt::Borrow(buffer.view());
  if (!fdt.ok()) return 0;
  pil::devicetree::Board board = pil::devicetree::Discover(*fdt);
  // Touch everything discovery produced.
  size_t total = board.model.size();
  for (const auto& c : board.coprocessors) {
    total += c.path.size() + c.name.size() + c.carveouts.size() +
             c.iommus.size() + c.iommu_map.size() + c.problems.size();
    for (const auto& name : c.firmware_names) total += name.size();
  }
  return total == static_cast<size_t>(-1) ? 1 : 0;
}
