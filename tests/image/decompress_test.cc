// The decompressor: round trips, and what it refuses (empty, truncated,
// corrupt or trailing input, output beyond the bound) with the reason and
// without producing more than the bound.
#include "platform/image/decompress.h"

#include <sys/resource.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/compress.h"

namespace pil::image {
namespace {

using ::pil::testing::Compress;
using ::pil::testing::CompressZeros;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Bytes that compress somewhat: text and a little noise.
std::string Sample(size_t size) {
  std::string out;
  uint32_t x = 12345;
  while (out.size() < size) {
    x = x * 1103515245 + 12345;
    out += (x >> 28) < 4 ? static_cast<char>(x >> 16)
                         : "firmware "[out.size() % 9];
  }
  return out;
}

// Peak resident memory of this process, in bytes.
uint64_t PeakRss() {
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

class DecompressTest : public ::testing::TestWithParam<Compression> {
 protected:
  Compression format() const { return GetParam(); }
  void ExpectFailed(const absl::StatusOr<std::string>& out,
                    absl::string_view what) {
    EXPECT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(out.status()), "FIRMWARE_DECOMPRESS_FAILED")
        << out.status();
    EXPECT_THAT(out.status().message(),
                HasSubstr(absl::StrCat("expected ", CompressionName(format()),
                                       " data")));
    EXPECT_THAT(out.status().message(), HasSubstr(what));
    EXPECT_EQ(MetadataOf(out.status())["format"], CompressionName(format()));
  }
};

INSTANTIATE_TEST_SUITE_P(Formats, DecompressTest,
                         ::testing::Values(Compression::kZstd,
                                           Compression::kXz),
                         [](const auto& info) {
                           return std::string(CompressionName(info.param));
                         });

TEST_P(DecompressTest, RoundTrips) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{3 << 20}}) {
    const std::string data = Sample(size);
    auto out = Decompress(format(), Compress(format(), data), 16 * kMiB);
    ASSERT_TRUE(out.ok()) << size << ": " << out.status();
    EXPECT_EQ(*out, data) << size;
  }
}

TEST_P(DecompressTest, TheBoundIsInclusive) {
  const std::string data = Sample(100000);
  const std::string packed = Compress(format(), data);
  EXPECT_TRUE(Decompress(format(), packed, data.size()).ok());
  auto over = Decompress(format(), packed, data.size() - 1);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(over.status()), "FILE_TOO_LARGE");
  EXPECT_THAT(over.status().message(),
              HasSubstr(absl::StrCat("the limit of ", data.size() - 1)));
  EXPECT_EQ(MetadataOf(over.status())["limit"], absl::StrCat(data.size() - 1));
}

TEST_P(DecompressTest, EmptyInputIsRefused) {
  ExpectFailed(Decompress(format(), "", kMiB), "empty");
}

TEST_P(DecompressTest, EveryTruncationIsRefused) {
  const std::string packed = Compress(format(), Sample(4000));
  for (size_t cut = 1; cut < packed.size(); ++cut) {
    auto out = Decompress(format(), packed.substr(0, cut), kMiB);
    EXPECT_EQ(ReasonOf(out.status()), "FIRMWARE_DECOMPRESS_FAILED")
        << "cut at " << cut << " of " << packed.size();
  }
  ExpectFailed(Decompress(format(), packed.substr(0, packed.size() / 2), kMiB),
               "truncated");
}

TEST_P(DecompressTest, CorruptionIsRefusedOrHarmless) {
  const std::string data = Sample(4000);
  const std::string packed = Compress(format(), data);
  // A flipped bit is caught (checksums, structure), or changes nothing the
  // output depends on; wrong output is never returned.
  for (size_t i = 0; i < packed.size(); ++i) {
    std::string bad = packed;
    bad[i] ^= 0x10;
    auto out = Decompress(format(), bad, kMiB);
    if (out.ok()) {
      EXPECT_EQ(*out, data) << "byte " << i;
    }
  }
  std::string bad = packed;
  bad[packed.size() / 2] ^= 0x55;
  EXPECT_EQ(ReasonOf(Decompress(format(), bad, kMiB).status()),
            "FIRMWARE_DECOMPRESS_FAILED");
  ExpectFailed(Decompress(format(),
                          "\x7f"
                          "ELF not compressed at all",
                          kMiB),
               "");
}

TEST_P(DecompressTest, TrailingBytesAreRefused) {
  const std::string packed = Compress(format(), Sample(5000));
  for (const std::string& tail :
       {std::string("garbage"), std::string(4, '\0'), std::string(1, 'x')}) {
    auto out = Decompress(format(), packed + tail, kMiB);
    EXPECT_EQ(ReasonOf(out.status()), "FIRMWARE_DECOMPRESS_FAILED")
        << tail.size() << " trailing bytes";
  }
}

TEST_P(DecompressTest, TheOtherFormatIsRefused) {
  const Compression other =
      format() == Compression::kZstd ? Compression::kXz : Compression::kZstd;
  ExpectFailed(Decompress(format(), Compress(other, Sample(1000)), kMiB), "");
}

// A bomb: a small input expanding far beyond the bound is refused once the
// bound is passed, without ever holding much more than the bound.
TEST_P(DecompressTest, ABombIsRefusedWithoutExpanding) {
  const uint64_t expands_to =
      format() == Compression::kZstd ? uint64_t{4} << 30 : 64 * kMiB;
  const std::string bomb = CompressZeros(format(), expands_to);
  ASSERT_LT(bomb.size(), 2 * kMiB);
  const uint64_t before = PeakRss();
  auto out = Decompress(format(), bomb, kMiB);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(out.status()), "FILE_TOO_LARGE") << out.status();
  EXPECT_THAT(out.status().message(),
              HasSubstr(absl::StrCat("more than the limit of ", kMiB)));
  EXPECT_LT(PeakRss(), before + 32 * kMiB);
}

// Several zstd frames are one content, as the kernel decodes them.
TEST(Decompress, ZstdFramesFollowEachOther) {
  const std::string a = Sample(3000), b = Sample(7000);
  auto out = Decompress(
      Compression::kZstd,
      Compress(Compression::kZstd, a) + Compress(Compression::kZstd, b), kMiB);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, a + b);
}

// The kernel decodes one .xz stream; a second would be ignored there, so
// it is refused here rather than read differently.
TEST(Decompress, AnXzStreamIsOneStream) {
  const std::string a = Compress(Compression::kXz, Sample(3000));
  auto out = Decompress(Compression::kXz, a + a, kMiB);
  EXPECT_EQ(ReasonOf(out.status()), "FIRMWARE_DECOMPRESS_FAILED");
  EXPECT_THAT(out.status().message(), HasSubstr("after the end of the stream"));
}

}  // namespace
}  // namespace pil::image
