#include "common/file.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/endpoint.h"
#include "common/error.h"
#include "gtest/gtest.h"

namespace pil {
namespace {

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

TEST(ReadFile, DirectoryIsRefused) {
  auto read = ReadFile(std::getenv("TEST_TMPDIR"));
  EXPECT_EQ(ReasonOf(read.status()), "FILE_UNREADABLE");
}

TEST(DefaultEndpoint, SocketVariableWins) {
  setenv("PILD_SOCKET", "/x/y.sock", 1);
  EXPECT_EQ(DefaultEndpoint(), "unix:/x/y.sock");
  unsetenv("PILD_SOCKET");
  EXPECT_EQ(DefaultEndpoint().rfind("unix:/", 0), 0u);
  EXPECT_NE(DefaultEndpoint().find("pild.sock"), std::string::npos);
}

}  // namespace
}  // namespace pil
