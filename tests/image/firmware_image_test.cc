#include "platform/image/firmware_image.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/bytes.h"
#include "platform/image/inspect.h"
#include "tests/image/image_testing.h"

namespace pil::image {
namespace {

using testing::Flipped;
using ::testing::HasSubstr;
using testing::LoadFromMap;
using testing::SignedImage;
using testing::SplitToMap;

std::string Image() {
  SignOptions options;
  options.version = 6;
  return SignedImage(options);
}

// Rewrites field `field` (offset within a 32-byte phdr) of phdr `i`.
std::string SetPhdr(std::string file, size_t i, size_t field, uint32_t v) {
  StoreLe(file, 52 + 32 * i + field, v, 4);
  return file;
}

absl::Status LoadStatus(std::string bytes) {
  return FirmwareImage::FromBytes("fw.mbn", std::move(bytes)).status();
}

TEST(FirmwareImage, MonolithicSegments) {
  auto image = FirmwareImage::FromBytes("fw.mbn", Image());
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_FALSE(image->split());
  EXPECT_EQ(image->hash_index(), 1u);
  EXPECT_EQ(image->headers().size(), 52u + 5 * 32);
  EXPECT_EQ(image->segment_data(1).size(), image->segments()[1].filesz);
  EXPECT_EQ(image->Metadata(), std::string(image->headers()) +
                                   std::string(image->segment_data(1)));
}

TEST(FirmwareImage, FewerThanTwoProgramHeaders) {
  std::string file = Image();
  StoreLe(file, 44, 1, 2);
  EXPECT_EQ(ReasonOf(LoadStatus(file)), "TOO_FEW_SEGMENTS");
}

TEST(FirmwareImage, FirstProgramHeaderMustBeThePlaceholder) {
  absl::Status s = LoadStatus(SetPhdr(Image(), 0, 0, kPtLoad));
  EXPECT_EQ(ReasonOf(s), "HEADER_SEGMENT_INVALID");
  // Covering less than the program-header table.
  s = LoadStatus(SetPhdr(Image(), 0, 16, 52));
  EXPECT_EQ(ReasonOf(s), "HEADER_SEGMENT_INVALID");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("expected offset 0 and size in [0xd4"));
}

TEST(FirmwareImage, HashSegmentMissing) {
  absl::Status s = LoadStatus(SetPhdr(Image(), 1, 24, 0));  // p_flags
  EXPECT_EQ(ReasonOf(s), "HASH_SEGMENT_MISSING");
  EXPECT_THAT(std::string(s.message()), HasSubstr("not signed"));
}

TEST(FirmwareImage, FileszAboveMemsz) {
  std::string file = Image();
  auto image = FirmwareImage::FromBytes("fw.mbn", file);
  const uint32_t filesz = static_cast<uint32_t>(image->segments()[2].filesz);
  absl::Status s = LoadStatus(SetPhdr(file, 2, 20, filesz - 1));
  EXPECT_EQ(ReasonOf(s), "SEGMENT_FILESZ_EXCEEDS_MEMSZ");
  EXPECT_EQ(MetadataOf(s).at("segment"), "2");
}

TEST(FirmwareImage, InMemoryImagesCannotBeSplit) {
  std::string file = Image();
  file.resize(file.size() - 1);
  absl::Status s = LoadStatus(file);
  EXPECT_EQ(ReasonOf(s), "SEGMENT_TRUNCATED");
  EXPECT_EQ(MetadataOf(s).at("segment"), "3");
}

TEST(FirmwareImage, SplitFormLoadsTheSameSegments) {
  auto mono = FirmwareImage::FromBytes("adsp.mbn", Image());
  ASSERT_TRUE(mono.ok());
  auto files = SplitToMap(*mono, "adsp.mdt");
  // b00 (headers) and b01 (hash segment) are written, as pil-splitter does.
  EXPECT_TRUE(files.count("adsp.b00") && files.count("adsp.b01") &&
              files.count("adsp.b02") && files.count("adsp.b03"));
  EXPECT_FALSE(files.count("adsp.b04"));  // BSS has no file data
  EXPECT_EQ(files["adsp.mdt"], mono->Metadata());
  auto split = LoadFromMap("adsp.mdt", files);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_TRUE(split->split());
  for (size_t i = 0; i < mono->segments().size(); ++i) {
    EXPECT_EQ(split->segment_data(i), mono->segment_data(i)) << i;
  }
  EXPECT_EQ(split->PartName(2), "adsp.b02");
  auto squashed = split->Squash();
  ASSERT_TRUE(squashed.ok());
  EXPECT_EQ(*squashed, std::string(mono->main_file()));
}

TEST(FirmwareImage, MissingPartNamesSegmentAndFile) {
  auto mono = FirmwareImage::FromBytes("adsp.mbn", Image());
  auto files = SplitToMap(*mono, "adsp.mdt");
  files.erase("adsp.b03");
  absl::Status s = LoadFromMap("adsp.mdt", files).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(s), "SPLIT_SEGMENT_MISSING");
  EXPECT_EQ(MetadataOf(s).at("segment"), "3");
  EXPECT_EQ(MetadataOf(s).at("file"), "adsp.b03");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("segment 3 of 'adsp.mdt' expected in 'adsp.b03'"));
}

