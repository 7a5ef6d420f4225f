// Decompression of firmware files stored compressed, as the Linux firmware
// loader finds them (NAME.zst, NAME.xz), with a hard bound on the output.
//
//   auto bytes = Decompress(Compression::kZstd, file,
//   FirmwareImage::kMaxFileSize); if (!bytes.ok()) return
//   Annotate(bytes.status(), "qcom/x.mbn.zst");
//
// Decoding streams into a buffer that grows only as output is produced: a
// size announced by a frame header is never trusted or preallocated, and
// decoding stops as soon as the output would exceed the bound.
#ifndef PILD_PLATFORM_IMAGE_DECOMPRESS_H_
#define PILD_PLATFORM_IMAGE_DECOMPRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::image {

enum class Compression {
  kZstd,  // Zstandard frames, one or more (skippable frames allowed)
  kXz,    // one .xz stream
};

// "zstd" or "xz".
const char* CompressionName(Compression format);

// Largest dictionary or window a compressed file may need (128 MiB).
inline constexpr uint64_t kMaxDecompressionWindow = uint64_t{128} << 20;

// The whole decompressed content of `compressed`. Errors (messages name
// what was expected and found, not the file; callers annotate):
// INVALID_ARGUMENT (FIRMWARE_DECOMPRESS_FAILED, metadata `format`) for
// empty, truncated, corrupt or unsupported input, a window beyond
// kMaxDecompressionWindow, or bytes after the end of the (last) frame or
// stream; FAILED_PRECONDITION (FILE_TOO_LARGE, metadata `limit`) when the
// output would exceed `max_output` bytes. Thread-safe.
absl::StatusOr<std::string> Decompress(Compression format,
                                       absl::string_view compressed,
                                       uint64_t max_output);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_DECOMPRESS_H_
