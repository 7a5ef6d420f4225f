#include "platform/image/hash_segment.h"

#include <string>

#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/bytes.h"
#include "platform/image/firmware_image.h"
#include "tests/image/image_testing.h"

namespace pil::image {
namespace {

using ::testing::HasSubstr;
using testing::SignedImage;

std::string HashSegmentOf(int version, SigningChain::Kind kind) {
  SignOptions options;
  options.version = version;
  auto image = FirmwareImage::FromBytes("fw.mbn", SignedImage(options, kind));
  return std::string(image->segment_data(image->hash_index()));
}

struct Case {
  int version;
  SigningChain::Kind kind;
  size_t header;
  size_t metadata;
  size_t digest;
};

class EveryVersion : public ::testing::TestWithParam<Case> {};

TEST_P(EveryVersion, Layout) {
  const Case c = GetParam();
  const std::string bytes = HashSegmentOf(c.version, c.kind);
  auto hs = ParseHashSegment(bytes, 5);
  ASSERT_TRUE(hs.ok()) << hs.status();
  EXPECT_EQ(hs->version, static_cast<uint32_t>(c.version));
  EXPECT_EQ(DigestSize(hs->algorithm), c.digest);
  EXPECT_EQ(hs->entry_count, 5u);
  EXPECT_EQ(hs->hash_table.size(), 5 * c.digest);
  EXPECT_EQ(hs->signed_region.size(), c.header + c.metadata + 5 * c.digest);
  EXPECT_EQ(hs->hash_table.data(), bytes.data() + c.header + c.metadata);
  ASSERT_EQ(hs->signers.size(), 1u);
  EXPECT_EQ(hs->signers[0].role, "oem");
  // Entries of the hash segment itself and of BSS are zero.
  EXPECT_EQ(hs->Entry(1), std::string(c.digest, '\0'));
  EXPECT_EQ(hs->Entry(4), std::string(c.digest, '\0'));
  EXPECT_NE(hs->Entry(2), std::string(c.digest, '\0'));
}

INSTANTIATE_TEST_SUITE_P(
    HashSegment, EveryVersion,
    ::testing::Values(Case{3, SigningChain::Kind::kRsa, 40, 0, 32},
                      Case{5, SigningChain::Kind::kRsa, 40, 0, 32},
                      Case{6, SigningChain::Kind::kRsa, 48, 120, 48},
                      Case{6, SigningChain::Kind::kEc, 48, 120, 48},
                      Case{7, SigningChain::Kind::kEc, 40, 24 + 224, 48}));

TEST(ParseHashSegment, V6MetadataAndV7Metadata) {
  SignOptions options;
  options.version = 6;
  options.sw_id = 0x17;
  options.hw_id = 0x9600e1;
  options.oem_id = 0x33;
  options.anti_rollback_version = 4;
  options.debug = 1;
  auto image = FirmwareImage::FromBytes("fw.mbn", SignedImage(options));
  auto v6 = ParseHashSegment(image->segment_data(1), 5);
  ASSERT_TRUE(v6.ok() && v6->oem_metadata_v6);
  EXPECT_FALSE(v6->qti_metadata_v6.has_value());
  EXPECT_EQ(v6->oem_metadata_v6->sw_id, 0x17u);
  EXPECT_EQ(v6->oem_metadata_v6->hw_id, 0x9600e1u);
  EXPECT_EQ(v6->oem_metadata_v6->oem_id, 0x33u);
  EXPECT_EQ(v6->oem_metadata_v6->anti_rollback_version, 4u);
  EXPECT_EQ((v6->oem_metadata_v6->flags >> 8) & 3, 1u);

  options.version = 7;
  image = FirmwareImage::FromBytes(
      "fw.mbn", SignedImage(options, SigningChain::Kind::kEc));
  auto v7 = ParseHashSegment(image->segment_data(1), 5);
  ASSERT_TRUE(v7.ok() && v7->common_metadata_v7 && v7->oem_metadata_v7);
  EXPECT_EQ(v7->common_metadata_v7->software_id, 0x17u);
  EXPECT_EQ(v7->common_metadata_v7->hash_table_algorithm, 3u);
  EXPECT_EQ(v7->oem_metadata_v7->major, 2u);
  EXPECT_EQ(v7->oem_metadata_v7->anti_rollback_version, 4u);
  EXPECT_EQ(v7->oem_metadata_v7->jtag_id, 0x9600e1u);
}

TEST(ParseHashSegment, TooShort) {
  EXPECT_EQ(ReasonOf(ParseHashSegment(std::string(39, '\0'), 2).status()),
            "HASH_SEGMENT_TOO_SHORT");
  std::string v6(40, '\0');
  v6[4] = 6;
  EXPECT_EQ(ReasonOf(ParseHashSegment(v6, 2).status()),
            "HASH_SEGMENT_TOO_SHORT");
}

TEST(ParseHashSegment, UnknownVersions) {
  std::string bytes = HashSegmentOf(6, SigningChain::Kind::kRsa);
  for (uint32_t version : {0u, 1u, 2u, 4u, 8u, 0xffffffffu}) {
    StoreLe(bytes, 4, version, 4);
    absl::Status s = ParseHashSegment(bytes, 5).status();
    EXPECT_EQ(ReasonOf(s), "HASH_VERSION_UNSUPPORTED") << version;
    EXPECT_THAT(std::string(s.message()), HasSubstr("expected 3, 5, 6 or 7"));
  }
}

TEST(ParseHashSegment, SizesMustAddUp) {
  std::string bytes = HashSegmentOf(5, SigningChain::Kind::kRsa);
  std::string wrong_total = bytes;
  StoreLe(wrong_total, 0x10, Le32(bytes, 0x10) + 4, 4);
  EXPECT_EQ(ReasonOf(ParseHashSegment(wrong_total, 5).status()),
            "HASH_SEGMENT_SIZE_MISMATCH");
  // A huge field does not wrap around.
  std::string huge = bytes;
  StoreLe(huge, 0x24, 0xffffffffu, 4);
  EXPECT_EQ(ReasonOf(ParseHashSegment(huge, 5).status()),
            "HASH_SEGMENT_SIZE_MISMATCH");
  std::string v7 = HashSegmentOf(7, SigningChain::Kind::kEc);
  StoreLe(v7, 0x24, Le32(v7, 0x24) + 1, 4);
  EXPECT_EQ(ReasonOf(ParseHashSegment(v7, 5).status()),
            "HASH_SEGMENT_SIZE_MISMATCH");
}

TEST(ParseHashSegment, TrailingPaddingIsAllowed) {
  std::string bytes = HashSegmentOf(6, SigningChain::Kind::kEc);
  bytes += std::string(208, '\xff');
  auto hs = ParseHashSegment(bytes, 5);
  ASSERT_TRUE(hs.ok()) << hs.status();
  EXPECT_EQ(hs->signers.size(), 1u);
}

TEST(ParseHashSegment, TableMustHaveOneEntryPerProgramHeader) {
  std::string bytes = HashSegmentOf(3, SigningChain::Kind::kRsa);
  absl::Status s = ParseHashSegment(bytes, 6).status();
  EXPECT_EQ(ReasonOf(s), "HASH_TABLE_SIZE_MISMATCH");
  EXPECT_EQ(MetadataOf(s).at("expected"), "192");
  EXPECT_EQ(MetadataOf(s).at("found"), "160");
}

TEST(ParseHashSegment, UnsignedHasNoSigners) {
  SignOptions options;
  options.unsigned_image = true;
  auto image = FirmwareImage::FromBytes("fw.mbn", SignedImage(options));
  auto hs = ParseHashSegment(image->segment_data(1), 5);
  ASSERT_TRUE(hs.ok()) << hs.status();
  EXPECT_TRUE(hs->signers.empty());
}

}  // namespace
}  // namespace pil::image
