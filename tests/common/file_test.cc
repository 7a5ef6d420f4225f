#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/endpoint.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const char* name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(ReadFile, ReadsWholeFile) {
  const std::string path = TempPath("data");
  std::string content(200000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char(i * 7);
  std::ofstream(path, std::ios::binary) << content;
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, content);
}

TEST(ReadFile, MissingFileIsNotFound) {
  auto read = ReadFile(TempPath("absent"));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(read.status()), "FILE_NOT_FOUND");
  EXPECT_EQ(MetadataOf(read.status()).at("path"), TempPath("absent"));
}

TEST(ReadFile, LimitIsEnforced) {
  const std::string path = TempPath("big");
  std::ofstream(path) << std::string(100, 'x');
  auto read = ReadFile(path, 99);
  EXPECT_EQ(ReasonOf(read.status()), "FILE_TOO_LARGE");
  EXPECT_NE(read.status().message().find("100 bytes; the limit is 99"),
            std::string::npos);
  EXPECT_TRUE(ReadFile(path, 100).ok());
}

TEST(ReadFile, PseudoFilesWithoutASizeAreReadToTheEnd) {
  // /proc files report size 0, like sysfs attributes.
  auto read = ReadFile("/proc/self/status");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_NE(read->find("VmRSS:"), std::string::npos);
  EXPECT_EQ(read->back(), '\n');
  EXPECT_EQ(ReasonOf(ReadFile("/proc/self/status", 10).status()),
            "FILE_TOO_LARGE");
}

TEST(WriteFile, ReplacesTheFileAndNamesFailures) {
  const std::string path = TempPath("written");
  ASSERT_TRUE(WriteFile(path, std::string(100000, 'a')).ok());
  ASSERT_TRUE(WriteFile(path, "short").ok());
  EXPECT_EQ(*ReadFile(path), "short");
  absl::Status s = WriteFile(TempPath("no/such/dir/file"), "x");
  EXPECT_EQ(ReasonOf(s), "FILE_UNWRITABLE");
  EXPECT_NE(s.message().find("No such file or directory"), std::string::npos);
}

TEST(ReadFile, DirectoryIsNoFile) {
  auto read = ReadFile(std::getenv("TEST_TMPDIR"));
  EXPECT_EQ(ReasonOf(read.status()), "FILE_NOT_FOUND");
  EXPECT_THAT(read.status().message(), HasSubstr("is a directory"));
}

// A FIFO in place of a file is refused at once, never waited on (a read
// of one without a writer blocks forever).
TEST(ReadFile, FifoIsRefusedWithoutBlocking) {
  const std::string path = TempPath("fifo.mbn");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto read = ReadFile(path);
  EXPECT_EQ(ReasonOf(read.status()), "FILE_UNREADABLE");
  EXPECT_THAT(read.status().message(), HasSubstr("not a regular file"));
}

class Beneath : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempPath("beneath");
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/fw/qcom/a");
    ASSERT_TRUE(WriteFile(root_ + "/fw/qcom/a/real.mbn", "inside").ok());
    ASSERT_TRUE(WriteFile(root_ + "/secret", "outside").ok());
    dir_ = ::open((root_ + "/fw").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir_, 0);
  }
  void TearDown() override { ::close(dir_); }
  absl::StatusOr<std::string> Read(const std::string& name) {
    return ReadFileBeneath(dir_, name, name, 1 << 20);
  }
  void Link(const std::string& target, const std::string& name) {
    std::filesystem::create_symlink(target, root_ + "/fw/" + name);
  }
  std::string root_;
  int dir_ = -1;
};

TEST_F(Beneath, LinksInsideTheDirectoryAreFollowed) {
  Link("a/real.mbn", "qcom/same-dir.mbn");
  Link("../qcom/a/real.mbn", "qcom/up-and-down.mbn");
  EXPECT_EQ(*Read("qcom/a/real.mbn"), "inside");
  EXPECT_EQ(*Read("qcom/same-dir.mbn"), "inside");
  EXPECT_EQ(*Read("qcom/up-and-down.mbn"), "inside");
}

