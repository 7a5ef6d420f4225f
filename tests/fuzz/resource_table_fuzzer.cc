// Fuzz target: resource tables handed out by the secure world must parse or
// be refused, never read out of bounds; what parses obeys its contract.
#include <algorithm>
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
    // The oracle works on the last byte of each range (never wraps for a
    // non-empty range inside 32 bits), unlike the parser's half-open ends.
    if (d.da % 4096 || d.pa % 4096 || d.length % 4096 || d.length == 0 ||
        d.da > 0xFFFFFFFFu - (d.length - 1) ||
        d.pa > 0xFFFFFFFFu - (d.length - 1) || d.name.size() > 32) {
      std::abort();
    }
    const uint32_t d_last = d.da + (d.length - 1);
    for (size_t j = 0; j < i; ++j) {
      const pil::pas::DevMem& o = (*entries)[j];
      const uint32_t o_last = o.da + (o.length - 1);
      if (std::max(d.da, o.da) <= std::min(d_last, o_last)) std::abort();
    }
  }
  return 0;
}
