#include "platform/sim/smmu.h"

#include "common/error.h"
#include "gtest/gtest.h"
#include "platform/pas/smmu_rules.h"

namespace pil::sim {
namespace {

using pas::SmrsOverlap;
using platform::FaultKind;
using platform::kIommuNoExec;
using platform::kIommuPriv;
using platform::kIommuRead;
using platform::kIommuWrite;

TEST(Smrs, Overlap) {
  EXPECT_TRUE(SmrsOverlap(0x1000, 0x80, 0x1080, 0));
  EXPECT_FALSE(SmrsOverlap(0x1000, 0x80, 0x1003, 0x80));
  EXPECT_TRUE(SmrsOverlap(0x21c0, 0x400, 0x25c0, 0));
  EXPECT_FALSE(SmrsOverlap(0x21c0, 0x400, 0x21c1, 0));
}

TEST(SmmuModel, PartlyOverlappingEntriesConflict) {
  SmmuModel smmu;
  ASSERT_TRUE(smmu.Attach(0x1000, 0x80, SmmuModel::Owner::kOs).ok());
  absl::StatusOr<uint32_t> second =
      smmu.Attach(0x1080, 0, SmmuModel::Owner::kOs);
  EXPECT_EQ(ReasonOf(second.status()), "SMR_CONFLICT");
  EXPECT_TRUE(smmu.Attach(0x1003, 0x80, SmmuModel::Owner::kOs).ok());
}

TEST(SmmuModel, MapUnmapAndExists) {
  SmmuModel smmu;
  uint32_t cb = *smmu.Attach(0x19e2, 0, SmmuModel::Owner::kOs);
  EXPECT_EQ(ReasonOf(smmu.Map(cb, 0x100, 0x9bb00000, 0x1000, kIommuRead)),
            "MISALIGNED");
  EXPECT_EQ(ReasonOf(smmu.Map(cb, 0, 0x9bb00000, 0x1800, kIommuRead)),
            "MISALIGNED");
  ASSERT_TRUE(smmu.Map(cb, 0, 0x9bb00000, 0x4000, kIommuRead).ok());
  absl::Status again = smmu.Map(cb, 0x3000, 0x1000000, 0x2000, kIommuRead);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReasonOf(again), "MAPPING_EXISTS");
  ASSERT_TRUE(smmu.Map(cb, 0x4000, 0x1000000, 0x2000, kIommuRead).ok());
  // Unmapping reports what was mapped, splitting mappings as needed.
  EXPECT_EQ(*smmu.Unmap(cb, 0x1000, 0x2000), 0x2000u);
  EXPECT_EQ(*smmu.Unmap(cb, 0, 0x10000), 0x1000u + 0x1000u + 0x2000u);
  EXPECT_EQ(*smmu.Unmap(cb, 0, 0x10000), 0u);
  EXPECT_TRUE(smmu.Mappings().empty());
}

TEST(SmmuModel, TranslationAndPermissionFaults) {
  SmmuModel smmu;
  uint32_t cb = *smmu.Attach(0x1000, 0x80, SmmuModel::Owner::kOs);
  ASSERT_TRUE(
      smmu.Map(cb, 0x80000000, 0x80000000, 0x2000, kIommuRead | kIommuNoExec)
          .ok());
  ASSERT_TRUE(
      smmu.Map(cb, 0x90000000, 0x90000000, 0x1000, kIommuRead | kIommuPriv)
          .ok());
  SmmuModel::Access a;
  a.sid = 0x1080;  // matched through the mask
  a.iova = 0x80001234;
  SmmuModel::Result r = smmu.Translate(a, "x");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.pa, 0x80001234u);
  a.write = true;
  EXPECT_EQ(smmu.Translate(a, "x").fault, FaultKind::kPermission);
  a.write = false;
  a.exec = true;
  EXPECT_EQ(smmu.Translate(a, "x").fault, FaultKind::kPermission);
  a.exec = false;
  a.iova = 0x90000000;
  EXPECT_EQ(smmu.Translate(a, "x").fault,
            FaultKind::kPermission);  // unprivileged
  a.privileged = true;
  EXPECT_TRUE(smmu.Translate(a, "x").ok);
  a.iova = 0x80002000;
  EXPECT_EQ(smmu.Translate(a, "x").fault, FaultKind::kTranslation);
  a.sid = 0x2000;
  EXPECT_EQ(smmu.Translate(a, "x").fault, FaultKind::kUnmatchedStream);
  ASSERT_EQ(smmu.faults().size(), 5u);
  EXPECT_EQ(smmu.faults()[0].fault.kind, FaultKind::kPermission);
  EXPECT_EQ(smmu.faults()[0].fault.access, platform::AccessType::kWrite);
  EXPECT_EQ(smmu.faults()[1].fault.access, platform::AccessType::kExecute);
  EXPECT_EQ(smmu.faults()[4].fault.sid, 0x2000u);
}

TEST(SmmuModel, DetachRemovesTranslations) {
  SmmuModel smmu;
  uint32_t cb = *smmu.Attach(0x10, 0, SmmuModel::Owner::kOs);
  ASSERT_TRUE(smmu.Map(cb, 0, 0, 0x1000, kIommuRead).ok());
  ASSERT_TRUE(smmu.Detach(cb).ok());
  EXPECT_TRUE(smmu.Mappings().empty());
  EXPECT_FALSE(smmu.Routes(0x10));
  EXPECT_EQ(ReasonOf(smmu.Detach(cb)), "NO_SUCH_DOMAIN");
}

}  // namespace
}  // namespace pil::sim
