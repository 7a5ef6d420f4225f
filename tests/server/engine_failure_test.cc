// The engine on the sim when something goes wrong: every failure rolls
// back to OFFLINE with nothing left on the hardware; IOMMU ownership cases.
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/elf.h"
#include "server/engine.h"
#include "tests/server/engine_testing.h"
#include "tests/sim/sim_testing.h"

namespace pil::server {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Peripheral;
using testing::SimEngine;
using testing::StepNames;
using testing::WithFault;

struct FailureCase {
  std::string name;
  std::string reason;
  std::function<void(SimEngine&)> arrange;
  sim::v1::Profile profile;
  std::string coprocessor = "video";
};

FailureCase Case(std::string name, std::string reason,
                 std::function<void(SimEngine&)> arrange,
                 sim::v1::Profile profile = {},
                 std::string coprocessor = "video") {
  return {std::move(name), std::move(reason), std::move(arrange),
          std::move(profile), std::move(coprocessor)};
}

void PrintTo(const FailureCase& c, std::ostream* os) {
  *os << c.name << " (" << c.coprocessor << ", " << c.reason << ")";
}

class FailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(FailureTest, RollsBackToOfflineWithNothingLeft) {
  const FailureCase& c = GetParam();
  SimEngine sim("sm8550-el2-sim", c.profile);
  if (c.arrange) c.arrange(sim);
  auto started =
      sim.engine().Start(c.coprocessor, {}, absl::ZeroDuration(), {});
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(ReasonOf(started.status()), c.reason) << started.status();
  auto status = sim.engine().Get(c.coprocessor);
  EXPECT_EQ(status->state, State::kOffline);
  ASSERT_TRUE(status->last_error.has_value());
  EXPECT_EQ(status->last_error->reason, c.reason);
  EXPECT_EQ(status->last_error->operation, "start");
  EXPECT_FALSE(status->image.has_value());
  sim.ExpectClean(c.coprocessor);
  // And it boots once the cause is gone (when it can be).
  auto entries = sim.history().Latest(c.coprocessor, 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].result, c.reason);
  EXPECT_EQ(entries[0].to, State::kOffline);
}

sim::v1::Profile ScmFailure(const std::string& coprocessor,
                            const std::string& call) {
  return WithFault(coprocessor, [&](sim::v1::Fault* f) {
    f->mutable_scm_failure()->set_call(call);
    f->mutable_scm_failure()->set_occurrence(1);
    f->mutable_scm_failure()->set_status(-22);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Engine, FailureTest,
    ::testing::Values(
        Case("CorruptedSegment", "HASH_MISMATCH",
             [](SimEngine& sim) {
               std::string image = SimEngine::Signed(0x9bb00000, 0x400000, 0xe);
               image[image.size() - 100] ^= 0x40;
               sim.WriteFirmware(testing::kVideoFirmware, image);
             }),
        Case("TooBigForCarveout", "IMAGE_TOO_LARGE",
             [](SimEngine& sim) {
               sim.WriteFirmware(testing::kVideoFirmware,
                                 SimEngine::Signed(0x9bb00000, 0x800000, 0xe));
             }),
        Case("MissingFirmware", "FIRMWARE_NOT_FOUND",
             [](SimEngine& sim) {
               std::filesystem::remove(sim.firmware_dir() + "/" +
                                       testing::kVideoFirmware);
             }),
        Case(
            "MissingDtbImage", "FIRMWARE_NOT_FOUND",
            [](SimEngine& sim) {
              std::filesystem::remove(sim.firmware_dir() +
                                      "/qcom/sm8550/adsp_dtb.mbn");
            },
            {}, "adsp"),
        Case("WrongImageType", "SW_ID_MISMATCH",
             [](SimEngine& sim) {
               // A CDSP image where the codec's belongs.
               sim.WriteFirmware(testing::kVideoFirmware,
                                 SimEngine::Signed(0x9bb00000, 0x400000, 0x17));
             }),
        Case("NeverReady", "READY_TIMEOUT", nullptr,
             WithFault("video",
                       [](sim::v1::Fault* f) { f->set_never_ready(true); })),
        Case("AuthAndResetFails", "SCM_CALL_FAILED", nullptr,
             ScmFailure("cdsp", "pas_auth_and_reset"), "cdsp"),
        Case("BridgeFails", "SCM_CALL_FAILED", nullptr,
             ScmFailure("adsp", "shm_bridge_create"), "adsp")),
    [](const ::testing::TestParamInfo<FailureCase>& info) {
      return info.param.name;
    });

TEST(Engine, SkippedMapOnAnOsOwnedIommuFaultsAndRollsBack) {
  // The hypervisor board's device tree (no firmware streams) on a SoC
  // without a hypervisor: an EL1 device tree booted at EL2.
  sim::v1::Profile profile;
  profile.set_hypervisor(false);
  SimEngine sim("sm8550-hyp-sim", profile);
  auto auth = sim.engine().Authenticate("video", {}, {});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto mapped = sim.engine().Map("video", {});
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_THAT(mapped->note, HasSubstr("nothing mapped"));
  EXPECT_TRUE(mapped->steps.empty());
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(ReasonOf(reset.status()), "SMMU_FAULT") << reset.status();
  EXPECT_THAT(reset.status().message(),
              HasSubstr("was the firmware stream mapped?"));
  const ErrorMetadata metadata = MetadataOf(reset.status());
  EXPECT_EQ(metadata.at("coprocessor"), "video");
  EXPECT_EQ(metadata.at("fault"), "unmatched stream");
  EXPECT_FALSE(metadata.at("sid").empty());
  sim.ExpectClean("video");
}

TEST(Engine, HypervisorBoardMapsNothingAndNeverBridges) {
  SimEngine sim("sm8550-hyp-sim");
  auto auth = sim.engine().Authenticate("video", {}, {});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto mapped = sim.engine().Map("video", {});
  ASSERT_TRUE(mapped.ok());
  EXPECT_THAT(mapped->note, HasSubstr("IOMMU managed by the hypervisor"));
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_THAT(StepNames(*reset), ElementsAre("pas_auth_and_reset", "wait_ready",
                                             "release_metadata"));
  auto view = sim.engine().Get("video", true);
  ASSERT_EQ(view->hardware.mappings.size(), 1u);
  EXPECT_EQ(view->hardware.mappings[0].owner,
            platform::MappingOwner::kHypervisor);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  view = sim.engine().Get("video", true);
  EXPECT_TRUE(view->hardware.mappings.empty());
}

TEST(Engine, ResourceTableDeviceMemoryIsMappedAndUnmapped) {
  sim::v1::Profile profile;
  sim::v1::Peripheral* p = profile.add_peripherals();
  p->set_coprocessor("cdsp");
  sim::v1::DevMem* devmem = p->add_devmem();
  devmem->set_da(0x20000000);
  devmem->set_pa(0x0a000000);
  devmem->set_length(0x2000);
  devmem->set_name("ipc-regs");
  SimEngine sim("sm8550-el2-sim", profile);
  auto started = sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  auto view = sim.engine().Get("cdsp", true);
  ASSERT_TRUE(view.ok()) << view.status();
  bool found = false;
  for (const auto& m : view->hardware.mappings) {
    if (m.iova == 0x20000000) {
      found = true;
      EXPECT_EQ(m.pa, 0x0a000000u);
      EXPECT_EQ(m.size, 0x2000u);
    }
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(sim.engine().Stop("cdsp", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("cdsp");
}

}  // namespace
}  // namespace pil::server
