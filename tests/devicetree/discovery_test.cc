#include "platform/devicetree/discovery.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/devicetree/discovery_testing.h"
#include "tests/testing/realdata.h"

namespace pil::devicetree {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Board Load(const std::string& runfile) {
  return LoadBoardFile(testing::RunfilePath(runfile));
}

const CoprocessorNode* Find(const Board& board, const std::string& path) {
  for (const CoprocessorNode& c : board.coprocessors) {
    if (c.path == path) return &c;
  }
  ADD_FAILURE() << "no coprocessor at " << path;
  return nullptr;
}

TEST(BundledBoard, El2SimIrisMapsItsFirmwareFunction) {
  Board board = Load("platform/sim/boards/sm8550-el2-sim.dtb");
  EXPECT_EQ(board.model, "pild simulated SM8550 board, Linux at EL2");
  const CoprocessorNode* iris = Find(board, "/soc@0/video-codec@aa00000");
  ASSERT_NE(iris, nullptr);
  EXPECT_EQ(iris->name, "video");
  EXPECT_EQ(iris->kind, CoprocessorKind::kVideoCodec);
  EXPECT_EQ(iris->pas_id, 9u);
  ASSERT_TRUE(iris->firmware_stream.has_value());
  EXPECT_EQ(iris->firmware_stream->sid, 0x19e2u);
  EXPECT_EQ(iris->firmware_stream->mask, 0u);
  EXPECT_EQ(iris->iommu_owner, IommuOwner::kLinux);
  // The codec's own data streams are not the firmware stream.
  ASSERT_THAT(iris->iommus, SizeIs(2));
  EXPECT_EQ(iris->iommus[0].sid, 0x1940u);
  EXPECT_EQ(iris->iommus[1].sid, 0x1947u);
  ASSERT_THAT(iris->iommu_map, SizeIs(1));
  EXPECT_EQ(iris->iommu_map[0].function_id, 0u);
  EXPECT_EQ(iris->iommu_map[0].sid_base, 0x19e2u);
  EXPECT_EQ(iris->iommu_map[0].length, 1u);
  EXPECT_EQ(iris->iommu_map[0].smmu_path, "/soc@0/iommu@15000000");
  EXPECT_THAT(iris->firmware_names, ElementsAre("qcom/vpu/vpu30_p4.mbn"));
  EXPECT_TRUE(iris->firmware_names_default);
  ASSERT_THAT(iris->carveouts, SizeIs(1));
  EXPECT_EQ(iris->carveouts[0].base, 0x9bb00000u);
  EXPECT_EQ(iris->carveouts[0].size, 0x700000u);
  EXPECT_THAT(iris->problems, IsEmpty());
}

TEST(BundledBoard, El2SimRemoteprocsCarryIommus) {
  Board board = Load("platform/sim/boards/sm8550-el2-sim.dtb");
  const CoprocessorNode* adsp = Find(board, "/soc@0/remoteproc@6800000");
  ASSERT_NE(adsp, nullptr);
  EXPECT_EQ(adsp->name, "adsp");
  EXPECT_EQ(adsp->pas_id, 1u);
  EXPECT_EQ(adsp->dtb_pas_id, 36u);
  ASSERT_TRUE(adsp->firmware_stream.has_value());
  EXPECT_EQ(adsp->firmware_stream->sid, 0x1000u);
  EXPECT_EQ(adsp->firmware_stream->mask, 0x80u);
  EXPECT_EQ(adsp->iommu_owner, IommuOwner::kLinux);
  ASSERT_THAT(adsp->carveouts, SizeIs(2));
  EXPECT_EQ(adsp->carveouts[0].base, 0x9ea00000u);
  EXPECT_EQ(adsp->carveouts[0].size, 0x4080000u);
  EXPECT_EQ(adsp->carveouts[1].base, 0x9e980000u);

  const CoprocessorNode* mpss = Find(board, "/soc@0/remoteproc@4080000");
  ASSERT_NE(mpss, nullptr);
  EXPECT_EQ(mpss->status, "disabled");
  EXPECT_FALSE(mpss->enabled());
}

TEST(BundledBoard, HypervisorSimHasNoFirmwareStreams) {
  Board board = Load("platform/sim/boards/sm8550-hyp-sim.dtb");
  ASSERT_THAT(board.coprocessors, SizeIs(4));
  for (const CoprocessorNode& c : board.coprocessors) {
    EXPECT_EQ(c.iommu_owner, IommuOwner::kHypervisor) << c.path;
    EXPECT_FALSE(c.firmware_stream.has_value()) << c.path;
    EXPECT_THAT(c.problems, IsEmpty()) << c.path;
  }
}

class EdgeCases : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = Load("tests/devicetree/testdata/edge-cases.dtb");
  }
  const CoprocessorNode& At(const std::string& path) {
    const CoprocessorNode* node = Find(board_, path);
    if (node == nullptr) std::abort();
    return *node;
  }
  Board board_;
};

