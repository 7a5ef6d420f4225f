// The engine's events: crashes, coredumps and recovery on the sim; a
// one-step backend and states a backend reports on its own; adoption.
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/elf.h"
#include "server/engine.h"
#include "tests/server/engine_testing.h"
#include "tests/sim/sim_testing.h"

namespace pil::server {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Peripheral;
using testing::SimEngine;
using testing::StepNames;
using testing::WithFault;

class OneStepOps : public platform::CoprocessorOps {
 public:
  platform::Capabilities capabilities() const override {
    return {false, "the test backend boots in one step"};
  }
  absl::StatusOr<platform::VerifiedImage> Start(
      const platform::BootImages& images, absl::Duration,
      platform::Steps& steps) override {
    calls.push_back(absl::StrCat("start ", images.main_source,
                                 images.dtb ? " with dtb" : ""));
    absl::Status s = steps.Step("boot", [](std::string* d) {
      *d = "all at once";
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    platform::VerifiedImage verified;
    verified.metadata_sha256 = "feed";
    return verified;
  }
  absl::Status Stop(bool running, absl::Duration, platform::Steps&) override {
    calls.push_back(running ? "stop running" : "stop");
    return absl::OkStatus();
  }
  void Rollback(platform::Steps&) override { calls.push_back("rollback"); }
  absl::Status Restart(const platform::BootImages&, absl::Duration,
                       platform::Steps&) override {
    calls.push_back("restart");
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Coredump(absl::string_view) override {
    return absl::NotFoundError("none");
  }
  platform::HardwareView Held() const override { return {}; }
  absl::StatusOr<platform::HardwareView> Observe() override {
    return platform::HardwareView();
  }
  absl::StatusOr<platform::Adoption> Adopt(const platform::AdoptRequest&,
                                           platform::Steps&) override {
    return platform::Adoption();
  }
  std::vector<std::string> calls;
};

class OneStepBackend : public platform::Backend {
 public:
  std::string name() const override { return "test"; }
  absl::StatusOr<platform::CoprocessorOps*> Ops(
      const devicetree::CoprocessorNode& node) override {
    if (node.name == "adsp") return &adsp;
    return absl::UnimplementedError(absl::StrCat(node.name, " is not tested"));
  }
  void Subscribe(EventHandler h) override { handler = std::move(h); }
  OneStepOps adsp;
  EventHandler handler;
};

TEST(Engine, FollowsTheBackendsCapabilitiesAndReportedStates) {
  SimEngine sim;  // for its firmware directory
  auto board = devicetree::Discover(sim::testing::BundledDtb("sm8550-el2-sim"));
  ASSERT_TRUE(board.ok());
  OneStepBackend backend;
  History history;
  LifecycleEngine engine(&backend, *board, &sim.store(), &history, {});

  auto authenticated = engine.Authenticate("adsp", {}, {});
  EXPECT_EQ(authenticated.status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(authenticated.status()), "STEP_NOT_SUPPORTED");
  EXPECT_THAT(authenticated.status().message(),
              HasSubstr("the test backend boots in one step; use Start"));
  EXPECT_TRUE(backend.adsp.calls.empty());

  auto started = engine.Start("adsp", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status.state, State::kRunning);
  EXPECT_THAT(StepNames(*started), ElementsAre("load", "load_dtb", "boot"));
  EXPECT_EQ(started->status.image->sha256, "feed");
  EXPECT_FALSE(started->status.capabilities.separate_steps);
  EXPECT_THAT(backend.adsp.calls,
              ElementsAre("start qcom/sm8550/adsp.mbn with dtb"));

  auto cdsp = engine.Start("cdsp", {}, absl::ZeroDuration(), {});
  EXPECT_EQ(cdsp.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(engine.Get("cdsp")->drivable);
  EXPECT_EQ(engine.Get("cdsp")->unsupported, "cdsp is not tested");

  // A state the backend reports on its own is followed.
  platform::Event stopped;
  stopped.kind = platform::Event::Kind::kStopped;
  stopped.state_report = true;
  backend.handler("/soc@0/remoteproc@6800000", stopped);
  EXPECT_EQ(engine.Get("adsp")->state, State::kOffline);
  platform::Event ready;
  ready.kind = platform::Event::Kind::kReady;
  backend.handler("/soc@0/remoteproc@6800000", ready);
  EXPECT_EQ(engine.Get("adsp")->state, State::kOffline)
      << "a signal nobody waits for is not a state";
  ready.state_report = true;
  backend.handler("/soc@0/remoteproc@6800000", ready);
  EXPECT_EQ(engine.Get("adsp")->state, State::kRunning);

  auto stop = engine.Stop("adsp", absl::ZeroDuration(), {});
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_THAT(backend.adsp.calls, ElementsAre(_, "stop running"));
}

bool WaitFor(LifecycleEngine& engine, const std::string& name, State state) {
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until) {
    if (engine.Get(name)->state == state) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

TEST(Engine, CrashIsRecoveredAfterACoredump) {
  SimEngine sim("sm8550-el2-sim", WithFault("cdsp", [](sim::v1::Fault* f) {
                  f->set_watchdog_after_ms(50);
                }));
  std::vector<StateEvent> initial;
  absl::Mutex mu;
  std::vector<std::pair<State, std::string>> seen;
  const uint64_t id = sim.engine().Subscribe(
      [&](const StateEvent& e) {
        if (e.status.node->name != "cdsp") return;
        absl::MutexLock lock(&mu);
        seen.emplace_back(e.status.state,
                          absl::StrCat(e.operation, " ", e.reason));
      },
      &initial);
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  // The fault fires once: the restart comes up and stays up.
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<std::pair<State, std::string>>* seen) {
              return !seen->empty() && seen->back().second == "recover ";
            },
            &seen),
        absl::Seconds(10)));
  }
  sim.engine().Unsubscribe(id);
  {
    absl::MutexLock lock(&mu);
    std::vector<State> states;
    for (const auto& [state, reason] : seen) states.push_back(state);
    EXPECT_THAT(states, ElementsAre(State::kAuthenticated, State::kMapped,
                                    State::kRunning, State::kCrashed,
                                    State::kRecovering, State::kRunning));
    EXPECT_EQ(seen[3].second, "crash WATCHDOG");
    EXPECT_EQ(seen[4].second, "recover restart 1 of 3");
  }
  auto status = sim.engine().Get("cdsp");
  EXPECT_EQ(status->crash_count, 1u);

