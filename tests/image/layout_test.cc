#include "platform/image/layout.h"

#include <vector>

#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::image {
namespace {

using ::testing::HasSubstr;

ProgramHeader Load(uint64_t paddr, uint64_t memsz, bool relocatable) {
  ProgramHeader p;
  p.type = kPtLoad;
  p.flags = 0x5 | (relocatable ? kSegmentRelocatable : 0);
  p.paddr = paddr;
  p.memsz = memsz;
  return p;
}

ProgramHeader WithData(ProgramHeader p, uint64_t filesz) {
  p.filesz = filesz;
  return p;
}

std::vector<ProgramHeader> Phdrs(std::vector<ProgramHeader> loads) {
  ProgramHeader placeholder;
  placeholder.flags = kSegmentTypePhdr;
  ProgramHeader hash;
  hash.flags = kSegmentTypeHash;
  hash.type = kPtLoad;  // a PT_LOAD hash segment is still not loadable
  hash.memsz = 0x2000;
  std::vector<ProgramHeader> all = {placeholder, hash};
  all.insert(all.end(), loads.begin(), loads.end());
  return all;
}

TEST(ComputeLayout, SpanIsPageAligned) {
  auto layout = ComputeLayout(
      Phdrs({Load(0x1000, 0x10, true), Load(0x5000, 0x1001, true)}));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->loadable, (std::vector<size_t>{2, 3}));
  EXPECT_TRUE(layout->relocatable);
  EXPECT_FALSE(layout->partially_relocatable);
  EXPECT_EQ(layout->min_address, 0x1000u);
  EXPECT_EQ(layout->max_address, 0x7000u);
  EXPECT_EQ(layout->span(), 0x6000u);
}

TEST(ComputeLayout, EmptyAndZeroSizedSegmentsAreSkipped) {
  ProgramHeader note = Load(0x0, 0x100, false);
  note.type = 4;
  auto layout = ComputeLayout(
      Phdrs({Load(0x2000, 0, false), note, Load(0x3000, 0x10, false)}));
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->loadable, (std::vector<size_t>{4}));
  EXPECT_FALSE(layout->relocatable);
}

TEST(ComputeLayout, PartiallyRelocatable) {
  auto layout = ComputeLayout(
      Phdrs({Load(0x1000, 0x10, true), Load(0x2000, 0x10, false)}));
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE(layout->relocatable);
  EXPECT_TRUE(layout->partially_relocatable);
}

TEST(ComputeLayout, NoLoadableSegments) {
  EXPECT_EQ(ReasonOf(ComputeLayout(Phdrs({})).status()),
            "NO_LOADABLE_SEGMENTS");
}

TEST(ComputeLayout, AddressesDoNotWrap) {
  absl::Status s =
      ComputeLayout(Phdrs({Load(0xfffffffffffff000ull, 0x2000, false)}))
          .status();
  EXPECT_EQ(ReasonOf(s), "SEGMENT_ADDRESS_OVERFLOW");
  EXPECT_EQ(MetadataOf(s).at("segment"), "2");
  // Wraps only once aligned up to the next page.
  EXPECT_EQ(
      ReasonOf(ComputeLayout(Phdrs({Load(0xffffffffffffff00ull, 0x80, false)}))
                   .status()),
      "SEGMENT_ADDRESS_OVERFLOW");
}

// Segments are copied in parallel: overlapping ones would race. Both are
// named, lowest index first, whatever their order in the table.
TEST(ComputeLayout, OverlappingSegmentsAreRefusedNamingBoth) {
  auto layout = ComputeLayout(Phdrs(
      {WithData(Load(0x10000, 0x3000, false), 1), Load(0x20000, 0x1000, false),
       WithData(Load(0x12000, 0x1000, false), 1)}));
  EXPECT_EQ(ReasonOf(layout.status()), "SEGMENTS_OVERLAP");
  EXPECT_THAT(layout.status().message(), HasSubstr("segments 2 and 4"));
  EXPECT_EQ(MetadataOf(layout.status())["segment"], "2");
  EXPECT_EQ(MetadataOf(layout.status())["other_segment"], "4");
  // Touching is not overlapping; equal starts are.
  EXPECT_TRUE(ComputeLayout(Phdrs({WithData(Load(0x10000, 0x1000, false), 8),
                                   WithData(Load(0x11000, 0x1000, false), 8)}))
                  .ok());
  EXPECT_EQ(
      ReasonOf(ComputeLayout(Phdrs({WithData(Load(0x10000, 0x1000, false), 8),
                                    WithData(Load(0x10000, 0x10, false), 8)}))
                   .status()),
      "SEGMENTS_OVERLAP");
}

