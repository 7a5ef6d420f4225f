#include "platform/image/inspect.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/signer.h"
#include "tests/image/image_testing.h"

namespace pil::image {
namespace {

using ::testing::HasSubstr;
using testing::LoadFromMap;
using testing::SignedImage;
using testing::SplitToMap;
using testing::TestChain;
using Kind = SigningChain::Kind;

ImageReport InspectBytes(const std::string& bytes,
                         const InspectOptions& options = {}) {
  auto image = FirmwareImage::FromBytes("fw.mbn", bytes);
  EXPECT_TRUE(image.ok()) << image.status();
  return Inspect(*image, options);
}

std::vector<std::string> Reasons(const ImageReport& report) {
  std::vector<std::string> reasons;
  for (const Problem& p : report.problems) reasons.push_back(p.reason);
  return reasons;
}

struct SchemeCase {
  int version;
  Kind kind;
  SignatureScheme scheme;
};

class EveryScheme : public ::testing::TestWithParam<SchemeCase> {};

TEST_P(EveryScheme, SignedImageVerifies) {
  const SchemeCase c = GetParam();
  SignOptions options;
  options.version = c.version;
  options.scheme = c.scheme;
  options.sw_id = 0x17;
  const ImageReport report = InspectBytes(SignedImage(options, c.kind));
  EXPECT_TRUE(report.ok()) << report.problems[0].message;
  EXPECT_EQ(report.version, static_cast<uint32_t>(c.version));
  EXPECT_TRUE(report.hash_ok);
  ASSERT_EQ(report.signers.size(), 1u);
  EXPECT_EQ(report.signers[0].scheme, c.scheme);
  EXPECT_TRUE(report.signers[0].signature_ok);
  EXPECT_TRUE(report.signers[0].chain_ok);
  EXPECT_EQ(report.signers[0].chain.size(), 3u);
  EXPECT_EQ(report.signers[0].root_sha256, TestChain(c.kind).root_sha256());
  EXPECT_EQ(report.identity.image_type(), 0x17u);
  EXPECT_EQ(report.image_version, "PILD.TEST.1.0");
}

INSTANTIATE_TEST_SUITE_P(
    Inspect, EveryScheme,
    ::testing::Values(SchemeCase{3, Kind::kRsa, SignatureScheme::kRsaPkcs1Hmac},
                      SchemeCase{3, Kind::kRsa, SignatureScheme::kRsaPss},
                      SchemeCase{5, Kind::kRsa, SignatureScheme::kRsaPss},
                      SchemeCase{6, Kind::kRsa, SignatureScheme::kRsaPss},
                      SchemeCase{6, Kind::kEc, SignatureScheme::kEcdsaP384},
                      SchemeCase{7, Kind::kEc, SignatureScheme::kEcdsaP384}));

TEST(Inspect, IdentityFromCertificateV3) {
  SignOptions options;
  options.version = 3;
  options.sw_id = 0x0000000300000004ull;  // anti-rollback 3, ADSP
  options.hw_id = 0x009600e100510007ull;
  options.oem_id = 0x51;
  options.model_id = 0x7;
  options.debug = 2;
  const ImageReport report = InspectBytes(SignedImage(options));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report.identity.present);
  EXPECT_EQ(report.identity.sw_id, options.sw_id);
  EXPECT_EQ(report.identity.image_type(), 4u);
  EXPECT_EQ(report.identity.anti_rollback_version, 3u);
  EXPECT_EQ(report.identity.hw_id, options.hw_id);
  EXPECT_EQ(report.identity.oem_id, 0x51u);
  EXPECT_EQ(report.identity.model_id, 7u);
  EXPECT_EQ(report.identity.debug, 2u);
}

TEST(Inspect, PkcsHmacBindsSoftwareAndHardwareIds) {
  // The v3 signature covers SW_ID and HW_ID: the same bytes verified with
  // other IDs must fail. Verify directly with altered IDs.
  SignOptions options;
  options.version = 3;
  options.sw_id = 0x4;
  auto image = FirmwareImage::FromBytes("fw.mbn", SignedImage(options));
  auto hs = ParseHashSegment(image->segment_data(1), 5);
  ASSERT_TRUE(hs.ok());
  EXPECT_TRUE(VerifySigner(hs->signers[0], hs->signed_region).signature_ok);
  const std::string expected = HmacLikeDigest(0x4, 0, hs->signed_region);
  EXPECT_NE(expected, HmacLikeDigest(0x5, 0, hs->signed_region));
  EXPECT_NE(expected, HmacLikeDigest(0x4, 1, hs->signed_region));
}

TEST(Inspect, IdentityFromMetadataV6AndV7) {
  SignOptions options;
  options.version = 6;
  options.sw_id = 0xe;
  options.anti_rollback_version = 9;
  options.oem_id = 0x21;
  options.model_id = 0x22;
  options.debug = 1;
  ImageReport report = InspectBytes(SignedImage(options));
  EXPECT_EQ(report.identity.anti_rollback_version, 9u);
  EXPECT_EQ(report.identity.oem_id, 0x21u);
  EXPECT_EQ(report.identity.model_id, 0x22u);
  EXPECT_EQ(report.identity.debug, 1u);
  options.version = 7;
  report = InspectBytes(SignedImage(options, Kind::kEc));
  EXPECT_EQ(report.identity.image_type(), 0xeu);
  EXPECT_EQ(report.identity.anti_rollback_version, 9u);
  EXPECT_EQ(report.identity.oem_id, 0x21u);
}

TEST(Inspect, CorruptHashEntryNamesTheSegment) {
  for (size_t entry : {0u, 2u, 3u}) {
    SignOptions options;
    options.corrupt_hash_entry = entry;
    const ImageReport report = InspectBytes(SignedImage(options));
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.problems[0].reason, "HASH_MISMATCH");
    EXPECT_EQ(report.problems[0].segment, static_cast<int>(entry));
    EXPECT_FALSE(report.segments[entry].hash_ok);
    EXPECT_FALSE(report.hash_ok);
    // The table was signed as it is: the signature still verifies.
    EXPECT_TRUE(report.signers[0].signature_ok);
    const absl::Status s = ReportStatus(report);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(MetadataOf(s).at("segment"), absl::StrCat(entry));
  }
}

