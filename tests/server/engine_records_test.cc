// What the engine shows EngineOptions::on_transition (the metrics' hook):
// every record it audits, crashes and recoveries included, and whether
// steps ran; and a Stop of an OFFLINE coprocessor, which runs nothing but
// clears the last error (off on purpose).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine.h"
#include "tests/server/engine_testing.h"

namespace pil::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SimEngine;
using testing::WithFault;

// "operation result ran|-" of each record the hook saw, in order.
struct Seen {
  absl::Mutex mu;
  std::vector<std::string> records ABSL_GUARDED_BY(mu);

  EngineOptions Options() {
    EngineOptions options = SimEngine::DefaultOptions();
    options.on_transition = [this](const HistoryEntry& e, bool ran) {
      absl::MutexLock lock(&mu);
      records.push_back(
          absl::StrCat(e.operation, " ", e.result, ran ? " ran" : " -"));
    };
    return options;
  }
  std::vector<std::string> Get() {
    absl::MutexLock lock(&mu);
    return records;
  }
};

TEST(EngineRecords,
     StopOfAnOfflineCoprocessorClearsTheLastErrorAndRunsNothing) {
  Seen seen;
  SimEngine sim("sm8550-el2-sim", {}, seen.Options());
  auto started =
      sim.engine().Start("cdsp", FirmwareSource::Named("qcom/no-such.mbn"),
                         absl::ZeroDuration(), {});
  ASSERT_EQ(ReasonOf(started.status()), "FIRMWARE_NOT_FOUND");
  auto failed = sim.engine().Get("cdsp");
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->state, State::kOffline);
  ASSERT_TRUE(failed->last_error.has_value());
  EXPECT_EQ(failed->last_error->reason, "FIRMWARE_NOT_FOUND");

  // The operator's word that it is off on purpose.
  auto stopped = sim.engine().Stop("cdsp", absl::ZeroDuration(), {});
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_THAT(stopped->note, HasSubstr("already offline"));
  EXPECT_TRUE(stopped->steps.empty());
  EXPECT_FALSE(stopped->status.last_error.has_value());
  auto after = sim.engine().Get("cdsp");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state, State::kOffline);
  EXPECT_FALSE(after->last_error.has_value());

  // A refusal: recorded, nothing ran.
  EXPECT_EQ(ReasonOf(sim.engine().Map("cdsp", {}).status()), "WRONG_STATE");
  EXPECT_THAT(seen.Get(), ElementsAre("start FIRMWARE_NOT_FOUND ran",
                                      "stop OK -", "map WRONG_STATE -"));
}

TEST(EngineRecords, CrashesAndRecoveriesReachTheHook) {
  Seen seen;
  SimEngine sim(
      "sm8550-el2-sim",
      WithFault("cdsp",
                [](sim::v1::Fault* f) { f->set_watchdog_after_ms(50); }),
      seen.Options());
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (seen.Get().size() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(seen.Get(), ElementsAre("start OK ran", "crash WATCHDOG -",
                                      "recover OK ran"));
}

}  // namespace
}  // namespace pil::server