TEST_F(Beneath, LinksLeavingTheDirectoryAreRefused) {
  Link("../../secret", "qcom/relative.mbn");
  Link(root_ + "/secret", "qcom/absolute.mbn");
  Link("/etc/passwd", "qcom/passwd.mbn");
  for (const char* name :
       {"qcom/relative.mbn", "qcom/absolute.mbn", "qcom/passwd.mbn"}) {
    auto read = Read(name);
    EXPECT_EQ(ReasonOf(read.status()), "FILE_OUTSIDE_DIRECTORY") << name;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(ReasonOf(Read("../secret").status()), "FILE_OUTSIDE_DIRECTORY");
}

TEST_F(Beneath, FifosAndMissingFilesAreRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root_ + "/fw/qcom/x.b02").c_str(), 0600), 0);
  EXPECT_EQ(ReasonOf(Read("qcom/x.b02").status()), "FILE_UNREADABLE");
  EXPECT_EQ(ReasonOf(Read("qcom/absent.mbn").status()), "FILE_NOT_FOUND");
}

TEST(DefaultEndpoint, SocketVariableWins) {
  setenv("PILD_SOCKET", "/x/y.sock", 1);
  EXPECT_EQ(DefaultEndpoint(), "unix:/x/y.sock");
  unsetenv("PILD_SOCKET");
  EXPECT_EQ(DefaultEndpoint().rfind("unix:/", 0), 0u);
  EXPECT_NE(DefaultEndpoint().find("pild.sock"), std::string::npos);
}

TEST(MapFile, MapsAFileOnlyItsOwnerCanChangeAndNamesItsContent) {
  const std::string path = TempPath("mapped");
  const std::string content(100000, 'x');
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  std::string identity;
  {
    auto mapped = MapFile(path, 1 << 20);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    EXPECT_TRUE(mapped->mapped());
    EXPECT_EQ(mapped->view(), content);
    EXPECT_THAT(mapped->identity(), ::testing::StartsWith("file:"));
    identity = mapped->identity();
    // The same file unchanged has the same identity.
    EXPECT_EQ(MapFile(path, 1 << 20)->identity(), identity);
  }
  // Written, another.
  std::ofstream(path, std::ios::binary | std::ios::app) << "y";
  auto changed = MapFile(path, 1 << 20);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->identity(), identity);
  EXPECT_EQ(changed->size(), content.size() + 1);
}

TEST(MapFile, NoOneOpensAMappedFileToWriteWhileItIsMapped) {
  const std::string path = TempPath("leased");
  std::ofstream(path, std::ios::binary) << std::string(8192, 'l');
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  {
    auto mapped = MapFile(path, 1 << 20);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ASSERT_TRUE(mapped->mapped());
    // A writer (here one that will not wait) is held off by the lease: it
    // could otherwise truncate the file under the mapping.
    const int writer = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_NONBLOCK);
    const int err = errno;
    if (writer >= 0) ::close(writer);
    EXPECT_EQ(writer, -1);
    EXPECT_EQ(err, EWOULDBLOCK);
    EXPECT_EQ(mapped->view(), std::string(8192, 'l'));
  }
  // The mapping gone, so is the lease.
  const int writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
  EXPECT_GE(writer, 0) << std::strerror(errno);
  // A file open for writing elsewhere cannot be leased: it is read.
  auto read = MapFile(path, 1 << 20);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->mapped());
  EXPECT_EQ(read->identity(), "");
  ::close(writer);
}

TEST(MapFile, ReadsAFileOthersCouldChangeWithoutIdentity) {
  const std::string path = TempPath("shared");
  std::ofstream(path, std::ios::binary) << "shared bytes";
  for (const mode_t mode : {0664, 0646}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto read = MapFile(path, 1 << 20);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_FALSE(read->mapped()) << std::oct << mode;
    EXPECT_EQ(read->identity(), "");
    EXPECT_EQ(read->view(), "shared bytes");
  }
}

TEST(MapFile, BoundsAndErrorsAsReadFile) {
  const std::string path = TempPath("big");
  std::ofstream(path, std::ios::binary) << std::string(5000, 'z');
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto big = MapFile(path, 4096);
  EXPECT_EQ(ReasonOf(big.status()), "FILE_TOO_LARGE");
  EXPECT_EQ(ReasonOf(MapFile(TempPath("nothing"), 4096).status()),
            "FILE_NOT_FOUND");
  const std::string empty = TempPath("empty");
  std::ofstream(empty, std::ios::binary).flush();
  auto none = MapFile(empty, 4096);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(none->mapped());
}

}  // namespace
}  // namespace pil
