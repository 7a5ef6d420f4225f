// The real Qualcomm images in the real data: complete verification, and the
// precise failure for a byte flipped anywhere that matters, in the .mbn and
// the split form.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/inspect.h"
#include "tests/image/image_testing.h"
#include "tests/testing/realdata.h"

namespace pil::image {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using testing::LoadFromMap;
using testing::SplitToMap;

struct RealImage {
  const char* path;
  uint32_t version;
  SignatureScheme scheme;
  const char* root_sha256;
  uint32_t image_type;
  const char* image_version;
  // The board and coprocessor whose carveout it boots in.
  const char* dtb;
  const char* coprocessor;
};

const RealImage kImages[] = {
    {"firmware/qcom/venus-5.2/venus.mbn", 3, SignatureScheme::kRsaPkcs1Hmac,
     "b53fb23d1953decb95928fe657556cea6edab3444dc708c019057cbaf8c62d4a", 0xe,
     "VIDEO.VE.5.2-00023-PROD-2", "sdm845-db845c", "video"},
    {"firmware/qcom/sdm845/cdsp.mbn", 5, SignatureScheme::kRsaPss,
     "f8ab20526358c4fa4cef96d78c45180dc3db75e8f24051ad624448c134b4e861", 0x17,
     "CDSP.HT.1.0-00535-SDM845-1", "sdm845-db845c", "cdsp"},
    {"firmware/qcom/sm8250/cdsp.mbn", 6, SignatureScheme::kRsaPss,
     "f8ab20526358c4fa4cef96d78c45180dc3db75e8f24051ad624448c134b4e861", 0x17,
     "CDSP.HT.2.3.c1-00060-SM8250-2", "qrb5165-rb5", "cdsp"},
    {"firmware/qcom/vpu/vpu30_p4.mbn", 7, SignatureScheme::kEcdsaP384,
     "9cda6268c11916ff53b41f2b1701e2758fc3bbd227538ee127158f7c9527a454", 0xe,
     "vfw-0:rel0095-d1a9e7c4a274aa13e4136500d19262f87ef2c921", "sm8550-qrd",
     "video"},
};

void PrintTo(const RealImage& image, std::ostream* os) { *os << image.path; }

class RealImages : public ::testing::TestWithParam<RealImage> {
 protected:
  void SetUp() override {
    PILD_REQUIRE_REAL_DATA();
    auto bytes = ReadFile(pil::testing::RealDataPath(GetParam().path),
                          FirmwareImage::kMaxFileSize);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    mbn_ = *bytes;
    auto image = FirmwareImage::FromBytes("fw.mbn", mbn_);
    ASSERT_TRUE(image.ok()) << image.status();
    image_ = std::make_unique<FirmwareImage>(std::move(*image));
    split_ = SplitToMap(*image_, "fw.mdt");
  }

  // Where the hash segment's parts are in the .mbn.
  uint64_t HashOffset() const {
    return image_->segments()[image_->hash_index()].offset;
  }
  const HashSegment Hash() const {
    return *ParseHashSegment(image_->segment_data(image_->hash_index()),
                             image_->segments().size());
  }
  size_t InHash(absl::string_view part) const {
    return static_cast<size_t>(
        HashOffset() +
        (part.data() - image_->segment_data(image_->hash_index()).data()));
  }

  // The report for the .mbn with byte `offset` flipped, and for the split
  // form with the same byte flipped in its part.
  std::pair<ImageReport, ImageReport> FlipBoth(size_t offset) {
    auto mono =
        FirmwareImage::FromBytes("fw.mbn", testing::Flipped(mbn_, offset));
    EXPECT_TRUE(mono.ok()) << mono.status();
    auto flipped =
        FirmwareImage::FromBytes("fw.mbn", testing::Flipped(mbn_, offset));
    auto files = SplitToMap(*flipped, "fw.mdt");
    auto split = LoadFromMap("fw.mdt", files);
    EXPECT_TRUE(split.ok()) << split.status();
    EXPECT_TRUE(split->split());
    return {Inspect(*mono), Inspect(*split)};
  }

  std::string mbn_;
  std::unique_ptr<FirmwareImage> image_;
  std::map<std::string, std::string> split_;
};

std::vector<std::string> Reasons(const ImageReport& report) {
  std::vector<std::string> reasons;
  for (const Problem& p : report.problems) reasons.push_back(p.reason);
  return reasons;
}

TEST_P(RealImages, VerifiesCompletely) {
  const RealImage& want = GetParam();
  const ImageReport report = Inspect(*image_);
  EXPECT_TRUE(report.ok()) << report.problems[0].message;
  EXPECT_EQ(report.version, want.version);
  EXPECT_TRUE(report.hash_ok);
  ASSERT_EQ(report.signers.size(), 1u);
  EXPECT_EQ(report.signers[0].scheme, want.scheme);
  EXPECT_TRUE(report.signers[0].signature_ok);
  EXPECT_TRUE(report.signers[0].chain_ok);
  EXPECT_EQ(report.signers[0].chain.size(), 3u);
  EXPECT_EQ(report.signers[0].root_sha256, want.root_sha256);
  EXPECT_EQ(report.identity.image_type(), want.image_type);
  EXPECT_EQ(report.image_version, want.image_version);
}

TEST_P(RealImages, SplitFormVerifiesAndSquashesBack) {
  auto split = LoadFromMap("fw.mdt", split_);
  ASSERT_TRUE(split.ok()) << split.status();
  const ImageReport report = Inspect(*split);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.metadata_sha256, Inspect(*image_).metadata_sha256);
  auto squashed = split->Squash();
  ASSERT_TRUE(squashed.ok());
  auto again = FirmwareImage::FromBytes("fw.mbn", *squashed);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(Inspect(*again).ok());
  for (size_t i = 0; i < image_->segments().size(); ++i) {
    EXPECT_EQ(again->segment_data(i), image_->segment_data(i)) << i;
  }
}