TEST(Inspect, EntriesThatMustBeZero) {
  // Entry 1 (the hash segment) and entry 4 (BSS) must be zero.
  for (size_t entry : {1u, 4u}) {
    SignOptions options;
    options.corrupt_hash_entry = entry;
    const ImageReport report = InspectBytes(SignedImage(options));
    EXPECT_THAT(Reasons(report), ::testing::ElementsAre("HASH_MISMATCH"));
    EXPECT_EQ(report.problems[0].segment, static_cast<int>(entry));
    EXPECT_THAT(report.problems[0].message, HasSubstr("must be zero"));
  }
}

TEST(Inspect, CorruptSignature) {
  for (auto [version, kind] : {std::pair{3, Kind::kRsa},
                               {5, Kind::kRsa},
                               {6, Kind::kEc},
                               {7, Kind::kEc}}) {
    SignOptions options;
    options.version = version;
    options.corrupt_signature = true;
    const ImageReport report = InspectBytes(SignedImage(options, kind));
    EXPECT_THAT(Reasons(report), ::testing::ElementsAre("SIGNATURE_INVALID"))
        << version;
    EXPECT_TRUE(report.hash_ok);
    EXPECT_TRUE(report.signers[0].chain_ok);
    const absl::Status s = ReportStatus(report);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(MetadataOf(s).at("signer"), "oem");
  }
}

TEST(Inspect, BrokenCertificateNamesItsIndex) {
  for (size_t cert : {0u, 1u, 2u}) {
    SignOptions options;
    options.version = 7;
    options.corrupt_certificate = cert;
    const ImageReport report = InspectBytes(SignedImage(options, Kind::kEc));
    EXPECT_THAT(Reasons(report), ::testing::ElementsAre("CHAIN_BROKEN"));
    EXPECT_EQ(report.problems[0].certificate, static_cast<int>(cert));
    EXPECT_FALSE(report.signers[0].chain[cert].signature_ok);
    EXPECT_TRUE(report.signers[0].signature_ok);
    EXPECT_EQ(MetadataOf(ReportStatus(report)).at("certificate"),
              absl::StrCat(cert));
  }
}