  auto dump = sim.engine().GetCoredump("cdsp", 0);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(dump->reason, "WATCHDOG");
  EXPECT_EQ(dump->crash_id, 1u);
  auto elf = image::ParseElfHeaders(*dump->bytes);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->header.type, 4);  // ET_CORE
  ASSERT_GE(elf->phdrs.size(), 2u);
  EXPECT_EQ(elf->phdrs[0].type, 4u);  // PT_NOTE
  for (size_t i = 1; i < elf->phdrs.size(); ++i) {
    EXPECT_EQ(elf->phdrs[i].type, 1u);  // PT_LOAD
    EXPECT_GE(elf->phdrs[i].paddr, 0x9c900000u);
    EXPECT_LE(elf->phdrs[i].paddr + elf->phdrs[i].memsz,
              0x9c900000u + 0x2000000u);
  }
  EXPECT_EQ(sim.engine().GetCoredump("cdsp", 7).status().code(),
            absl::StatusCode::kNotFound);

  // The recovery's record is written once it has let go of the engine
  // (the state is published first).
  std::vector<std::string> operations;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    operations.clear();
    for (const HistoryEntry& e : sim.history().Latest("cdsp", 10)) {
      operations.push_back(e.operation + ":" + e.result);
    }
  } while (operations.size() < 3 && absl::Now() < deadline &&
           (absl::SleepFor(absl::Milliseconds(5)), true));
  EXPECT_THAT(operations,
              ElementsAre("recover:OK", "crash:WATCHDOG", "start:OK"));
}

