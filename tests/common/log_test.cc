// Log lines: one record per line, whatever a message holds.
#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

// What PILD_LOG writes to stderr while `log` runs.
template <typename Fn>
std::string Captured(Fn log) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/stderr";
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  log();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  return *ReadFile(path);
}

TEST(Log, ControlCharactersCannotForgeOrHideLines) {
  const std::string out = Captured([] {
    PILD_LOG(INFO) << "upload qcom/a\nE 2026-01-01T00:00:00Z pild.cc:1] forged"
                   << "\r\x1b[2K" << '\x7f' << " tab\there";
  });
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_THAT(out, HasSubstr("qcom/a\\x0aE 2026"));
  EXPECT_THAT(out, HasSubstr("\\x0d\\x1b[2K\\x7f tab\\x09here"));
  EXPECT_THAT(out, EndsWith("here\n"));
}

}  // namespace
}  // namespace pil
