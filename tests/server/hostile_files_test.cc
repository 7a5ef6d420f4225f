// What a firmware directory or a client can hand the firmware store: links
// out of the directory, FIFOs and devices in place of files, control
// characters in names; and uploads shared, never copied, by every load.
#include <sys/stat.h>

#include <filesystem>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/firmware_store.h"
#include "server/requests.h"
#include "tests/sim/sim_testing.h"

namespace pil::server {
namespace {

using ::testing::HasSubstr;

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(getenv("TEST_TMPDIR"), "/hostile");
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/fw/qcom/sm8550");
    image_ = std::string(
        sim::testing::SignedFor(0x9bb00000, 0x200000, 0xe).main_file());
    ASSERT_TRUE(WriteFile(root_ + "/fw/qcom/sm8550/vpu.mbn", image_).ok());
    ASSERT_TRUE(WriteFile(root_ + "/outside.mbn", image_).ok());
  }
  void Link(const std::string& target, const std::string& name) {
    std::filesystem::create_symlink(target, root_ + "/fw/" + name);
  }
  absl::StatusOr<image::FirmwareImage> Load(const std::string& name) {
    FirmwareStore store({root_ + "/fw"});
    return store.Load(FirmwareSource::Named(name));
  }
  std::string root_, image_;
};

// Real firmware trees link within themselves (qcom/<soc>/x -> ../<other>/x).
TEST_F(HostileFiles, LinksWithinTheDirectoryKeepWorking) {
  std::filesystem::create_directories(root_ + "/fw/qcom/sm8650");
  Link("../sm8550/vpu.mbn", "qcom/sm8650/vpu.mbn");
  Link("sm8550", "qcom/alias");
  EXPECT_TRUE(Load("qcom/sm8650/vpu.mbn").ok());
  EXPECT_TRUE(Load("qcom/alias/vpu.mbn").ok());
}

TEST_F(HostileFiles, LinksOutOfTheDirectoryAreNotFollowed) {
  Link("/etc/passwd", "qcom/passwd.mbn");
  Link("../../outside.mbn", "qcom/relative.mbn");
  Link(root_ + "/outside.mbn", "qcom/absolute.mbn");
  Link(root_, "qcom/up");
  for (const char* name : {"qcom/passwd.mbn", "qcom/relative.mbn",
                           "qcom/absolute.mbn", "qcom/up/outside.mbn"}) {
    auto loaded = Load(name);
    EXPECT_EQ(ReasonOf(loaded.status()), "FILE_OUTSIDE_DIRECTORY") << name;
    EXPECT_THAT(loaded.status().message(), HasSubstr("outside its directory"));
  }
}

TEST_F(HostileFiles, AFifoAnywhereIsRefusedAtOnce) {
  // The image itself, and a split part the .mdt leads to.
  ASSERT_EQ(::mkfifo((root_ + "/fw/qcom/fifo.mbn").c_str(), 0600), 0);
  auto image = sim::testing::SignedFor(0x9bb00000, 0x200000, 0xe);
  auto split = image.Split();
  ASSERT_TRUE(split.ok());
  ASSERT_TRUE(WriteFile(root_ + "/fw/qcom/x.mdt", split->mdt).ok());
  for (const auto& [name, bytes] : split->parts) {
    const std::string part =
        root_ + "/fw/qcom/x." + name.substr(name.size() - 3);
    if (&name == &split->parts.back().first) {
      ASSERT_EQ(::mkfifo(part.c_str(), 0600), 0);
    } else {
      ASSERT_TRUE(WriteFile(part, bytes).ok());
    }
  }
  // Run apart from the test: a read that blocks must fail the test, not
  // hang it.
  auto loads = std::async(std::launch::async, [&] {
    return std::make_pair(Load("qcom/fifo.mbn").status(),
                          Load("qcom/x.mdt").status());
  });
  ASSERT_EQ(loads.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "a FIFO blocked the firmware store";
  const auto [fifo, part] = loads.get();
  EXPECT_EQ(ReasonOf(fifo), "FILE_UNREADABLE");
  EXPECT_THAT(fifo.message(), HasSubstr("not a regular file"));
  EXPECT_EQ(ReasonOf(part), "FILE_UNREADABLE");
}

TEST_F(HostileFiles, ADirectoryOfTheNameIsNotFound) {
  EXPECT_EQ(ReasonOf(Load("qcom").status()), "FIRMWARE_NOT_FOUND");
}

// A path through a file, or a loop of links, in one directory: the search
// goes on to the next.
TEST_F(HostileFiles, DeadEndsInOneDirectoryDoNotEndTheSearch) {
  const std::string first = root_ + "/first";
  std::filesystem::create_directories(first);
  ASSERT_TRUE(WriteFile(first + "/qcom", "a file, not a directory").ok());
  std::filesystem::create_symlink("loop", first + "/loop");
  std::filesystem::create_symlink("qcom/sm8550/vpu.mbn", root_ + "/fw/loop");
  FirmwareStore store({first, root_ + "/fw"});
  EXPECT_TRUE(store.Load(FirmwareSource::Named("qcom/sm8550/vpu.mbn")).ok());
  EXPECT_TRUE(store.Load(FirmwareSource::Named("loop")).ok());
}

TEST_F(HostileFiles, ControlCharactersInNamesAreRefused) {
  for (const std::string& name :
       {std::string("qcom/a\nI forged log line"), std::string("qcom/\x1b[2Jx"),
        std::string("qcom/a\x7f"), std::string("qcom/a\0b", 8)}) {
    EXPECT_EQ(ReasonOf(CheckFirmwareName(name)), "FIRMWARE_NAME_INVALID");
  }
  EXPECT_TRUE(CheckFirmwareName("qcom/sm8550/vpu30_p4.mbn").ok());
  EXPECT_EQ(ReasonOf(CheckUploadName("vpu\r\n.mbn")), "UPLOAD_NAME_INVALID");
  EXPECT_EQ(ReasonOf(CheckUploadName(std::string(257, 'a'))),
            "UPLOAD_NAME_INVALID");
  EXPECT_TRUE(CheckUploadName("vpu30_p4 (lab build).mbn").ok());
  EXPECT_TRUE(CheckUploadName("").ok());
}

TEST_F(HostileFiles, UploadsAreSharedByValidationTheStoreAndEveryLoad) {
  auto bytes = std::make_shared<const std::string>(image_);
  v1::UploadHeader header;
  header.set_size(bytes->size());
  auto valid = ValidateUpload(header, bytes, 1);
  ASSERT_TRUE(valid.ok()) << valid.status();
  FirmwareStore store({});
  store.AddUpload(valid->sha256, bytes);
  auto first = store.Load(FirmwareSource::Upload(valid->sha256));
  auto second = store.Load(FirmwareSource::Upload(valid->sha256));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->main_file().data(), bytes->data());
  EXPECT_EQ(second->main_file().data(), bytes->data());
}

}  // namespace
}  // namespace pil::server
