// Fuzz target: resource tables handed out by the secure world must parse or
// be refused, never read out of bounds; what parses obeys its contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "platform/pas/resource_table.h"
#include "tests/fuzz/guarded_buffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pil::fuzz::GuardedBuffer buffer(data, size);
  auto entries = pil::pas::ParseResourceTable(buffer.view());
  if (!entries.ok()) return 0;
  for (size_t i = 0; i < entries->size(); ++i) {
    const pil::pas::DevMem& d = (*entries)[i];
    if (d.da % 4096 || d.pa % 4096 || d.length % 4096 || d.length == 0 ||
        uint64_t{d.da} + d.length > 0x100000000ull || d.name.size() > 32) {
      std::abort();
    }
    for (size_t j = 0; j < i; ++j) {
      const pil::pas::DevMem& o = (*entries)[j];
      if (d.da < o.da + o.length && o.da < d.da + d.length) std::abort();
    }
  }
  return 0;
}
