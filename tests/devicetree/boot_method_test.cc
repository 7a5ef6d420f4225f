// Discovery of how coprocessors boot: codecs without TrustZone, the Iris
// `firmware` subnode, and `*-pil` nodes booted through QDSP6SS registers.
#include <string>
#include <vector>

#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "tests/devicetree/discovery_testing.h"
#include "tests/testing/realdata.h"

namespace pil::devicetree {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const CoprocessorNode& At(const Board& board, const std::string& path) {
  for (const CoprocessorNode& c : board.coprocessors) {
    if (c.path == path) return c;
  }
  ADD_FAILURE() << "no coprocessor at " << path;
  std::abort();
}

class BootMethods : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = LoadBoardFile(
        testing::RunfilePath("tests/devicetree/testdata/boot-methods.dtb"));
  }
  Board board_;
};

TEST_F(BootMethods, EveryNodeIsListedWithAUniqueName) {
  std::vector<std::string> names;
  for (const auto& c : board_.coprocessors) names.push_back(c.name);
  EXPECT_THAT(names,
              ElementsAre("video", "video1", "video2", "video3", "video4",
                          "wcss", "mpss", "adsp", "video5", "gpdsp"));
}

// The v6 wrapper (XTSS reset) is not the one pild drives: listed, refused.
TEST_F(BootMethods, Iris2WrapperIsAProblem) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@ac00000");
  EXPECT_EQ(c.boot, BootMethod::kVideoWrapper);
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x2182u);
  EXPECT_THAT(c.problems,
              ElementsAre(HasSubstr("VPU v6 (IRIS2) wrapper, released through "
                                    "its XTSS reset")));
}

// The first compatible names no subsystem the PAS driver knows; its
// fallback does, and gives the PAS id (gpdsp0: 39) and firmware default.
TEST_F(BootMethods, PasIdComesFromAFallbackCompatible) {
  const CoprocessorNode& c = At(board_, "/soc/remoteproc@20c00000");
  EXPECT_EQ(c.boot, BootMethod::kPas);
  EXPECT_EQ(c.pas_id, 39u);
  EXPECT_THAT(c.problems, IsEmpty());
  EXPECT_THAT(c.firmware_names, ElementsAre("gpdsp0.mbn"));
}

TEST_F(BootMethods, VideoFirmwareSubnodeBootsThroughTheWrapper) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@aa00000");
  EXPECT_EQ(c.boot, BootMethod::kVideoWrapper);
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0xc42u);
  EXPECT_EQ(c.firmware_stream->mask, 0u);
  EXPECT_EQ(c.firmware_stream->smmu_path, "/iommu@15000000");
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  // The codec's own data stream is not the firmware's.
  ASSERT_THAT(c.iommus, SizeIs(1));
  EXPECT_EQ(c.iommus[0].sid, 0xc00u);
  EXPECT_EQ(c.pas_id, 9u);
  EXPECT_THAT(c.firmware_names, ElementsAre("qcom/venus-5.4/venus.mbn"));
  EXPECT_THAT(c.problems, IsEmpty());
}

TEST_F(BootMethods, VideoFirmwareSubnodeWithoutIommusIsAProblem) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@ab00000");
  EXPECT_EQ(c.boot, BootMethod::kVideoWrapper);
  EXPECT_FALSE(c.firmware_stream.has_value());
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0],
              HasSubstr("/soc/video-codec@ab00000/video-firmware"));
  EXPECT_THAT(c.problems[0], HasSubstr("no usable iommus"));
}

TEST_F(BootMethods, IrisFirmwareSubnodeGivesTheStream) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@aa10000");
  EXPECT_EQ(c.boot, BootMethod::kPas);
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x19e2u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  EXPECT_THAT(c.iommu_map, IsEmpty());
  EXPECT_THAT(c.problems, IsEmpty());
}

TEST_F(BootMethods, IrisSubnodeAndIommuMapThatAgreeAreFine) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@aa20000");
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x19e2u);
  EXPECT_THAT(c.iommu_map, SizeIs(1));
  EXPECT_THAT(c.problems, IsEmpty());
}

TEST_F(BootMethods, IrisSubnodeWinsOverADisagreeingIommuMap) {
  const CoprocessorNode& c = At(board_, "/soc/video-codec@aa30000");
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x19e2u);
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("0x19e2"));
  EXPECT_THAT(c.problems[0], HasSubstr("0x19e3"));
  EXPECT_THAT(c.problems[0], HasSubstr("the subnode's is used"));
}

TEST_F(BootMethods, WcssPilUsesTheDriverDefault) {
  const CoprocessorNode& c = At(board_, "/soc/remoteproc@cd00000");
  EXPECT_EQ(c.boot, BootMethod::kQdsp6Registers);
  EXPECT_EQ(c.kind, CoprocessorKind::kRemoteproc);
  EXPECT_EQ(c.soc, "ipq6018");
  EXPECT_THAT(c.firmware_names, ElementsAre("IPQ6018/q6_fw.mdt"));
  EXPECT_TRUE(c.firmware_names_default);
  ASSERT_THAT(c.carveouts, SizeIs(1));
  EXPECT_EQ(c.carveouts[0].base, 0x4ab00000u);
  EXPECT_EQ(c.carveouts[0].size, 0x5500000u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kHypervisor);
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("qcom_q6v5_wcss"));
  EXPECT_THAT(c.problems[0], HasSubstr("pild does not model"));
}