TEST(Inspect, UnsignedImage) {
  SignOptions options;
  options.unsigned_image = true;
  const ImageReport report = InspectBytes(SignedImage(options));
  EXPECT_THAT(Reasons(report), ::testing::ElementsAre("SIGNATURE_MISSING"));
  EXPECT_TRUE(report.hash_ok);
}

TEST(Inspect, ForeignRootStillVerifiesAndReportsItsHash) {
  auto rogue = SigningChain::Generate(Kind::kRsa, "rogue root");
  ASSERT_TRUE(rogue.ok());
  SignOptions options;
  auto mbn = SignImage(SyntheticFirmware({}), *rogue, options);
  ASSERT_TRUE(mbn.ok());
  const ImageReport report = InspectBytes(*mbn);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.signers[0].root_sha256, rogue->root_sha256());
  EXPECT_NE(rogue->root_sha256(), TestChain(Kind::kRsa).root_sha256());
}

TEST(Inspect, Elf64Image) {
  SyntheticOptions synth;
  synth.elf_class = 64;
  synth.base = 0x1'8000'0000ull;
  const ImageReport report = InspectBytes(SignedImage({}, Kind::kRsa, synth));
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.header.elf_class, 64);
  EXPECT_EQ(report.layout->min_address, 0x1'8000'0000ull);
}

TEST(Inspect, CarveoutCheck) {
  SyntheticOptions synth;
  synth.base = 0x9c900000;
  synth.size = 0x100000;
  synth.relocatable = false;
  const std::string mbn = SignedImage({}, Kind::kRsa, synth);
  InspectOptions options;
  options.carveout = {0x9c900000, 0x100000};
  EXPECT_TRUE(InspectBytes(mbn, options).ok());
  options.carveout = {0x9c900000, 0x80000};
  ImageReport report = InspectBytes(mbn, options);
  EXPECT_THAT(Reasons(report), ::testing::ElementsAre("IMAGE_TOO_LARGE"));
  options.carveout = {0x9ca00000, 0x200000};
  report = InspectBytes(mbn, options);
  EXPECT_THAT(Reasons(report),
              ::testing::ElementsAre("SEGMENT_OUTSIDE_CARVEOUT"));
  EXPECT_EQ(report.problems[0].segment, 2);
}

TEST(Inspect, SplitFormGivesTheSameVerdictAndMetadataDigest) {
  SignOptions options;
  options.version = 7;
  const std::string mbn = SignedImage(options, Kind::kEc);
  auto mono = FirmwareImage::FromBytes("vpu.mbn", mbn);
  auto split = LoadFromMap("vpu.mdt", SplitToMap(*mono, "vpu.mdt"));
  ASSERT_TRUE(split.ok());
  InspectOptions digest;
  digest.file_digest = true;
  const ImageReport a = Inspect(*mono, digest);
  const ImageReport b = Inspect(*split, digest);
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b.split);
  EXPECT_EQ(a.metadata_sha256, b.metadata_sha256);
  EXPECT_NE(a.file_sha256, b.file_sha256);  // .mbn vs .mdt
  EXPECT_EQ(b.segments[2].file, "vpu.b02");
  // A corrupt part is caught through the split form too.
  auto files = SplitToMap(*mono, "vpu.mdt");
  files["vpu.b03"][7] ^= 1;
  const ImageReport c = Inspect(*LoadFromMap("vpu.mdt", files));
  EXPECT_THAT(Reasons(c), ::testing::ElementsAre("HASH_MISMATCH"));
  EXPECT_EQ(c.problems[0].segment, 3);
}

TEST(Inspect, ThreadCountDoesNotChangeTheVerdict) {
  SignOptions options;
  options.corrupt_hash_entry = 3;
  SyntheticOptions synth;
  synth.segments = 8;
  const std::string mbn = SignedImage(options, Kind::kRsa, synth);
  for (int threads : {1, 2, 4, 16}) {
    InspectOptions inspect;
    inspect.threads = threads;
    const ImageReport report = InspectBytes(mbn, inspect);
    EXPECT_THAT(Reasons(report), ::testing::ElementsAre("HASH_MISMATCH"));
    EXPECT_EQ(report.problems[0].segment, 3) << threads;
  }
}

}  // namespace
}  // namespace pil::image
