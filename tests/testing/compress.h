// Compression for tests, with Debian's libzstd and liblzma: what pild
// decompresses (platform/image/decompress.h) and what it must refuse.
#ifndef PILD_TESTS_TESTING_COMPRESS_H_
#define PILD_TESTS_TESTING_COMPRESS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "platform/image/decompress.h"

namespace pil::testing {

// `data` as one zstd frame (content size and checksum, as the zstd command
// writes it) or one .xz stream
// (CRC32 check, as the kernel's decoder wants). Aborts on failure.
std::string Compress(image::Compression format, absl::string_view data);

// `size` zero bytes compressed, made with little memory: many zstd frames
// of 8 MiB each, or one .xz stream encoded in steps.
std::string CompressZeros(image::Compression format, uint64_t size);

}  // namespace pil::testing

#endif  // PILD_TESTS_TESTING_COMPRESS_H_
