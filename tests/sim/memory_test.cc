// The simulated memory's Zero: whole pages given back, partial pages
// written, and the zeros seen by every process mapping the backing file.
#include "platform/sim/memory.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace pil::sim {
namespace {

constexpr uint64_t kBase = 0x80000000, kSize = 64 << 10;

bool AllAre(absl::Span<const uint8_t> span, uint8_t value) {
  for (uint8_t b : span) {
    if (b != value) return false;
  }
  return true;
}

void ZeroesExactlyTheSpan(const std::string& path) {
  auto memory = SimMemory::Create({{kBase, kSize}}, path);
  ASSERT_TRUE(memory.ok()) << memory.status();
  auto all = (*memory)->Map(kBase, kSize);
  ASSERT_TRUE(all.ok());
  std::memset(all->data(), 0xA5, all->size());
  // From inside the first page to inside the last: two whole pages
  // between, given back; the partial ends written.
  const uint64_t from = 100, to = kSize - 4096 - 100;
  auto span = (*memory)->Map(kBase + from, to - from);
  ASSERT_TRUE(span.ok());
  (*memory)->Zero(*span);
  EXPECT_TRUE(AllAre(all->subspan(0, from), 0xA5));
  EXPECT_TRUE(AllAre(all->subspan(from, to - from), 0));
  EXPECT_TRUE(AllAre(all->subspan(to), 0xA5));
  if (!path.empty()) {
    // Another mapping of the backing (pilsim's, for pild) sees the zeros.
    auto other = SimMemory::Open((*memory)->regions(), path);
    ASSERT_TRUE(other.ok()) << other.status();
    auto seen = (*other)->Map(kBase, kSize);
    ASSERT_TRUE(seen.ok());
    EXPECT_TRUE(AllAre(seen->subspan(0, from), 0xA5));
    EXPECT_TRUE(AllAre(seen->subspan(from, to - from), 0));
    EXPECT_TRUE(AllAre(seen->subspan(to), 0xA5));
  }
  // A span inside one page is written.
  auto small = (*memory)->Map(kBase + kSize - 50, 20);
  ASSERT_TRUE(small.ok());
  (*memory)->Zero(*small);
  EXPECT_TRUE(AllAre(all->subspan(kSize - 50, 20), 0));
  EXPECT_TRUE(AllAre(all->subspan(kSize - 30), 0xA5));
}

TEST(SimMemory, ZeroOnAnonymousMemory) { ZeroesExactlyTheSpan(""); }

TEST(SimMemory, ZeroOnASharedBackingFile) {
  ZeroesExactlyTheSpan(std::string(std::getenv("TEST_TMPDIR")) + "/memory");
}

}  // namespace
}  // namespace pil::sim
