// The video wrapper of a codec booted without TrustZone, on the real SC7180
// Chromebook device tree: releasing its reset boots the codec only when
// the firmware range is programmed and mapped at IOVA 0 for its stream;
// the reset bit stops it; the secure world knows nothing of it.
#include <string>

#include "common/error.h"
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

constexpr uint64_t kBase = 0x8f600000, kSize = 0x500000;
constexpr uint32_t kStream = 0xc42;

class Wrapper : public ::testing::Test {
 protected:
  void SetUp() override {
    PILD_REQUIRE_REAL_DATA();
    auto dtb =
        ReadFile(pil::testing::RealDataPath("dtb/sc7180-trogdor-lazor-r3.dtb"));
    ASSERT_TRUE(dtb.ok());
    soc_ = MakeSoc(*dtb);
    for (const auto& c : soc_->board().coprocessors) {
      if (c.name == "video") video_ = c.path;
    }
    ASSERT_FALSE(video_.empty());
    log_ = std::make_unique<SignalLog>(*soc_);
  }

  void Program(uint32_t fw_end) {
    ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperFwStart, 0).ok());
    ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperFwEnd, fw_end).ok());
  }

  std::unique_ptr<SimSoc> soc_;
  std::string video_;
  std::unique_ptr<SignalLog> log_;
};

TEST_F(Wrapper, BootsFromTheMappedRangeAndStopsOnTheResetBit) {
  EXPECT_FALSE(soc_->hypervisor());
  // Held in reset at power-on.
  EXPECT_EQ(*soc_->WrapperRead(video_, pas::kWrapperA9ssSwReset),
            pas::kWrapperA9ssResetBit);
  Boot boot{*soc_, 0, kBase, kSize};
  ASSERT_TRUE(boot.MapStream(kStream, 0, /*video=*/true).ok());
  Program(kSize);
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset, 0).ok());
  auto ready = log_->Next(video_);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->kind, SignalKind::kReady) << ready->detail;
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset,
                                 pas::kWrapperA9ssResetBit)
                  .ok());
  auto state = soc_->Observe();
  ASSERT_TRUE(state.ok());
  for (const auto& core : state->cores) {
    if (core.coprocessor == video_) {
      EXPECT_EQ(core.state, pas::CoreState::kOff);
    }
  }
  // No secure-world call was made, and it has no peripheral for the codec.
  EXPECT_TRUE(state->calls.empty());
  EXPECT_TRUE(state->peripherals.empty());
}

TEST_F(Wrapper, UnprogrammedRangeIsAFatalError) {
  Boot boot{*soc_, 0, kBase, kSize};
  ASSERT_TRUE(boot.MapStream(kStream, 0, /*video=*/true).ok());
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset, 0).ok());
  auto crash = log_->Next(video_);
  ASSERT_TRUE(crash.ok());
  EXPECT_EQ(crash->kind, SignalKind::kFatal);
  EXPECT_NE(crash->detail.find("FW_START/FW_END were not programmed"),
            std::string::npos)
      << crash->detail;
}

TEST_F(Wrapper, UnmappedOrShortMappingFaultsOnItsStream) {
  Program(kSize);
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset, 0).ok());
  auto fault = log_->Next(video_);
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault->kind, SignalKind::kSmmuFault);
  ASSERT_TRUE(fault->fault.has_value());
  EXPECT_EQ(fault->fault->sid, kStream);

  // Mapped, but only half of the range the wrapper names.
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset,
                                 pas::kWrapperA9ssResetBit)
                  .ok());
  Boot half{*soc_, 0, kBase, kSize / 2};
  ASSERT_TRUE(half.MapStream(kStream, 0, /*video=*/true).ok());
  ASSERT_TRUE(soc_->WrapperWrite(video_, pas::kWrapperA9ssSwReset, 0).ok());
  fault = log_->Next(video_);
  ASSERT_TRUE(fault.ok());
  EXPECT_EQ(fault->kind, SignalKind::kSmmuFault);
  EXPECT_EQ(fault->fault->iova, kSize / 2);
}

TEST_F(Wrapper, RegistersAreChecked) {
  EXPECT_EQ(ReasonOf(soc_->WrapperWrite(video_, 0x1000, 1)), "BAD_REGISTER");
  EXPECT_EQ(ReasonOf(soc_->WrapperRead(video_, 0x3004).status()),
            "BAD_REGISTER");
  EXPECT_EQ(ReasonOf(soc_->WrapperWrite("/nowhere", 0x3000, 0)),
            "UNKNOWN_COPROCESSOR");
}

TEST(WrapperOnPasBoards, PasBootedCodecsHaveNone) {
  PILD_REQUIRE_REAL_DATA();
  auto dtb = ReadFile(pil::testing::RealDataPath("dtb/sdm845-db845c.dtb"));
  ASSERT_TRUE(dtb.ok());
  auto soc = MakeSoc(*dtb);
  EXPECT_EQ(ReasonOf(soc->WrapperWrite("video", pas::kWrapperA9ssSwReset, 0)),
            "NO_WRAPPER");
}

}  // namespace
}  // namespace pil::sim
