// LifecycleEngine::Adopt with the intent journal: what a killed pild left
// in flight is finished or undone, and an adopted core keeps the image it
// runs. The hardware is left as a pild killed at that point leaves it (the
// steps it completed, run on the SoC) and the journal as it wrote it.
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine.h"
#include "tests/server/engine_testing.h"

namespace pil::server {
namespace {

using ::testing::HasSubstr;
using testing::SimEngine;
using testing::WithFault;

constexpr char kOther[] = "qcom/vpu/other.mbn";
constexpr uint64_t kVideoBase = 0x9bb00000;

uint32_t VideoPas(SimEngine& sim) {
  return *sim.engine().Get("video")->node->pas_id;
}

// What a killed pild did last before it died: bridged the carveout and
// released reset.
void BridgeAndRelease(SimEngine& sim) {
  const devicetree::CarveoutRange& c =
      sim.engine().Get("video")->node->carveouts[0];
  ASSERT_TRUE(sim.soc().secure_world().ShmBridgeCreate(c.base, c.size).ok());
  ASSERT_TRUE(sim.soc().secure_world().PasAuthAndReset(VideoPas(sim)).ok());
}

bool WaitFor(const std::function<bool()>& done) {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (!done() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  return done();
}

// The newest audit record of `operation` for video.
HistoryEntry Latest(SimEngine& sim, const std::string& operation) {
  for (const HistoryEntry& e : sim.history().Latest("video", 50)) {
    if (e.operation == operation) return e;
  }
  return {};
}

// The journal's record of an image as the engine reports it loaded.
JournalImage Journaled(const LoadedImage& image, const std::string& name) {
  JournalImage out;
  out.source_kind = "name";
  out.source = name;
  out.sha256 = image.sha256;
  out.version = image.version;
  return out;
}

// A watchdog bite `ms` after video's next "ready".
void BiteAfter(SimEngine& sim, uint32_t ms) {
  sim::v1::Fault crash;
  crash.set_coprocessor("video");
  crash.set_watchdog_after_ms(ms);
  ASSERT_TRUE(sim.soc().InjectFault(crash).ok());
}

TEST(Adopt, KeepsTheImageARunningCoreBootedAndRecoversWithIt) {
  SimEngine sim;
  sim.WriteFirmware(kOther, SimEngine::Signed(kVideoBase, 0x300000, 0xe, 7));
  // It bites after pild restarted (a restart takes milliseconds).
  BiteAfter(sim, 500);
  auto started = sim.engine().Start("video", FirmwareSource::Named(kOther),
                                    absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  const LoadedImage ran = *started->status.image;
  // Booting the device tree's default would fail now.
  sim.WriteFirmware(testing::kVideoFirmware, "not an image");
  sim.Restart();
  auto adopted = sim.engine().Get("video");
  EXPECT_EQ(adopted->state, State::kRunning);
  ASSERT_TRUE(adopted->image.has_value());
  EXPECT_EQ(adopted->image->source, kOther);
  EXPECT_EQ(adopted->image->sha256, ran.sha256);
  EXPECT_EQ(adopted->image->version, ran.version);
  ASSERT_TRUE(WaitFor([&] { return !Latest(sim, "recover").result.empty(); }));
  EXPECT_EQ(Latest(sim, "recover").result, "OK")
      << Latest(sim, "recover").message;
  EXPECT_EQ(sim.engine().Get("video")->state, State::kRunning);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

TEST(Adopt, DoesNotGuessTheImageOfACoreItHasNoRecordOf) {
  SimEngine sim;
  BiteAfter(sim, 500);
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
  // As if started by something that keeps no journal.
  sim.journal().End("video", std::nullopt);
  sim.Restart();
  EXPECT_EQ(sim.engine().Get("video")->state, State::kRunning);
  EXPECT_THAT(sim.engine().Get("video")->image->source, HasSubstr("unknown"));
  ASSERT_TRUE(WaitFor([&] { return !Latest(sim, "recover").result.empty(); }));
  EXPECT_EQ(Latest(sim, "recover").result, "RECOVERY_SOURCE_UNKNOWN");
  EXPECT_EQ(sim.engine().Get("video")->state, State::kCrashed);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

TEST(Adopt, FinishesAStopThatWasInFlight) {
  SimEngine sim;
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
  // Killed as the stop began: nothing of it reached the hardware yet.
  sim.journal().Begin("video", "stop");
  sim.journal().Step("video", "request_stop");
  sim.Restart();
  sim.ExpectClean("video");
  const HistoryEntry adopt = Latest(sim, "adopt");
  EXPECT_THAT(adopt.message, HasSubstr("stop was in progress (at step "
                                       "request_stop) when pild stopped; "
                                       "finished: offline"));
  EXPECT_FALSE(sim.engine().Get("video")->last_error.has_value());
  // Nothing is in flight any more, and the core runs nothing.
  auto journal = sim.journal().Read();
  EXPECT_FALSE(journal["video"].intent.has_value());
  EXPECT_FALSE(journal["video"].running.has_value());
}

TEST(Adopt, UndoesAStartKilledBeforeResetWasReleased) {
  SimEngine sim;
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  sim.journal().Begin("video", "start");
  sim.journal().Step("video", "smmu_map");
  sim.Restart();
  sim.ExpectClean("video");
  auto status = sim.engine().Get("video");
  ASSERT_TRUE(status->last_error.has_value());
  EXPECT_EQ(status->last_error->reason, "INTERRUPTED");
  EXPECT_THAT(status->last_error->message,
              HasSubstr("start was in progress (at step smmu_map)"));
  EXPECT_FALSE(sim.journal().Read()["video"].intent.has_value());
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
}

// Killed between pas_auth_and_reset and shm_bridge_delete: the core runs
// the image the start verified, and the bridge is removed.
TEST(Adopt, FinishesAStartKilledAfterResetWasReleased) {
  SimEngine sim;
  sim.WriteFirmware(kOther, SimEngine::Signed(kVideoBase, 0x300000, 0xe, 7));
  auto authenticated =
      sim.engine().Authenticate("video", FirmwareSource::Named(kOther), {});
  ASSERT_TRUE(authenticated.ok()) << authenticated.status();
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  sim.journal().Begin("video", "start");
  sim.journal().Booting("video",
                        Journaled(*authenticated->status.image, kOther));
  BridgeAndRelease(sim);
  sim.journal().Step("video", "pas_auth_and_reset");
  sim.Restart();
  auto status = sim.engine().Get("video");
  EXPECT_EQ(status->state, State::kRunning);
  EXPECT_EQ(status->image->source, kOther);
  EXPECT_EQ(status->image->sha256, authenticated->status.image->sha256);
  auto hw = sim.soc().Observe();
  EXPECT_TRUE(hw->bridges.empty());
  EXPECT_FALSE(testing::Peripheral(*hw, VideoPas(sim))->metadata_held);
  EXPECT_THAT(Latest(sim, "adopt").message,
              HasSubstr("start was in progress (at step pas_auth_and_reset) "
                        "when pild stopped; finished: running"));
  auto journal = sim.journal().Read();
  ASSERT_TRUE(journal["video"].running.has_value());
  EXPECT_EQ(journal["video"].running->source, kOther);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

// Killed while the core booted: the adoption gives it the ready timeout.
TEST(Adopt, WaitsForACoreThatWasStillBooting) {
  sim::v1::Profile slow;
  slow.mutable_timings()->set_boot_ms(400);
  SimEngine sim("sm8550-el2-sim", slow);
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  sim.journal().Begin("video", "start");
  BridgeAndRelease(sim);
  sim.Restart();
  EXPECT_EQ(sim.engine().Get("video")->state, State::kRunning);
  EXPECT_TRUE(sim.soc().Observe()->bridges.empty());
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

TEST(Adopt, UndoesABootThatNeverBecomesReady) {
  SimEngine sim("sm8550-el2-sim", WithFault("video", [](sim::v1::Fault* f) {
                  f->set_never_ready(true);
                }));
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  sim.journal().Begin("video", "start");
  BridgeAndRelease(sim);
  sim.journal().Step("video", "wait_ready");
  sim.Restart();
  sim.ExpectClean("video");
  EXPECT_EQ(sim.engine().Get("video")->last_error->reason, "INTERRUPTED");
}

}  // namespace
}  // namespace pil::server
