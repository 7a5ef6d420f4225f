#include "tests/testing/compress.h"

#include <lzma.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>

namespace pil::testing {
namespace {

std::string Xz(absl::string_view data, uint64_t zeros) {
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_easy_encoder(&stream, 0, LZMA_CHECK_CRC32) != LZMA_OK) std::abort();
  const std::string block(size_t{1} << 20, '\0');
  std::string out;
  char buffer[1 << 16];
  uint64_t left = zeros;
  stream.next_in = reinterpret_cast<const uint8_t*>(data.data());
  stream.avail_in = data.size();
  lzma_ret ret = LZMA_OK;
  while (ret != LZMA_STREAM_END) {
    if (stream.avail_in == 0 && left > 0) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(left, block.size()));
      stream.next_in = reinterpret_cast<const uint8_t*>(block.data());
      stream.avail_in = n;
      left -= n;
    }
    stream.next_out = reinterpret_cast<uint8_t*>(buffer);
    stream.avail_out = sizeof(buffer);
    ret = lzma_code(&stream, left == 0 ? LZMA_FINISH : LZMA_RUN);
    if (ret != LZMA_OK && ret != LZMA_STREAM_END) std::abort();
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  }
  lzma_end(&stream);
  return out;
}

// With a checksum, as the zstd command writes by default.
std::string Zstd(absl::string_view data) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) std::abort();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n =
      ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) std::abort();
  out.resize(n);
  return out;
}

}  // namespace

std::string Compress(image::Compression format, absl::string_view data) {
  return format == image::Compression::kZstd ? Zstd(data) : Xz(data, 0);
}

std::string CompressZeros(image::Compression format, uint64_t size) {
  if (format == image::Compression::kXz) return Xz("", size);
  constexpr uint64_t kFrame = uint64_t{8} << 20;
  std::string out;
  if (size == 0) return Zstd("");
  const std::string frame =
      Zstd(std::string(static_cast<size_t>(std::min(size, kFrame)), '\0'));
  for (uint64_t done = 0; done < size; done += kFrame) {
    if (size - done >= kFrame) {
      out += frame;
    } else {
      out += Zstd(std::string(static_cast<size_t>(size - done), '\0'));
    }
  }
  return out;
}

}  // namespace pil::testing