TEST(Engine, WithoutRestartACrashStaysForInspection) {
  EngineOptions options = SimEngine::DefaultOptions();
  options.recovery.restart = false;
  SimEngine sim(
      "sm8550-el2-sim",
      WithFault("cdsp", [](sim::v1::Fault* f) { f->set_fatal_after_ms(20); }),
      options);
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  ASSERT_TRUE(WaitFor(sim.engine(), "cdsp", State::kCrashed));
  absl::SleepFor(absl::Milliseconds(100));
  auto status = sim.engine().Get("cdsp");
  EXPECT_EQ(status->state, State::kCrashed);
  EXPECT_EQ(status->last_error->reason, "FATAL_ERROR");
  EXPECT_EQ(status->last_error->operation, "crash");
  // The coredump is taken right after the crash, in the background.
  absl::StatusOr<Coredump> dump;
  for (int i = 0; i < 200; ++i) {
    dump = sim.engine().GetCoredump("cdsp", 0);
    if (dump.ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(dump.ok());
  auto stopped = sim.engine().Stop("cdsp", absl::ZeroDuration(), {});
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  sim.ExpectClean("cdsp");
}

TEST(Engine, RestartsStopAfterTheLimit) {
  EngineOptions options = SimEngine::DefaultOptions();
  options.recovery.max_restarts = 2;
  SimEngine sim("sm8550-el2-sim",
                WithFault("video",
                          [](sim::v1::Fault* f) {
                            f->set_watchdog_after_ms(10);
                            f->set_repeat(true);
                          }),
                options);
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until && sim.engine().Get("video")->crash_count < 3) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::SleepFor(absl::Milliseconds(300));
  auto status = sim.engine().Get("video");
  EXPECT_EQ(status->state, State::kCrashed);
  EXPECT_EQ(status->crash_count, 3u);  // the first crash and two restarts
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

// A Stop of a RECOVERING coprocessor ends the recovery instead of waiting
// for it: during its backoff, and while its boot waits for ready.
TEST(Engine, StopEndsARecoveryInProgress) {
  for (const bool booting : {false, true}) {
    EngineOptions options = SimEngine::DefaultOptions();
    options.recovery.initial_backoff =
        booting ? absl::Milliseconds(1) : absl::Seconds(60);
    options.ready_timeout = absl::Seconds(60);
    SimEngine sim("sm8550-el2-sim", {}, options);
    sim::v1::Fault bite;
    bite.set_coprocessor("video");
    bite.set_watchdog_after_ms(10);
    ASSERT_TRUE(sim.soc().InjectFault(bite).ok());
    ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
    if (booting) {
      sim::v1::Fault hang;
      hang.set_coprocessor("video");
      hang.set_never_ready(true);  // the recovery's boot
      ASSERT_TRUE(sim.soc().InjectFault(hang).ok());
    }
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (sim.engine().Get("video")->state != State::kRecovering &&
           absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    ASSERT_EQ(sim.engine().Get("video")->state, State::kRecovering);
    if (booting) absl::SleepFor(absl::Milliseconds(50));  // into wait_ready
    CallContext ctx;
    ctx.deadline = absl::Now() + absl::Seconds(20);  // not the backoff's 60 s
    auto stopped = sim.engine().Stop("video", absl::ZeroDuration(), ctx);
    ASSERT_TRUE(stopped.ok()) << booting << " " << stopped.status();
    sim.ExpectClean("video");
    if (booting) {
      bool abandoned = false;
      for (const HistoryEntry& e : sim.history().Latest("video", 10)) {
        abandoned |=
            e.operation == "recover" && e.result == "RECOVERY_ABANDONED";
      }
      EXPECT_TRUE(abandoned);
    }
  }
}

TEST(Engine, RestartAdoptsRunningCoresAndReleasesHalfDoneOnes) {
  SimEngine sim;
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  sim.Restart();  // pild exits and comes back; the hardware kept everything
  EXPECT_EQ(sim.engine().Get("cdsp")->state, State::kRunning);
  sim.ExpectClean("video");
  // The adopted core is managed as usual.
  ASSERT_TRUE(sim.engine().Stop("cdsp", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("cdsp");
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
}

}  // namespace
}  // namespace pil::server
