// Claims: what the PAS tier holds is given back newest first, and what
// cannot be given back stays with what it depends on.
#include "platform/pas/claims.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::pas {
namespace {

using ::testing::ElementsAre;

// Steps that run every step and record its name.
class RecordedSteps : public platform::Steps {
 public:
  absl::Status Step(absl::string_view name,
                    const std::function<absl::Status(std::string*)>& fn,
                    bool) override {
    std::string detail;
    absl::Status status = fn(&detail);
    names.push_back(absl::StrCat(name, status.ok() ? "" : " FAILED"));
    return status;
  }
  absl::Status Interrupted() const override { return absl::OkStatus(); }
  std::optional<platform::Event> NextEvent(absl::Time) override {
    return std::nullopt;
  }
  void DropEvents() override {}
  void Note(absl::string_view) override {}
  absl::Time deadline() const override { return absl::InfiniteFuture(); }
  std::vector<std::string> names;
};

Claim Of(Claim::Kind kind, uint32_t domain = 0) {
  Claim claim;
  claim.kind = kind;
  claim.domain = domain;
  return claim;
}

// A translation context freed with a mapping still in it takes the
// mapping with it: the mapping's claim would name a context that is gone,
// and nothing could release it again.
TEST(Claims, AContextStaysWhileAMappingInItCouldNotBeRemoved) {
  Claims claims;
  int unmap_failures = 1;
  claims.Add(Of(Claim::Kind::kDomain, 3), "iommu_detach", "context 3",
             [] { return absl::OkStatus(); });
  claims.Add(Of(Claim::Kind::kMapping, 3), "smmu_unmap", "iova 0",
             [&]() -> absl::Status {
               if (unmap_failures-- > 0) return absl::InternalError("busy");
               return absl::OkStatus();
             });
  claims.Add(Of(Claim::Kind::kDomain, 4), "iommu_detach", "context 4",
             [] { return absl::OkStatus(); });
  RecordedSteps first;
  EXPECT_FALSE(claims.Release(first, [](const Claim&) { return true; }).ok());
  // Context 4 had nothing left in it; context 3 was not touched.
  EXPECT_THAT(first.names, ElementsAre("iommu_detach", "smmu_unmap FAILED"));
  EXPECT_EQ(claims.View().mappings.size(), 1u);
  RecordedSteps second;
  claims.Rollback(second);
  EXPECT_THAT(second.names, ElementsAre("smmu_unmap", "iommu_detach"));
  EXPECT_TRUE(claims.empty());
}

TEST(Claims, AResetThatCannotBeTakenBackKeepsEverythingBeforeIt) {
  Claims claims;
  claims.Add(Of(Claim::Kind::kMapping, 1), "smmu_unmap", "iova 0",
             [] { return absl::OkStatus(); });
  claims.Add(Of(Claim::Kind::kRunning), "pas_shutdown", "PAS id 1",
             [] { return absl::InternalError("refused"); });
  RecordedSteps steps;
  claims.Rollback(steps);
  EXPECT_THAT(steps.names, ElementsAre("pas_shutdown FAILED"));
  EXPECT_EQ(claims.View().mappings.size(), 1u);
}

}  // namespace
}  // namespace pil::pas
