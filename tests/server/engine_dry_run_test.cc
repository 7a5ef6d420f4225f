// A dry-run Start: every check a Start makes short of the secure world,
// and nothing done or recorded.
#include <string>

#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/report_cache.h"
#include "server/engine.h"
#include "tests/server/engine_testing.h"

namespace pil::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::SimEngine;
using testing::StepNames;

TEST(EngineDryRun, ChecksTheImagesAndTouchesNothing) {
  SimEngine sim;
  for (const char* name : {"video", "adsp"}) {  // adsp also loads a DTB
    SCOPED_TRACE(name);
    auto checked = sim.engine().DryRunStart(name, {});
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_TRUE(checked->dry_run);
    EXPECT_EQ(checked->status.state, State::kOffline);
    EXPECT_FALSE(checked->status.image.has_value());
    EXPECT_THAT(checked->note, HasSubstr("nothing was loaded, mapped"));
    if (std::string(name) == "video") {
      EXPECT_THAT(StepNames(*checked), ElementsAre("load", "verify"));
    } else {
      EXPECT_THAT(StepNames(*checked),
                  ElementsAre("load", "verify", "load_dtb", "verify_dtb"));
    }
    sim.ExpectClean(name);
    EXPECT_TRUE(sim.history().Latest(name, 10).empty());
  }
  // And the real Start still works after it.
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
}

TEST(EngineDryRun, FailsAsTheStartWouldBeforeTheSecureWorld) {
  SimEngine sim;
  std::string image = SimEngine::Signed(0x9bb00000, 0x400000, 0xe);
  image[image.size() - 100] ^= 0x40;
  sim.WriteFirmware(testing::kVideoFirmware, image);
  auto corrupted = sim.engine().DryRunStart("video", {});
  EXPECT_EQ(ReasonOf(corrupted.status()), "HASH_MISMATCH");
  sim.WriteFirmware(testing::kVideoFirmware,
                    SimEngine::Signed(0x9bb00000, 0x800000, 0xe));
  EXPECT_EQ(ReasonOf(sim.engine().DryRunStart("video", {}).status()),
            "IMAGE_TOO_LARGE");
  EXPECT_EQ(
      ReasonOf(sim.engine()
                   .DryRunStart("video", FirmwareSource::Named("qcom/none.mbn"))
                   .status()),
      "FIRMWARE_NOT_FOUND");
  EXPECT_EQ(ReasonOf(sim.engine().DryRunStart("gpu", {}).status()),
            "UNKNOWN_COPROCESSOR");
  sim.ExpectClean("video");
  EXPECT_TRUE(sim.history().Latest("video", 10).empty());
}

TEST(EngineDryRun, ARunningCoprocessorIsInTheWrongState) {
  SimEngine sim;
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  auto checked = sim.engine().DryRunStart("cdsp", {});
  EXPECT_EQ(ReasonOf(checked.status()), "WRONG_STATE");
  EXPECT_THAT(checked.status().message(), HasSubstr("it is running"));
  EXPECT_EQ(sim.engine().Get("cdsp")->state, State::kRunning);
}

// The detail of the step named `name`, or "".
std::string DetailOf(const TransitionResult& result, const std::string& name) {
  for (const Step& step : result.steps) {
    if (step.name == name) return step.detail;
  }
  return "";
}

TEST(EngineDryRun, AnUnchangedImageVerifiedBeforeIsNotVerifiedAgain) {
  SimEngine sim;
  image::ReportCache::Shared().Clear();
  constexpr char kAgain[] = "verified before and unchanged since";
  auto first = sim.engine().DryRunStart("video", {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(DetailOf(*first, "verify"), Not(HasSubstr(kAgain)));
  auto second = sim.engine().DryRunStart("video", {});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(DetailOf(*second, "verify"), HasSubstr(kAgain));

  // A first Start verifies the image in full, then a dry run of the same
  // image is free.
  image::ReportCache::Shared().Clear();
  auto started = sim.engine().Start("video", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_THAT(DetailOf(*started, "verify_and_copy"), Not(HasSubstr(kAgain)));
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  auto after = sim.engine().DryRunStart("video", {});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(DetailOf(*after, "verify"), HasSubstr(kAgain));
  // Started again: copied without hashing, the secure world re-hashes.
  auto again = sim.engine().Start("video", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_THAT(DetailOf(*again, "verify_and_copy"),
              HasSubstr("copied, not hashed again"));
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());

  // Another image under the same name is verified, and found wanting.
  std::string corrupt = SimEngine::Signed(0x9bb00000, 0x400000, 0xe);
  corrupt[corrupt.size() - 100] ^= 0x40;
  sim.WriteFirmware(testing::kVideoFirmware, corrupt);
  EXPECT_EQ(ReasonOf(sim.engine().DryRunStart("video", {}).status()),
            "HASH_MISMATCH");
  sim.ExpectClean("video");
}

}  // namespace
}  // namespace pil::server
