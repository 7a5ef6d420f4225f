// Access to the real firmware and device trees (@realdata, see
// build/realdata.bzl) from tests.
//
//   TEST(Foo, RealImage) {
//     PILD_REQUIRE_REAL_DATA();
//     auto bytes = ReadFile(RealDataPath("firmware/qcom/sdm845/cdsp.mbn"));
//
// A test that needs real data fails loudly when it is absent; it never
// passes without having run.
#ifndef PILD_TESTS_TESTING_REALDATA_H_
#define PILD_TESTS_TESTING_REALDATA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace pil::testing {

// Where `relative` (e.g. "dtb/sm8550-qrd.dtb") is in the test's runfiles.
std::string RealDataPath(absl::string_view relative);

// OK when the real data is present; FAILED_PRECONDITION saying where it was
// looked for otherwise.
absl::Status RealDataAvailable();

// Where `relative` (a workspace-relative path of a data dependency) is.
std::string RunfilePath(absl::string_view relative);

}  // namespace pil::testing

#define PILD_REQUIRE_REAL_DATA()                                             \
  do {                                                                       \
    const absl::Status pild_real_data = ::pil::testing::RealDataAvailable(); \
    if (!pild_real_data.ok()) {                                              \
      GTEST_FAIL() << "REAL DATA MISSING, test did not run: "                \
                   << pild_real_data.message();                              \
    }                                                                        \
  } while (0)

#endif  // PILD_TESTS_TESTING_REALDATA_H_