TEST_F(EdgeCases, EveryFirmwareLoadedNodeIsDiscovered) {
  std::vector<std::string> paths;
  for (const auto& c : board_.coprocessors) paths.push_back(c.path);
  EXPECT_THAT(
      paths, ElementsAre("/remoteproc-one-cell", "/remoteproc-fallback",
                         "/remoteproc-half-named", "/remoteproc-dynamic",
                         "/remoteproc-dangling", "/remoteproc-bad-iommu",
                         "/remoteproc-truncated-iommus", "/remoteproc-unknown",
                         "/remoteproc-adsp-pil", "/remoteproc-no-tz-adsp",
                         "/remoteproc-mss", "/pronto", "/video-codec@1",
                         "/video-codec@2", "/video-codec@3", "/video-codec@4"));
}

TEST_F(EdgeCases, NamesAreUnique) {
  std::vector<std::string> names;
  for (const auto& c : board_.coprocessors) names.push_back(c.name);
  EXPECT_THAT(names,
              ElementsAre("adsp", "cdsp", "mpss", "slpi", "cdsp1", "cdsp2",
                          "adsp1", "foo", "adsp2", "adsp3", "mpss1", "wcnss",
                          "video", "video1", "video2", "video3"));
}

TEST_F(EdgeCases, OneCellAddressesAndOneCellIommu) {
  const CoprocessorNode& c = At("/remoteproc-one-cell");
  ASSERT_THAT(c.carveouts, SizeIs(1));
  EXPECT_EQ(c.carveouts[0].base, 0x80000000u);
  EXPECT_EQ(c.carveouts[0].size, 0x100000u);
  EXPECT_EQ(c.carveouts[0].node_path, "/reserved-memory/one-cell@80000000");
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x123u);
  EXPECT_EQ(c.firmware_stream->mask, 0u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  EXPECT_FALSE(c.dtb_pas_id.has_value());
  EXPECT_THAT(c.problems, IsEmpty());
}

TEST_F(EdgeCases, FallbackCompatibleGivesDriverDefaults) {
  const CoprocessorNode& c = At("/remoteproc-fallback");
  EXPECT_THAT(c.firmware_names, ElementsAre("cdsp.mdt", "cdsp_dtb.mdt"));
  EXPECT_TRUE(c.firmware_names_default);
  EXPECT_EQ(c.pas_id, 18u);
  EXPECT_EQ(c.dtb_pas_id, 37u);
  EXPECT_EQ(c.soc, "sm8750");
  EXPECT_THAT(c.carveouts, SizeIs(2));
}

TEST_F(EdgeCases, MissingDtbNameComesFromTheDriver) {
  const CoprocessorNode& c = At("/remoteproc-half-named");
  EXPECT_THAT(c.firmware_names,
              ElementsAre("qcom/test/modem.mbn", "modem_dtb.mdt"));
  EXPECT_FALSE(c.firmware_names_default);
  EXPECT_EQ(c.dtb_pas_id, 38u);
}

// No alloc-ranges and no memory node: nowhere known to place it
// (reserved_memory_test.cc has the regions that are placed).
TEST_F(EdgeCases, UnplaceableDynamicCarveoutIsAProblem) {
  const CoprocessorNode& c = At("/remoteproc-dynamic");
  EXPECT_THAT(c.carveouts, IsEmpty());
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("/reserved-memory/dynamic"));
  EXPECT_THAT(c.problems[0], HasSubstr("cannot be placed"));
  EXPECT_THAT(c.problems[0], HasSubstr("neither alloc-ranges nor a memory"));
}

TEST_F(EdgeCases, DanglingPhandleIsAProblem) {
  const CoprocessorNode& c = At("/remoteproc-dangling");
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("phandle 0xdead"));
}

TEST_F(EdgeCases, IommuWithoutCellsIsAProblemButStillLinuxOwned) {
  const CoprocessorNode& c = At("/remoteproc-bad-iommu");
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("/bus@3000"));
  EXPECT_THAT(c.problems[0], HasSubstr("#iommu-cells"));
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  EXPECT_FALSE(c.firmware_stream.has_value());
}

TEST_F(EdgeCases, TruncatedIommusIsAProblem) {
  const CoprocessorNode& c = At("/remoteproc-truncated-iommus");
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0],
              HasSubstr("needs 2 cells after the phandle, 1 remain"));
}

TEST_F(EdgeCases, UnknownSubsystemHasNoPasId) {
  const CoprocessorNode& c = At("/remoteproc-unknown");
  EXPECT_FALSE(c.pas_id.has_value());
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("'foo'"));
}

