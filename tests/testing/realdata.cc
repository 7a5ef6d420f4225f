#include "tests/testing/realdata.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file.h"

namespace pil::testing {
namespace {

std::string RunfilesRoot() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return srcdir != nullptr ? srcdir : ".";
}

}  // namespace

// The real directory STATUS names ("available DIR"), else the runfiles'
// links: firmware read by pild must not be behind links leading out of its
// directory.
std::string RealDataPath(absl::string_view relative) {
  auto status = ReadFile(absl::StrCat(RunfilesRoot(), "/realdata/STATUS"));
  absl::string_view dir =
      status.ok() ? absl::string_view(*status) : absl::string_view();
  if (absl::ConsumePrefix(&dir, "available ")) {
    return absl::StrCat(absl::StripTrailingAsciiWhitespace(dir), "/", relative);
  }
  return absl::StrCat(RunfilesRoot(), "/realdata/", relative);
}

std::string RunfilePath(absl::string_view relative) {
  return absl::StrCat(RunfilesRoot(), "/pild/", relative);
}

absl::Status RealDataAvailable() {
  // (STATUS is the repository rule's, in the runfiles only.)
  auto status = ReadFile(absl::StrCat(RunfilesRoot(), "/realdata/STATUS"));
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no @realdata//:STATUS in the runfiles (", status.status().message(),
        "); add @realdata//:all to the test's data"));
  }
  if (!absl::StartsWith(*status, "available")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "real data not found: ", absl::StripTrailingAsciiWhitespace(*status),
        ". Put it at ../shared/realdata, set PILD_REALDATA, or run "
        "tools/fetch-realdata.sh"));
  }
  return absl::OkStatus();
}

}  // namespace pil::testing