TEST(FirmwareImage, PartSizeMustEqualFilesz) {
  auto mono = FirmwareImage::FromBytes("adsp.mbn", Image());
  auto files = SplitToMap(*mono, "adsp.mdt");
  const size_t size = files["adsp.b02"].size();
  files["adsp.b02"].pop_back();
  absl::Status s = LoadFromMap("adsp.mdt", files).status();
  EXPECT_EQ(ReasonOf(s), "SPLIT_SEGMENT_SIZE_MISMATCH");
  EXPECT_EQ(MetadataOf(s).at("expected"), absl::StrCat(size));
  EXPECT_EQ(MetadataOf(s).at("found"), absl::StrCat(size - 1));
  files["adsp.b02"] += "xy";
  EXPECT_EQ(ReasonOf(LoadFromMap("adsp.mdt", files).status()),
            "SPLIT_SEGMENT_SIZE_MISMATCH");
}

TEST(FirmwareImage, HashSegmentInItsOwnPart) {
  // Some trees ship the hash segment in .b01 with only headers in .mdt.
  auto mono = FirmwareImage::FromBytes("cdsp.mbn", Image());
  auto files = SplitToMap(*mono, "cdsp.mdt");
  files["cdsp.mdt"] = std::string(mono->headers());
  auto split = LoadFromMap("cdsp.mdt", files);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->segment_data(1), mono->segment_data(1));
  EXPECT_TRUE(Inspect(*split).ok());
}

TEST(FirmwareImage, SplitPartNames) {
  EXPECT_EQ(*SplitPartName("modem.mdt", 7), "modem.b07");
  EXPECT_EQ(*SplitPartName("a.mbn", 42), "a.b42");
  EXPECT_EQ(ReasonOf(SplitPartName("a.b", 1).status()), "SPLIT_NAME_INVALID");
  EXPECT_EQ(ReasonOf(SplitPartName("adsp.mdt", 100).status()),
            "TOO_MANY_SEGMENTS");
}

TEST(FirmwareImage, LoadFileReadsPartsBesideIt) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/split";
  std::filesystem::create_directories(dir);
  auto mono = FirmwareImage::FromBytes("venus.mbn", Image());
  for (const auto& [name, data] : SplitToMap(*mono, "venus.mdt")) {
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
  }
  auto split = FirmwareImage::LoadFile(dir + "/venus.mdt");
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_TRUE(split->split());
  EXPECT_EQ(split->name(), "venus.mdt");
  EXPECT_TRUE(Inspect(*split).ok());
  std::filesystem::remove(dir + "/venus.b02");
  EXPECT_EQ(ReasonOf(FirmwareImage::LoadFile(dir + "/venus.mdt").status()),
            "SPLIT_SEGMENT_MISSING");
}

}  // namespace
}  // namespace pil::image
