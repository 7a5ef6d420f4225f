// Firmware stored compressed, as the kernel's loader finds it: NAME, then
// NAME.zst, then NAME.xz, each across every directory; split parts each
// plain or compressed; the directory rules (links, regular files) and the
// size bound apply to the compressed file and its content.
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/decompress.h"
#include "platform/image/firmware_image.h"
#include "server/firmware_store.h"
#include "tests/sim/sim_testing.h"
#include "tests/testing/compress.h"

namespace pil::server {
namespace {

using image::Compression;
using ::pil::testing::Compress;
using ::pil::testing::CompressZeros;
using ::testing::HasSubstr;

class CompressedFirmware : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(getenv("TEST_TMPDIR"), "/compressed");
    std::filesystem::remove_all(root_);
    for (const char* dir : {"/first/qcom", "/second/qcom"}) {
      std::filesystem::create_directories(root_ + dir);
    }
  }
  // A distinct image per seed (its code differs).
  static std::string Image(uint32_t seed) {
    return std::string(
        sim::testing::SignedFor(0x9bb00000, 0x100000 + seed * 0x10000, 0xe)
            .main_file());
  }
  void Write(const std::string& path, const std::string& bytes) {
    ASSERT_TRUE(WriteFile(root_ + "/" + path, bytes).ok()) << path;
  }
  absl::StatusOr<image::FirmwareImage> Load(const std::string& name) {
    FirmwareStore store({root_ + "/first", root_ + "/second"});
    return store.Load(FirmwareSource::Named(name));
  }
  std::string root_;
};

TEST_F(CompressedFirmware, EachFormatLoadsAsThePlainFile) {
  const std::string zst = Image(1), xz = Image(2);
  Write("second/qcom/a.mbn.zst", Compress(Compression::kZstd, zst));
  Write("second/qcom/b.mbn.xz", Compress(Compression::kXz, xz));
  auto a = Load("qcom/a.mbn");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->main_file(), zst);
  EXPECT_EQ(a->name(), "qcom/a.mbn");
  auto b = Load("qcom/b.mbn");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->main_file(), xz);
  // The compressed file's own name is an ordinary file, not decompressed.
  EXPECT_EQ(ReasonOf(Load("qcom/a.mbn.zst").status()), "ELF_BAD_MAGIC");
}

TEST_F(CompressedFirmware, PlainAnywhereBeatsZstdAnywhereBeatsXz) {
  const std::string plain = Image(1), zst = Image(2), xz = Image(3);
  // The plain file in the second directory beats .zst in the first.
  Write("first/qcom/a.mbn.zst", Compress(Compression::kZstd, zst));
  Write("first/qcom/a.mbn.xz", Compress(Compression::kXz, xz));
  Write("second/qcom/a.mbn", plain);
  EXPECT_EQ(Load("qcom/a.mbn")->main_file(), plain);
  // .zst in the second directory beats .xz in the first.
  std::filesystem::remove(root_ + "/second/qcom/a.mbn");
  std::filesystem::rename(root_ + "/first/qcom/a.mbn.zst",
                          root_ + "/second/qcom/a.mbn.zst");
  EXPECT_EQ(Load("qcom/a.mbn")->main_file(), zst);
  std::filesystem::remove(root_ + "/second/qcom/a.mbn.zst");
  EXPECT_EQ(Load("qcom/a.mbn")->main_file(), xz);
  std::filesystem::remove(root_ + "/first/qcom/a.mbn.xz");
  EXPECT_EQ(ReasonOf(Load("qcom/a.mbn").status()), "FIRMWARE_NOT_FOUND");
}

