// Every real image boots on its real device tree's coprocessor in the sim
// (hypervisor mode, as those boards run), and the real Iris firmware also
// on the bundled board where Linux owns the SMMU.
#include <string>

#include "common/file.h"
#include "gtest/gtest.h"
#include "platform/sim/soc.h"
#include "tests/sim/sim_testing.h"
#include "tests/testing/realdata.h"

namespace pil::sim {
namespace {

using pas::SignalKind;
using testing::Boot;
using testing::MakeSoc;
using testing::SignalLog;

struct Pair {
  const char* firmware;
  const char* dtb;
  const char* coprocessor;
};

void PrintTo(const Pair& p, std::ostream* os) {
  *os << p.firmware << " on " << p.dtb;
}

class RealPairs : public ::testing::TestWithParam<Pair> {};

TEST_P(RealPairs, BootsOnItsBoard) {
  PILD_REQUIRE_REAL_DATA();
  const Pair& pair = GetParam();
  auto dtb = ReadFile(
      pil::testing::RealDataPath(std::string("dtb/") + pair.dtb + ".dtb"));
  ASSERT_TRUE(dtb.ok());
  auto image =
      image::FirmwareImage::LoadFile(pil::testing::RealDataPath(pair.firmware));
  ASSERT_TRUE(image.ok()) << image.status();
  auto soc = MakeSoc(*dtb);
  EXPECT_TRUE(soc->hypervisor());
  const devicetree::CoprocessorNode* node = nullptr;
  for (const auto& c : soc->board().coprocessors) {
    if (c.name == pair.coprocessor) node = &c;
  }
  ASSERT_NE(node, nullptr);
  SignalLog log(*soc);
  Boot boot{*soc, *node->pas_id, node->carveouts[0].base,
            node->carveouts[0].size};
  ASSERT_TRUE(boot.Init(*image).ok()) << boot.Init(*image);
  ASSERT_TRUE(boot.Copy(*image).ok());
  ASSERT_TRUE(soc->PasAuthAndReset(*node->pas_id).ok());
  auto ready = log.Next(node->path);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->kind, SignalKind::kReady) << ready->detail;
  ASSERT_TRUE(soc->ReleaseMetadata(*node->pas_id).ok());
  ASSERT_TRUE(soc->PasShutdown(*node->pas_id).ok());
  EXPECT_TRUE(soc->Observe()->mappings.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Real, RealPairs,
    ::testing::Values(
        Pair{"firmware/qcom/sm8250/cdsp.mbn", "qrb5165-rb5", "cdsp"},
        Pair{"firmware/qcom/sdm845/cdsp.mbn", "sdm845-db845c", "cdsp"},
        Pair{"firmware/qcom/venus-5.2/venus.mbn", "sdm845-db845c", "video"},
        Pair{"firmware/qcom/vpu/vpu30_p4.mbn", "sm8550-qrd", "video"}));

TEST(RealIrisFirmware, BootsWhereLinuxOwnsTheSmmuOnlyWhenMapped) {
  PILD_REQUIRE_REAL_DATA();
  auto image = image::FirmwareImage::LoadFile(
      pil::testing::RealDataPath("firmware/qcom/vpu/vpu30_p4.mbn"));
  ASSERT_TRUE(image.ok());
  auto soc = MakeSoc(testing::BundledDtb("sm8550-el2-sim"));
  SignalLog log(*soc);
  const std::string video = "/soc@0/video-codec@aa00000";
  Boot boot{*soc, 9, 0x9bb00000, 0x700000};
  ASSERT_TRUE(boot.Init(*image).ok());
  ASSERT_TRUE(boot.Copy(*image).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto fault = log.Next(video);
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault->kind, SignalKind::kSmmuFault);
  ASSERT_TRUE(fault->fault.has_value());
  EXPECT_EQ(fault->fault->sid, 0x19e2u);
  ASSERT_TRUE(soc->PasShutdown(9).ok());
  ASSERT_TRUE(soc->ReleaseMetadata(9).ok());

  ASSERT_TRUE(boot.Init(*image).ok());
  ASSERT_TRUE(boot.MapStream(0x19e2, 0, /*video=*/true).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto ready = log.Next(video);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->kind, SignalKind::kReady);
}

}  // namespace
}  // namespace pil::sim