// A segment without file data inside another's zero-filled tail is zero
// whatever the order (WCNSS's segments 7 and 8 start at the same address):
// subsumed, not placed. Reaching into file data, or past the tail, is not.
TEST(ComputeLayout, BssInsideAnotherZeroTailIsSubsumed) {
  auto layout = ComputeLayout(
      Phdrs({Load(0x8bae3400, 0x37cf8, true), Load(0x8bae3400, 0x21c44, true),
             WithData(Load(0x8bb20000, 0x1b0, true), 0x34)}));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->loadable, (std::vector<size_t>{2, 4}));
  EXPECT_EQ(layout->subsumed, (std::vector<size_t>{3}));
  // The smaller one first in the table: the same.
  layout = ComputeLayout(Phdrs(
      {Load(0x8bae3400, 0x21c44, true), Load(0x8bae3400, 0x37cf8, true)}));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->loadable, (std::vector<size_t>{3}));
  EXPECT_EQ(layout->subsumed, (std::vector<size_t>{2}));
  // Inside file data of the other: refused.
  EXPECT_EQ(ReasonOf(ComputeLayout(
                         Phdrs({WithData(Load(0x10000, 0x3000, false), 0x2000),
                                Load(0x11000, 0x100, false)}))
                         .status()),
            "SEGMENTS_OVERLAP");
  // Past the end of the tail: refused.
  EXPECT_EQ(ReasonOf(ComputeLayout(Phdrs({Load(0x10000, 0x3000, false),
                                          Load(0x12000, 0x2000, false)}))
                         .status()),
            "SEGMENTS_OVERLAP");
}

TEST(CheckFitsCarveout, FixedImageMustSitInside) {
  auto phdrs = Phdrs(
      {Load(0x9c900000, 0x10000, false), Load(0x9c910000, 0x10000, false)});
  auto layout = ComputeLayout(phdrs);
  EXPECT_TRUE(CheckFitsCarveout(*layout, phdrs, 0x9c900000, 0x20000).ok());
  absl::Status s = CheckFitsCarveout(*layout, phdrs, 0x9c900000, 0x1f000);
  EXPECT_EQ(ReasonOf(s), "IMAGE_TOO_LARGE");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("needs reserved memory 0x9c900000..0x9c920000"));
  s = CheckFitsCarveout(*layout, phdrs, 0x9c908000, 0x100000);
  EXPECT_EQ(ReasonOf(s), "SEGMENT_OUTSIDE_CARVEOUT");
  EXPECT_EQ(MetadataOf(s).at("segment"), "2");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("segment 2 [0x9c900000, +0x10000) lies outside the "
                        "carveout [0x9c908000, +0x100000)"));
}

TEST(CheckFitsCarveout, RelocatableImageGoesAnywhereItFits) {
  auto phdrs =
      Phdrs({Load(0xf500000, 0x100000, true), Load(0xf600000, 0x80000, true)});
  auto layout = ComputeLayout(phdrs);
  EXPECT_EQ(RelocationBase(*layout, 0x9bb00000), 0xf500000u);
  EXPECT_TRUE(CheckFitsCarveout(*layout, phdrs, 0x9bb00000, 0x180000).ok());
  EXPECT_EQ(ReasonOf(CheckFitsCarveout(*layout, phdrs, 0x9bb00000, 0x17f000)),
            "IMAGE_TOO_LARGE");
}

}  // namespace
}  // namespace pil::image