TEST_F(CompressedFirmware, SplitPartsMayEachBeCompressed) {
  auto image = sim::testing::SignedFor(0x9bb00000, 0x200000, 0xe);
  auto split = image.Split();
  ASSERT_TRUE(split.ok());
  ASSERT_GE(split->parts.size(), 2u);
  Write("first/qcom/v.mdt.xz", Compress(Compression::kXz, split->mdt));
  int i = 0;
  for (const auto& [name, bytes] : split->parts) {
    const std::string part = "first/qcom/v." + name.substr(name.size() - 3);
    switch (i++ % 3) {
      case 0:
        Write(part + ".zst", Compress(Compression::kZstd, bytes));
        break;
      case 1:
        Write(part + ".xz", Compress(Compression::kXz, bytes));
        break;
      default:
        Write(part, bytes);
    }
  }
  // A plain part beats a compressed one beside it.
  const std::string& first_part = split->parts.front().first;
  const std::string plain_part =
      "first/qcom/v." + first_part.substr(first_part.size() - 3);
  Write(plain_part, split->parts.front().second);
  Write(plain_part + ".xz", "not even xz");
  auto mdt = Load("qcom/v.mdt");
  ASSERT_TRUE(mdt.ok()) << mdt.status();
  EXPECT_TRUE(mdt->split());
  EXPECT_EQ(mdt->Metadata(), image.Metadata());
  for (size_t s = 0; s < image.segments().size(); ++s) {
    EXPECT_EQ(mdt->segment_data(s), image.segment_data(s)) << "segment " << s;
  }
  // A corrupt compressed part fails the image, naming the part's file.
  const std::string& last = split->parts.back().first;
  const std::string last_part = "first/qcom/v." + last.substr(last.size() - 3);
  std::filesystem::remove(root_ + "/" + last_part);
  std::filesystem::remove(root_ + "/" + last_part + ".xz");
  Write(last_part + ".zst", "\x28\xb5\x2f\xfd garbage");
  auto bad = Load("qcom/v.mdt");
  EXPECT_EQ(ReasonOf(bad.status()), "FIRMWARE_DECOMPRESS_FAILED")
      << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr(last_part + ".zst"));
  // A missing part names where it was looked for.
  std::filesystem::remove(root_ + "/" + last_part + ".zst");
  auto missing = Load("qcom/v.mdt");
  EXPECT_EQ(ReasonOf(missing.status()), "SPLIT_SEGMENT_MISSING");
  EXPECT_THAT(missing.status().message(), HasSubstr("nor as .zst or .xz"));
}

TEST_F(CompressedFirmware, ACorruptFileIsRefusedNotSkipped) {
  std::string packed = Compress(Compression::kZstd, Image(1));
  packed[packed.size() / 2] ^= 0x55;
  Write("first/qcom/a.mbn.zst", packed);
  Write("second/qcom/a.mbn.xz", Compress(Compression::kXz, Image(2)));
  auto loaded = Load("qcom/a.mbn");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(loaded.status()), "FIRMWARE_DECOMPRESS_FAILED");
  const std::string path = root_ + "/first/qcom/a.mbn.zst";
  EXPECT_THAT(loaded.status().message(), HasSubstr(path));
  EXPECT_THAT(loaded.status().message(), HasSubstr("expected zstd data"));
  EXPECT_EQ(MetadataOf(loaded.status())["path"], path);
  // Decompressed content gets the image checks.
  Write("first/qcom/a.mbn.zst",
        Compress(Compression::kZstd, "not an ELF image at all"));
  EXPECT_EQ(ReasonOf(Load("qcom/a.mbn").status()), "IMAGE_TOO_SHORT");
}

TEST_F(CompressedFirmware, LinksAndFileTypesFollowTheDirectoryRules) {
  const std::string image = Image(1);
  Write("outside.mbn.zst", Compress(Compression::kZstd, image));
  Write("first/qcom/in.mbn.zst", Compress(Compression::kZstd, image));
  std::filesystem::create_symlink("in.mbn.zst",
                                  root_ + "/first/qcom/link.mbn.zst");
  std::filesystem::create_symlink("../../outside.mbn.zst",
                                  root_ + "/first/qcom/out.mbn.zst");
  EXPECT_EQ(Load("qcom/link.mbn")->main_file(), image);
  auto out = Load("qcom/out.mbn");
  EXPECT_EQ(ReasonOf(out.status()), "FILE_OUTSIDE_DIRECTORY");
  ASSERT_EQ(::mkfifo((root_ + "/first/qcom/fifo.mbn.xz").c_str(), 0600), 0);
  auto fifo = Load("qcom/fifo.mbn");
  EXPECT_EQ(ReasonOf(fifo.status()), "FILE_UNREADABLE");
  EXPECT_THAT(fifo.status().message(), HasSubstr("fifo.mbn.xz"));
}

// The bound on firmware files holds for what a file decompresses to.
TEST_F(CompressedFirmware, ContentBeyondTheFileLimitIsRefused) {
  const uint64_t limit = image::FirmwareImage::kMaxFileSize;
  Write("first/qcom/bomb.mbn.zst",
        CompressZeros(Compression::kZstd, limit + 1));
  auto bomb = Load("qcom/bomb.mbn");
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(bomb.status()), "FILE_TOO_LARGE");
  EXPECT_THAT(bomb.status().message(),
              HasSubstr(root_ + "/first/qcom/bomb.mbn.zst"));
  EXPECT_THAT(bomb.status().message(), HasSubstr(absl::StrCat(limit)));
}

}  // namespace
}  // namespace pil::server
