// Fuzz target: the decompressor (zstd and xz) must never crash, read out of
// bounds or produce more than its bound, whatever the bytes; and what it
// accepts it accepts again with the bound set to exactly its size, and
// refuses one byte below it.
//
// Input: the compressed bytes, decoded as each format.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/error.h"
#include "platform/image/decompress.h"
#include "tests/fuzz/guarded_buffer.h"

namespace {

constexpr uint64_t kBound = uint64_t{4} << 20;

void Check(pil::image::Compression format, absl::string_view input) {
  auto out = pil::image::Decompress(format, input, kBound);
  if (!out.ok()) {
    const std::string reason = pil::ReasonOf(out.status());
    if (reason != "FIRMWARE_DECOMPRESS_FAILED" && reason != "FILE_TOO_LARGE") {
      std::abort();  // an error without its reason
    }
    return;
  }
  if (out->size() > kBound) std::abort();
  auto exact = pil::image::Decompress(format, input, out->size());
  if (!exact.ok() || *exact != *out) std::abort();
  if (!out->empty()) {
    auto below = pil::image::Decompress(format, input, out->size() - 1);
    if (pil::ReasonOf(below.status()) != "FILE_TOO_LARGE") std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pil::fuzz::GuardedBuffer buffer(data, size);
  Check(pil::image::Compression::kZstd, buffer.view());
  Check(pil::image::Compression::kXz, buffer.view());
  return 0;
}
