// Validation paid once (ReportCache and Inspect's use of it), and the
// order of a placing Inspect: metadata first, nothing copied for an image
// whose signature fails, the copy is what is hashed.
#include "platform/image/report_cache.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/inspect.h"
#include "tests/image/image_testing.h"

namespace pil::image {
namespace {

using testing::SignedImage;

ImageReport Named(const std::string& name) {
  ImageReport report;
  report.name = name;
  return report;
}

// An in-memory image with an identity, as an upload has.
FirmwareImage Loaded(const std::string& bytes, const std::string& identity) {
  auto image =
      FirmwareImage::FromShared("fw.mbn", SharedBytes(bytes, identity));
  EXPECT_TRUE(image.ok()) << image.status();
  return std::move(*image);
}

// Every loadable segment's p_memsz bytes, by program header index. The
// destination is called from every verify thread at once.
struct Carveout {
  absl::Mutex mu;
  std::map<size_t, std::vector<uint8_t>> spans;  // nodes stay where they are
  int placed = 0;

  InspectOptions Options(const FirmwareImage& image, ReportCache* cache) {
    InspectOptions options;
    options.cache = cache;
    options.destination =
        [this, &image](size_t i) -> absl::StatusOr<absl::Span<uint8_t>> {
      absl::MutexLock lock(&mu);
      ++placed;
      std::vector<uint8_t>& span = spans[i];
      span.assign(image.segments()[i].memsz, 0xAA);
      return absl::MakeSpan(span);
    };
    return options;
  }
};

TEST(ReportCache, KeepsAtMostItsCapacityAndEvictsTheLeastRecentlyUsed) {
  ReportCache cache(2);
  cache.Put("a", Named("a"));
  cache.Put("b", Named("b"));
  ASSERT_TRUE(cache.Find("a").has_value());  // "b" is now least recent
  cache.Put("c", Named("c"));                // the limit: "b" goes
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.Find("b").has_value());
  EXPECT_EQ(cache.Find("a")->name, "a");
  EXPECT_EQ(cache.Find("c")->name, "c");
  EXPECT_EQ(cache.hits(), 3u);
  EXPECT_EQ(cache.misses(), 1u);
  cache.Put("c", Named("c2"));  // replaced, not added
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find("c")->name, "c2");
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(ReportCache::Shared().capacity(), ReportCache::kDefaultCapacity);
}

TEST(ReportCache, AnUnchangedImageIsNotVerifiedAgain) {
  ReportCache cache;
  const FirmwareImage image = Loaded(SignedImage({}), "upload:1");
  InspectOptions options;
  options.cache = &cache;
  const ImageReport first = Inspect(image, options);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first.from_cache);
  const ImageReport second = Inspect(image, options);
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.metadata_sha256, first.metadata_sha256);
  EXPECT_EQ(cache.hits(), 1u);
  // Other options are another report.
  options.carveout = std::make_pair(uint64_t{0x80000000}, uint64_t{1} << 24);
  EXPECT_FALSE(Inspect(image, options).from_cache);
}

TEST(ReportCache, AFailingReportIsKeptAndAnImageWithoutIdentityNever) {
  ReportCache cache;
  SignOptions bad;
  bad.corrupt_signature = true;
  const FirmwareImage image = Loaded(SignedImage(bad), "upload:2");
  InspectOptions options;
  options.cache = &cache;
  EXPECT_FALSE(Inspect(image, options).ok());
  const ImageReport again = Inspect(image, options);
  EXPECT_TRUE(again.from_cache);
  EXPECT_FALSE(again.ok());

  const FirmwareImage anonymous = Loaded(SignedImage({}), "");
  EXPECT_EQ(ReportKey(anonymous, options), "");
  Inspect(anonymous, options);
  EXPECT_FALSE(Inspect(anonymous, options).from_cache);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(PlacingInspect, CopiesEverySegmentAndZeroesItsTail) {
  const FirmwareImage image = Loaded(SignedImage({}), "upload:3");
  Carveout carveout;
  const ImageReport report = Inspect(image, carveout.Options(image, nullptr));
  ASSERT_TRUE(report.ok()) << report.problems[0].message;
  ASSERT_FALSE(carveout.spans.empty());
  for (const auto& [i, span] : carveout.spans) {
    const absl::string_view data = image.segment_data(i);
    EXPECT_EQ(std::memcmp(span.data(), data.data(), data.size()), 0) << i;
    for (size_t at = data.size(); at < span.size(); ++at) {
      ASSERT_EQ(span[at], 0) << "segment " << i << " byte " << at;
    }
  }
}

TEST(PlacingInspect, NothingIsCopiedWhenTheSignatureFails) {
  SignOptions bad;
  bad.corrupt_signature = true;
  const FirmwareImage image = Loaded(SignedImage(bad), "upload:4");
  Carveout carveout;
  const ImageReport report = Inspect(image, carveout.Options(image, nullptr));
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems[0].reason, "SIGNATURE_INVALID");
  EXPECT_EQ(carveout.placed, 0);
  EXPECT_TRUE(carveout.spans.empty());
}

TEST(PlacingInspect, AVerifiedImageIsCopiedWithoutHashingWhenAllowed) {
  ReportCache cache;
  const std::string bytes = SignedImage({});
  const FirmwareImage image = Loaded(bytes, "upload:5");
  Carveout first;
  ASSERT_TRUE(Inspect(image, first.Options(image, &cache)).ok());
  EXPECT_EQ(cache.size(), 1u);  // a placing Inspect without problem is kept

  // Not allowed (pild's hash is the only check): verified again.
  Carveout again;
  EXPECT_FALSE(Inspect(image, again.Options(image, &cache)).from_cache);

  Carveout copied;
  InspectOptions options = copied.Options(image, &cache);
  options.copy_if_verified = true;
  const ImageReport report = Inspect(image, options);
  EXPECT_TRUE(report.from_cache);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(copied.spans, first.spans);  // the same bytes placed

  // Not hashed: a segment changed under the same identity and metadata
  // (what the identity rules out for files) is copied as it is. Without
  // copy_if_verified the same image is refused.
  const FirmwareImage changed =
      Loaded(testing::Flipped(bytes, bytes.size() - 100), "upload:5");
  ASSERT_EQ(ReportKey(changed, options), ReportKey(image, options));
  Carveout skipped;
  InspectOptions skip = skipped.Options(changed, &cache);
  skip.copy_if_verified = true;
  EXPECT_TRUE(Inspect(changed, skip).from_cache);
  Carveout checked;
  const ImageReport refused =
      Inspect(changed, checked.Options(changed, &cache));
  ASSERT_FALSE(refused.problems.empty());
  EXPECT_EQ(refused.problems[0].reason, "HASH_MISMATCH");
}

}  // namespace
}  // namespace pil::image