TEST_F(BootMethods, OlderMssTakesCarveoutsFromItsSubnodes) {
  const CoprocessorNode& c = At(board_, "/soc/remoteproc@4080000");
  EXPECT_EQ(c.boot, BootMethod::kQdsp6Registers);
  EXPECT_THAT(c.firmware_names, ElementsAre("mba.mbn", "modem.mdt"));
  EXPECT_TRUE(c.firmware_names_default);
  EXPECT_FALSE(c.dtb_pas_id.has_value());
  ASSERT_THAT(c.carveouts, SizeIs(2));
  EXPECT_EQ(c.carveouts[0].base, 0x8ea00000u);
  EXPECT_EQ(c.carveouts[1].base, 0x86800000u);
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x461u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("MBA"));
  EXPECT_THAT(c.problems[0], HasSubstr("qcom_q6v5_mss"));
}

TEST_F(BootMethods, AdspPilKeepsItsNamedFirmware) {
  const CoprocessorNode& c = At(board_, "/soc/remoteproc@17300000");
  EXPECT_EQ(c.boot, BootMethod::kQdsp6Registers);
  EXPECT_THAT(c.firmware_names, ElementsAre("qcom/sdm845/adsp.mbn"));
  EXPECT_FALSE(c.firmware_names_default);
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("QDSP6SS registers (qcom_q6v5_adsp)"));
}

TEST(RealData, LazorVenusBootsWithoutTrustZone) {
  PILD_REQUIRE_REAL_DATA();
  Board board =
      LoadBoardFile(testing::RealDataPath("dtb/sc7180-trogdor-lazor-r3.dtb"));
  const CoprocessorNode& venus = At(board, "/soc@0/video-codec@aa00000");
  EXPECT_EQ(venus.name, "video");
  EXPECT_EQ(venus.boot, BootMethod::kVideoWrapper);
  ASSERT_TRUE(venus.firmware_stream.has_value());
  EXPECT_EQ(venus.firmware_stream->sid, 0xc42u);
  EXPECT_EQ(venus.firmware_stream->mask, 0u);
  EXPECT_EQ(venus.iommu_owner, IommuOwner::kLinux);
  ASSERT_THAT(venus.carveouts, SizeIs(1));
  EXPECT_EQ(venus.carveouts[0].base, 0x8f600000u);
  EXPECT_EQ(venus.carveouts[0].size, 0x500000u);
  EXPECT_THAT(venus.firmware_names, ElementsAre("qcom/venus-5.4/venus.mbn"));
  EXPECT_TRUE(venus.firmware_names_default);
  EXPECT_THAT(venus.problems, IsEmpty());

  const CoprocessorNode& mpss = At(board, "/soc@0/remoteproc@4080000");
  EXPECT_EQ(mpss.name, "mpss");
  EXPECT_EQ(mpss.boot, BootMethod::kQdsp6Registers);
  EXPECT_THAT(mpss.firmware_names,
              ElementsAre("qcom/sc7180-trogdor/modem-nolte/mba.mbn",
                          "qcom/sc7180-trogdor/modem-nolte/qdsp6sw.mbn"));
  EXPECT_THAT(mpss.carveouts, SizeIs(3));
  ASSERT_TRUE(mpss.firmware_stream.has_value());
  EXPECT_EQ(mpss.firmware_stream->sid, 0x461u);
  EXPECT_THAT(mpss.problems, SizeIs(1));
}

TEST(RealData, HerobrineListsWpssBootedWithoutPas) {
  PILD_REQUIRE_REAL_DATA();
  Board board =
      LoadBoardFile(testing::RealDataPath("dtb/sc7280-herobrine-crd.dtb"));
  const CoprocessorNode& wpss = At(board, "/soc@0/remoteproc@8a00000");
  EXPECT_EQ(wpss.name, "wpss");
  EXPECT_EQ(wpss.compatible, std::vector<std::string>{"qcom,sc7280-wpss-pil"});
  EXPECT_EQ(wpss.boot, BootMethod::kQdsp6Registers);
  ASSERT_THAT(wpss.carveouts, SizeIs(1));
  EXPECT_EQ(wpss.carveouts[0].base, 0x9ae00000u);
  EXPECT_EQ(wpss.carveouts[0].size, 0x1900000u);
  EXPECT_THAT(wpss.firmware_names,
              ElementsAre("ath11k/WCN6750/hw1.0/wpss.mdt"));
  EXPECT_FALSE(wpss.firmware_names_default);
  EXPECT_EQ(wpss.iommu_owner, IommuOwner::kHypervisor);
  ASSERT_THAT(wpss.problems, SizeIs(1));
  EXPECT_THAT(wpss.problems[0],
              HasSubstr("boots without PAS through its QDSP6SS registers "
                        "(qcom_q6v5_adsp)"));
}

TEST(RealData, Apq8016ModemTakesCarveoutsFromItsSubnodes) {
  PILD_REQUIRE_REAL_DATA();
  Board board = LoadBoardFile(testing::RealDataPath("dtb/apq8016-sbc.dtb"));
  const CoprocessorNode* mpss = nullptr;
  for (const CoprocessorNode& c : board.coprocessors) {
    if (c.name == "mpss") mpss = &c;
  }
  ASSERT_NE(mpss, nullptr);
  EXPECT_EQ(mpss->boot, BootMethod::kQdsp6Registers);
  EXPECT_THAT(mpss->firmware_names,
              ElementsAre("qcom/apq8016/mba.mbn", "qcom/apq8016/modem.mbn"));
  EXPECT_THAT(mpss->carveouts, SizeIs(2));
  ASSERT_THAT(mpss->problems, SizeIs(1));
  EXPECT_THAT(mpss->problems[0], HasSubstr("qcom_q6v5_mss"));
}

}  // namespace
}  // namespace pil::devicetree
