#include "platform/devicetree/reserved_memory.h"

#include <string>

#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "tests/testing/realdata.h"

namespace pil::devicetree {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class ReservedMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bytes = ReadFile(
        testing::RunfilePath("tests/devicetree/testdata/reserved-memory.dtb"));
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    bytes_ = *bytes;
    auto fdt = Fdt::Parse(bytes_);
    ASSERT_TRUE(fdt.ok()) << fdt.status();
    memory_ = PlaceReservedMemory(*fdt);
  }
  ReservedRegion At(const std::string& name) {
    auto it = memory_.placed.find("/reserved-memory/" + name);
    if (it == memory_.placed.end()) {
      ADD_FAILURE() << name << " was not placed";
      return {};
    }
    return it->second;
  }
  std::string Why(const std::string& name) {
    auto it = memory_.unplaced.find("/reserved-memory/" + name);
    return it == memory_.unplaced.end() ? "" : it->second;
  }
  std::string bytes_;
  ReservedMemory memory_;
};

TEST_F(ReservedMemoryTest, StaticRegionsAreWhereRegSays) {
  ReservedRegion r = At("fixed@84000000");
  EXPECT_EQ(r.base, 0x84000000u);
  EXPECT_EQ(r.size, 0x100000u);
  EXPECT_FALSE(r.dynamic);
}

TEST_F(ReservedMemoryTest, TopDownBelowAStaticRegion) {
  ReservedRegion r = At("top");
  EXPECT_EQ(r.base, 0x83e00000u);
  EXPECT_EQ(r.size, 0x200000u);
  EXPECT_TRUE(r.dynamic);
}

TEST_F(ReservedMemoryTest, BottomUpWhenTheRangeStartsInAPlacedRegion) {
  EXPECT_EQ(At("contiguous").base, 0x84100000u);
}

TEST_F(ReservedMemoryTest, DefaultAlignmentIsACacheLine) {
  EXPECT_EQ(At("small").base, 0x82000100u);
}

TEST_F(ReservedMemoryTest, NextRangeWhenTheFirstIsFull) {
  EXPECT_EQ(At("second-range").base, 0x88700000u);
}

TEST_F(ReservedMemoryTest, WithoutRangesTheTopOfMemory) {
  EXPECT_EQ(At("anywhere").base, 0x8ff00000u);
}

TEST_F(ReservedMemoryTest, ReusableDmaPoolsAlignToTwoMegabytes) {
  EXPECT_EQ(At("cma").base, 0x8a600000u);
}

TEST_F(ReservedMemoryTest, DisabledRegionsAreNotReserved) {
  EXPECT_EQ(memory_.placed.count("/reserved-memory/disabled"), 0u);
  EXPECT_EQ(memory_.unplaced.count("/reserved-memory/disabled"), 0u);
}

TEST_F(ReservedMemoryTest, NoRoomNamesWhatDidNotFit) {
  EXPECT_THAT(
      Why("full"),
      AllOf(HasSubstr("needs 0x200000 bytes aligned to 0x40"),
            HasSubstr("[0x84000000, 0x84100000)"), HasSubstr("no room")));
}

TEST_F(ReservedMemoryTest, MalformedRangesAndAlignmentsAreRefused) {
  EXPECT_THAT(Why("bad-ranges"), HasSubstr("alloc-ranges has 3 cells"));
  EXPECT_THAT(Why("bad-alignment"), HasSubstr("power of two"));
}

TEST_F(ReservedMemoryTest, PlacementIsTheSameEveryTime) {
  auto fdt = Fdt::Parse(bytes_);
  ASSERT_TRUE(fdt.ok());
  ReservedMemory again = PlaceReservedMemory(*fdt);
  ASSERT_EQ(again.placed.size(), memory_.placed.size());
  for (const auto& [path, region] : memory_.placed) {
    EXPECT_EQ(again.placed[path].base, region.base) << path;
  }
}

TEST_F(ReservedMemoryTest, DiscoveryUsesThePlacementAndNamesAFailure) {
  auto board = Discover(bytes_);
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_THAT(board->coprocessors, SizeIs(2));
  const CoprocessorNode& placed = board->coprocessors[0];
  EXPECT_THAT(placed.problems, IsEmpty());
  ASSERT_THAT(placed.carveouts, SizeIs(1));
  EXPECT_EQ(placed.carveouts[0].base, 0x83e00000u);
  EXPECT_EQ(placed.carveouts[0].size, 0x200000u);
  EXPECT_TRUE(placed.carveouts[0].dynamic);
  const CoprocessorNode& full = board->coprocessors[1];
  EXPECT_THAT(full.carveouts, IsEmpty());
  ASSERT_THAT(full.problems, SizeIs(1));
  EXPECT_THAT(full.problems[0],
              AllOf(HasSubstr("/reserved-memory/full"),
                    HasSubstr("cannot be placed"), HasSubstr("no room")));
}

// DragonBoard 410c: the venus, wcnss and mba regions are placed at boot in
// 0x86800000 + 128 MiB, top-down from its end, in device-tree order.
TEST(RealData, Apq8016SbcPlacesVenusAndWcnssAsLinuxDoes) {
  PILD_REQUIRE_REAL_DATA();
  auto bytes = ReadFile(testing::RealDataPath("dtb/apq8016-sbc.dtb"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto fdt = Fdt::Parse(*bytes);
  ASSERT_TRUE(fdt.ok()) << fdt.status();
  ReservedMemory memory = PlaceReservedMemory(*fdt);
  EXPECT_THAT(memory.unplaced, IsEmpty());
  const auto& wcnss = memory.placed["/reserved-memory/wcnss"];
  const auto& venus = memory.placed["/reserved-memory/venus"];
  const auto& mba = memory.placed["/reserved-memory/mba"];
  EXPECT_EQ(wcnss.base, 0x8e200000u);
  EXPECT_EQ(wcnss.size, 0x600000u);
  EXPECT_EQ(venus.base, 0x8dd00000u);
  EXPECT_EQ(venus.size, 0x500000u);
  EXPECT_EQ(mba.base, 0x8dc00000u);
  EXPECT_TRUE(wcnss.dynamic && venus.dynamic && mba.dynamic);
  EXPECT_FALSE(memory.placed["/reserved-memory/mpss@86800000"].dynamic);

  auto board = Discover(*fdt);
  for (const CoprocessorNode& c : board.coprocessors) {
    if (c.name == "mpss") {
      // Booted without PAS (one problem says so); mba/ and mpss/ regions.
      EXPECT_EQ(c.boot, BootMethod::kQdsp6Registers);
      EXPECT_THAT(c.problems, SizeIs(1));
      ASSERT_THAT(c.carveouts, SizeIs(2));
      EXPECT_EQ(c.carveouts[0].base, 0x8dc00000u);
      EXPECT_TRUE(c.carveouts[0].dynamic);
      EXPECT_EQ(c.carveouts[1].base, 0x86800000u);
      EXPECT_FALSE(c.carveouts[1].dynamic);
      continue;
    }
    EXPECT_THAT(c.problems, IsEmpty()) << c.name;
    ASSERT_THAT(c.carveouts, SizeIs(1)) << c.name;
    EXPECT_TRUE(c.carveouts[0].dynamic) << c.name;
    EXPECT_EQ(c.carveouts[0].base,
              c.name == "wcnss" ? 0x8e200000u : 0x8dd00000u)
        << c.name;
  }
}

}  // namespace
}  // namespace pil::devicetree
