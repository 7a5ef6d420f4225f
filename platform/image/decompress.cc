#include "platform/image/decompress.h"

#include <lzma.h>
#include <zstd.h>

#include <algorithm>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::image {
namespace {

absl::Status Failed(Compression format, absl::string_view why) {
  return Error(absl::StatusCode::kInvalidArgument, "FIRMWARE_DECOMPRESS_FAILED",
               absl::StrCat("cannot decompress: expected ",
                            CompressionName(format), " data, ", why),
               {{"format", CompressionName(format)}});
}

absl::Status TooLarge(Compression format, uint64_t max_output) {
  return Error(
      absl::StatusCode::kFailedPrecondition, "FILE_TOO_LARGE",
      absl::StrCat("decompresses (", CompressionName(format),
                   ") to more than the limit of ", max_output, " bytes"),
      {{"limit", absl::StrCat(max_output)}});
}

// The output: grows geometrically, never beyond one byte past the bound
// (producing that byte is how an oversized output is detected).
class Output {
 public:
  explicit Output(uint64_t max_output)
      : room_(static_cast<size_t>(std::min<uint64_t>(
                  max_output, std::numeric_limits<size_t>::max() / 4)) +
              1) {}

  // Space after what was produced; false when the buffer is at its room.
  bool Reserve() {
    if (used_ < buffer_.size()) return true;
    if (buffer_.size() >= room_) return false;
    buffer_.resize(std::min(room_, std::max(buffer_.size() * 2, kFirst)));
    return true;
  }
  char* next() { return buffer_.data() + used_; }
  size_t available() const { return buffer_.size() - used_; }
  void Produced(size_t n) { used_ += n; }
  size_t used() const { return used_; }
  bool full() const { return used_ >= room_; }

  std::string Take() && {
    buffer_.resize(used_);
    buffer_.shrink_to_fit();
    return std::move(buffer_);
  }

 private:
  static constexpr size_t kFirst = size_t{1} << 16;
  const size_t room_;
  std::string buffer_;
  size_t used_ = 0;
};

struct FreeDctx {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

absl::StatusOr<std::string> Zstd(absl::string_view compressed,
                                 uint64_t max_output) {
  const Compression format = Compression::kZstd;
  std::unique_ptr<ZSTD_DCtx, FreeDctx> dctx(ZSTD_createDCtx());
  if (dctx == nullptr) return Failed(format, "out of memory");
  // Frames needing a larger window are refused rather than allocated.
  constexpr int kWindowLog = 27;
  static_assert(uint64_t{1} << kWindowLog == kMaxDecompressionWindow);
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kWindowLog);
  Output out(max_output);
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  size_t pending = 1;  // 0 once a frame is complete and flushed
  while (in.pos < in.size || pending != 0) {
    if (!out.Reserve()) return TooLarge(format, max_output);
    ZSTD_outBuffer chunk{out.next(), out.available(), 0};
    const size_t consumed_before = in.pos;
    pending = ZSTD_decompressStream(dctx.get(), &chunk, &in);
    if (ZSTD_isError(pending)) {
      return Failed(format, absl::StrCat(ZSTD_getErrorName(pending),
                                         " at or before byte ", in.pos));
    }
    out.Produced(chunk.pos);
    if (out.full()) return TooLarge(format, max_output);
    // With room for output and nothing consumed, the frame needs input
    // that is not there.
    if (pending != 0 && chunk.pos == 0 && in.pos == consumed_before) {
      if (compressed.empty()) return Failed(format, "found an empty file");
      return Failed(format, absl::StrCat("found it truncated: the input ends "
                                         "inside a frame after ",
                                         compressed.size(), " bytes"));
    }
  }
  return std::move(out).Take();
}

const char* LzmaError(lzma_ret ret) {
  switch (ret) {
    case LZMA_FORMAT_ERROR:
      return "found no .xz stream header";
    case LZMA_OPTIONS_ERROR:
      return "found unsupported options";
    case LZMA_DATA_ERROR:
      return "found corrupt data";
    case LZMA_BUF_ERROR:
      return "found it truncated";
    case LZMA_MEMLIMIT_ERROR:
      return "found a dictionary larger than the limit of 128 MiB";
    case LZMA_MEM_ERROR:
      return "ran out of memory";
    default:
      return "the decoder failed";
  }
}

absl::StatusOr<std::string> Xz(absl::string_view compressed,
                               uint64_t max_output) {
  const Compression format = Compression::kXz;
  if (compressed.empty()) return Failed(format, "found an empty file");
  lzma_stream stream = LZMA_STREAM_INIT;
  // One stream, as the kernel decodes it; concatenated streams and padding
  // are trailing bytes here. The dictionary is bounded by the memory limit.
  lzma_ret ret =
      lzma_stream_decoder(&stream, kMaxDecompressionWindow + (1 << 20), 0);
  if (ret != LZMA_OK) return Failed(format, LzmaError(ret));
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> end(&stream, lzma_end);
  stream.next_in = reinterpret_cast<const uint8_t*>(compressed.data());
  stream.avail_in = compressed.size();
  Output out(max_output);
  while (true) {
    if (!out.Reserve()) return TooLarge(format, max_output);
    stream.next_out = reinterpret_cast<uint8_t*>(out.next());
    stream.avail_out = out.available();
    const size_t available = out.available();
    ret = lzma_code(&stream, LZMA_FINISH);
    out.Produced(available - stream.avail_out);
    if (out.full()) return TooLarge(format, max_output);
    if (ret == LZMA_STREAM_END) break;
    if (ret != LZMA_OK) {
      return Failed(format, absl::StrCat(LzmaError(ret), " at or before byte ",
                                         stream.total_in));
    }
  }
  if (stream.avail_in != 0) {
    return Failed(format,
                  absl::StrCat("found ", stream.avail_in,
                               " bytes after the end of the stream at byte ",
                               stream.total_in));
  }
  return std::move(out).Take();
}

}  // namespace

const char* CompressionName(Compression format) {
  return format == Compression::kZstd ? "zstd" : "xz";
}

absl::StatusOr<std::string> Decompress(Compression format,
                                       absl::string_view compressed,
                                       uint64_t max_output) {
  return format == Compression::kZstd ? Zstd(compressed, max_output)
                                      : Xz(compressed, max_output);
}

}  // namespace pil::image