TEST_F(EdgeCases, OlderPilNodesAndWcnss) {
  const CoprocessorNode& adsp = At("/remoteproc-adsp-pil");
  EXPECT_EQ(adsp.pas_id, 1u);
  EXPECT_EQ(adsp.status, "disabled");
  EXPECT_THAT(adsp.firmware_names, ElementsAre("adsp.mdt"));
  const CoprocessorNode& wcnss = At("/pronto");
  EXPECT_EQ(wcnss.name, "wcnss");
  EXPECT_EQ(wcnss.pas_id, 6u);
  EXPECT_EQ(wcnss.soc, "");
  EXPECT_THAT(wcnss.firmware_names, ElementsAre("wcnss.mdt"));
}

TEST_F(EdgeCases, CodecWithoutFirmwareFunctionIsHypervisorOwned) {
  const CoprocessorNode& c = At("/video-codec@1");
  EXPECT_FALSE(c.firmware_stream.has_value());
  EXPECT_EQ(c.iommu_owner, IommuOwner::kHypervisor);
  ASSERT_THAT(c.iommu_map, SizeIs(1));
  EXPECT_EQ(c.iommu_map[0].function_id, 1u);
}

TEST_F(EdgeCases, CodecFirmwareFunctionInsideARangeTakesTheSmmuMask) {
  const CoprocessorNode& c = At("/video-codec@2");
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0x2a0u);
  EXPECT_EQ(c.firmware_stream->mask, 0x7c00u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  EXPECT_THAT(c.firmware_names, ElementsAre("qcom/vpu/vpu33_p4.mbn"));
}

TEST_F(EdgeCases, VenusWithoutTrustZoneUsesItsVideoFirmwareStream) {
  const CoprocessorNode& c = At("/video-codec@3");
  EXPECT_EQ(c.boot, BootMethod::kVideoWrapper);
  ASSERT_TRUE(c.firmware_stream.has_value());
  EXPECT_EQ(c.firmware_stream->sid, 0xc42u);
  EXPECT_EQ(c.iommu_owner, IommuOwner::kLinux);
  EXPECT_THAT(c.problems, IsEmpty());
}

// Booted without PAS, and here without carveouts: both are problems.
TEST_F(EdgeCases, PilNodesBootedWithoutPasNameWhatIsMissing) {
  const CoprocessorNode& adsp = At("/remoteproc-no-tz-adsp");
  EXPECT_EQ(adsp.boot, BootMethod::kQdsp6Registers);
  EXPECT_THAT(adsp.firmware_names, ElementsAre("adsp.mdt"));
  EXPECT_THAT(adsp.problems, ElementsAre(HasSubstr("(qcom_q6v5_adsp)"),
                                         HasSubstr("no memory-region")));
  const CoprocessorNode& mss = At("/remoteproc-mss");
  EXPECT_EQ(mss.boot, BootMethod::kQdsp6Registers);
  EXPECT_EQ(mss.pas_id, 4u);
  EXPECT_THAT(mss.firmware_names, ElementsAre("mba.mbn", "modem.mdt"));
  EXPECT_THAT(mss.problems, ElementsAre(HasSubstr("(qcom_q6v5_mss)"),
                                        HasSubstr("no memory-region")));
}

TEST_F(EdgeCases, MalformedIommuMapIsAProblem) {
  const CoprocessorNode& c = At("/video-codec@4");
  ASSERT_THAT(c.problems, SizeIs(1));
  EXPECT_THAT(c.problems[0], HasSubstr("3 cells"));
  EXPECT_EQ(c.iommu_owner, IommuOwner::kHypervisor);
}

TEST(Malformed, TooShortForAHeader) {
  for (size_t size : {0, 1, 39}) {
    auto board = Discover(std::string(size, '\0'));
    ASSERT_FALSE(board.ok());
    EXPECT_EQ(board.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(board.status()), "DTB_MALFORMED");
    EXPECT_THAT(std::string(board.status().message()),
                HasSubstr("expected at least 40 bytes"));
  }
}

TEST(Malformed, BadMagicNamesBothValues) {
  std::string blob(64, '\0');
  blob[0] = 'E';
  blob[1] = 'L';
  auto board = Discover(blob);
  ASSERT_FALSE(board.ok());
  EXPECT_THAT(std::string(board.status().message()),
              HasSubstr("expected magic 0xd00dfeed, found 0x454c0000"));
}

TEST(Malformed, EveryTruncationIsAnErrorNeverACrash) {
  auto bytes =
      ReadFile(testing::RunfilePath("platform/sim/boards/sm8550-el2-sim.dtb"));
  ASSERT_TRUE(bytes.ok());
  for (size_t size = 0; size < bytes->size(); ++size) {
    auto board = Discover(absl::string_view(*bytes).substr(0, size));
    ASSERT_FALSE(board.ok()) << "truncated to " << size;
    EXPECT_EQ(ReasonOf(board.status()), "DTB_MALFORMED");
  }
}