TEST_P(RealImages, FitsItsBoardsCarveout) {
  const RealImage& want = GetParam();
  auto dtb = ReadFile(
      pil::testing::RealDataPath(absl::StrCat("dtb/", want.dtb, ".dtb")));
  ASSERT_TRUE(dtb.ok());
  auto board = devicetree::Discover(*dtb);
  ASSERT_TRUE(board.ok());
  for (const auto& c : board->coprocessors) {
    if (c.name != want.coprocessor) continue;
    InspectOptions options;
    options.carveout = {c.carveouts[0].base, c.carveouts[0].size};
    const ImageReport report = Inspect(*image_, options);
    EXPECT_TRUE(report.ok()) << report.problems[0].message;
    return;
  }
  FAIL() << "no " << want.coprocessor << " on " << want.dtb;
}

TEST_P(RealImages, ByteFlippedInEachSegment) {
  for (size_t i = 0; i < image_->segments().size(); ++i) {
    const ProgramHeader& p = image_->segments()[i];
    if (i == image_->hash_index() || p.filesz == 0) continue;
    // In the headers, e_entry; elsewhere, the middle of the segment.
    const size_t offset =
        i == 0 ? 24 : static_cast<size_t>(p.offset + p.filesz / 2);
    auto [mono, split] = FlipBoth(offset);
    for (const ImageReport* r : {&mono, &split}) {
      EXPECT_THAT(Reasons(*r), ElementsAre("HASH_MISMATCH")) << "segment " << i;
      ASSERT_FALSE(r->problems.empty());
      EXPECT_EQ(r->problems[0].segment, static_cast<int>(i));
    }
  }
}

TEST_P(RealImages, ByteFlippedInEachHashTableEntry) {
  const HashSegment hs = Hash();
  for (size_t i = 0; i < image_->segments().size(); ++i) {
    auto [mono, split] = FlipBoth(InHash(hs.Entry(i)));
    for (const ImageReport* r : {&mono, &split}) {
      ASSERT_FALSE(r->problems.empty());
      EXPECT_EQ(r->problems[0].reason, "HASH_MISMATCH") << i;
      EXPECT_EQ(r->problems[0].segment, static_cast<int>(i));
      // The table is signed: the signature no longer matches either.
      EXPECT_THAT(Reasons(*r), Contains("SIGNATURE_INVALID"));
    }
  }
}

TEST_P(RealImages, ByteFlippedInTheSignature) {
  const HashSegment hs = Hash();
  auto [mono, split] = FlipBoth(InHash(hs.signers[0].signature) + 3);
  for (const ImageReport* r : {&mono, &split}) {
    EXPECT_THAT(Reasons(*r), ElementsAre("SIGNATURE_INVALID"));
    EXPECT_EQ(r->problems[0].signer, "oem");
    EXPECT_TRUE(r->signers[0].chain_ok);
  }
}

TEST_P(RealImages, ByteFlippedInEachCertificate) {
  const HashSegment hs = Hash();
  const ImageReport clean = Inspect(*image_);
  // Certificates are consecutive DER; the last byte of each is in its
  // signature value.
  absl::string_view chain = hs.signers[0].chain;
  size_t start = 0;
  for (size_t j = 0; j < clean.signers[0].chain.size(); ++j) {
    const uint8_t length_bytes = static_cast<uint8_t>(chain[start + 1]) & 0x7f;
    size_t length = 0;
    for (size_t k = 0; k < length_bytes; ++k) {
      length = (length << 8) | static_cast<uint8_t>(chain[start + 2 + k]);
    }
    const size_t end = start + 2 + length_bytes + length;
    auto [mono, split] = FlipBoth(InHash(chain) + end - 1);
    for (const ImageReport* r : {&mono, &split}) {
      EXPECT_THAT(Reasons(*r), ElementsAre("CHAIN_BROKEN")) << "cert " << j;
      ASSERT_FALSE(r->problems.empty());
      EXPECT_EQ(r->problems[0].certificate, static_cast<int>(j));
    }
    start = end;
  }
}

INSTANTIATE_TEST_SUITE_P(Images, RealImages, ::testing::ValuesIn(kImages),
                         [](const auto& info) {
                           std::string name = info.param.path;
                           name = name.substr(name.find("qcom/") + 5);
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace pil::image