TEST(Malformed, EveryByteFlipIsHandled) {
  auto bytes =
      ReadFile(testing::RunfilePath("platform/sim/boards/sm8550-el2-sim.dtb"));
  ASSERT_TRUE(bytes.ok());
  int rejected = 0;
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::string mutated = *bytes;
    mutated[i] = static_cast<char>(mutated[i] ^ 0xff);
    auto board = Discover(mutated);
    if (!board.ok()) {
      ++rejected;
      EXPECT_EQ(ReasonOf(board.status()), "DTB_MALFORMED");
    }
  }
  // Header and structure bytes are checked; property payloads are not.
  EXPECT_GT(rejected, 40);
}

// An old layout (version 14 here) is refused before libfdt's full check,
// which crashed on it (tests/fuzz/corpus/devicetree keeps the input).
TEST(Malformed, VersionsBefore17AreRefused) {
  auto bytes =
      ReadFile(testing::RunfilePath("platform/sim/boards/sm8550-el2-sim.dtb"));
  ASSERT_TRUE(bytes.ok());
  for (char version : {'\x02', '\x0e', '\x10'}) {
    std::string blob = *bytes;
    blob[0x17] = version;  // version, big-endian low byte
    blob[0x1b] = 0;        // last_comp_version
    auto board = Discover(blob);
    ASSERT_FALSE(board.ok()) << static_cast<int>(version);
    EXPECT_EQ(ReasonOf(board.status()), "DTB_MALFORMED");
    EXPECT_THAT(
        board.status().message(),
        HasSubstr(absl::StrCat("found version ", static_cast<int>(version))));
  }
}

TEST(Malformed, HeaderClaimsMoreBytesThanGiven) {
  auto bytes =
      ReadFile(testing::RunfilePath("platform/sim/boards/sm8550-el2-sim.dtb"));
  ASSERT_TRUE(bytes.ok());
  std::string blob = *bytes;
  blob[4] = 0x7f;  // totalsize high byte
  auto board = Discover(blob);
  ASSERT_FALSE(board.ok());
  EXPECT_THAT(std::string(board.status().message()), HasSubstr("truncated"));
}

TEST(RealData, X1e80100El2AdspIsLinuxOwned) {
  PILD_REQUIRE_REAL_DATA();
  auto bytes = ReadFile(testing::RealDataPath("dtb/x1e80100-crd-el2.dtb"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto board = Discover(*bytes);
  ASSERT_TRUE(board.ok()) << board.status();
  const CoprocessorNode* adsp = Find(*board, "/soc@0/remoteproc@6800000");
  ASSERT_NE(adsp, nullptr);
  ASSERT_TRUE(adsp->firmware_stream.has_value());
  EXPECT_EQ(adsp->firmware_stream->sid, 0x1000u);
  EXPECT_EQ(adsp->firmware_stream->mask, 0x80u);
  EXPECT_EQ(adsp->iommu_owner, IommuOwner::kLinux);
}

TEST(RealData, X1e80100WithoutEl2IsHypervisorOwned) {
  PILD_REQUIRE_REAL_DATA();
  auto bytes = ReadFile(testing::RealDataPath("dtb/x1e80100-crd.dtb"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto board = Discover(*bytes);
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_THAT(board->coprocessors, SizeIs(3));
  for (const CoprocessorNode& c : board->coprocessors) {
    EXPECT_EQ(c.iommu_owner, IommuOwner::kHypervisor) << c.path;
    EXPECT_THAT(c.problems, IsEmpty()) << c.path;
  }
}

// Nodes booted through QDSP6SS registers always carry a problem (pild does
// not model that boot); everything else must have none.
TEST(RealData, EveryRealTreeDiscoversWithoutProblems) {
  PILD_REQUIRE_REAL_DATA();
  for (const char* name : {"qrb5165-rb5", "sdm845-db845c", "sm8550-qrd",
                           "x1e80100-crd", "x1e80100-crd-el2"}) {
    auto bytes =
        ReadFile(testing::RealDataPath(absl::StrCat("dtb/", name, ".dtb")));
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto board = Discover(*bytes);
    ASSERT_TRUE(board.ok()) << name << ": " << board.status();
    EXPECT_THAT(board->coprocessors, ::testing::Not(IsEmpty())) << name;
    for (const CoprocessorNode& c : board->coprocessors) {
      EXPECT_THAT(c.problems,
                  SizeIs(c.boot == BootMethod::kQdsp6Registers ? 1 : 0))
          << name << " " << c.path;
      EXPECT_THAT(c.carveouts, ::testing::Not(IsEmpty()))
          << name << " " << c.path;
    }
  }
}

}  // namespace
}  // namespace pil::devicetree
