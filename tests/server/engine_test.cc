// The engine on the sim: transitions, what each step holds, concurrency,
// request ids, cancellation and deadlines, listeners, uploads.
#include "server/engine.h"

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

TEST(Engine, ManagesEnabledCoprocessorsInDeviceTreeOrder) {
  SimEngine sim;
  std::vector<std::string> names;
  for (const CoprocessorStatus& c : sim.engine().List()) {
    names.push_back(c.node->name);
    EXPECT_EQ(c.state, State::kOffline);
    EXPECT_GT(c.state_since, absl::UnixEpoch());
  }
  EXPECT_THAT(names, ElementsAre("adsp", "video", "cdsp"));  // mpss disabled
  auto unknown = sim.engine().Get("mpss");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(unknown.status()), "UNKNOWN_COPROCESSOR");
  EXPECT_EQ(unknown.status().message(),
            "no coprocessor named 'mpss'; known: adsp, video, cdsp");
}

// A backend whose adsp boots in one step and which cannot drive the rest:
// the engine follows the capabilities and cannot tell it from the sim.
TEST(Engine, StartBootsTheVideoCodecAndKeepsOnlyItsMapping) {
  SimEngine sim;
  auto started = sim.engine().Start("video", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status.state, State::kRunning);
  EXPECT_THAT(
      StepNames(*started),
      ElementsAre("load", "verify_and_copy", "pas_init_image", "pas_mem_setup",
                  "iommu_attach", "smmu_map", "pas_get_rsctable",
                  "shm_bridge_create", "pas_auth_and_reset",
                  "shm_bridge_delete", "wait_ready", "release_metadata"));
  ASSERT_TRUE(started->status.image.has_value());
  EXPECT_EQ(started->status.image->source, testing::kVideoFirmware);
  EXPECT_EQ(started->status.image->hash_table_version, 6u);
  EXPECT_EQ(started->status.image->sw_id, 0xeu);
  EXPECT_EQ(started->status.image->sha256.size(), 64u);

  auto observed = sim.engine().Get("video", /*observe=*/true);
  ASSERT_TRUE(observed.ok());
  EXPECT_FALSE(observed->hardware.metadata_held);
  EXPECT_TRUE(observed->hardware.bridges.empty());
  ASSERT_EQ(observed->hardware.mappings.size(), 1u);
  const auto& m = observed->hardware.mappings[0];
  EXPECT_EQ(m.sid, 0x19e2u);
  EXPECT_EQ(m.iova, 0u);  // the codec's firmware lives at IOVA 0
  EXPECT_EQ(m.pa, 0x9bb00000u);
  EXPECT_EQ(m.size, 0x700000u);
  EXPECT_EQ(m.prot, platform::kIommuRead | platform::kIommuWrite |
                        platform::kIommuPriv);
  EXPECT_EQ(m.owner, platform::MappingOwner::kOs);
}

TEST(Engine, StepByStepEachStepHoldsWhatItShould) {
  SimEngine sim;
  auto auth = sim.engine().Authenticate("video", {}, {});
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->status.state, State::kAuthenticated);
  auto hw = sim.engine().Get("video", true);
  EXPECT_TRUE(hw->hardware.metadata_held);
  EXPECT_TRUE(hw->hardware.mappings.empty());

  auto mapped = sim.engine().Map("video", {});
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->status.state, State::kMapped);
  hw = sim.engine().Get("video", true);
  EXPECT_TRUE(hw->hardware.metadata_held);
  EXPECT_EQ(hw->hardware.mappings.size(), 1u);
  EXPECT_TRUE(hw->hardware.bridges.empty());

  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->status.state, State::kRunning);
  hw = sim.engine().Get("video", true);
  EXPECT_FALSE(hw->hardware.metadata_held);
  EXPECT_TRUE(hw->hardware.bridges.empty());
  // The bridge existed exactly around auth_and_reset.
  EXPECT_THAT(
      StepNames(*reset),
      ElementsAre("shm_bridge_create", "pas_auth_and_reset",
                  "shm_bridge_delete", "wait_ready", "release_metadata"));

  auto stopped = sim.engine().Stop("video", absl::ZeroDuration(), {});
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_THAT(StepNames(*stopped),
              ElementsAre("request_stop", "wait_stop_ack", "pas_shutdown",
                          "smmu_unmap", "iommu_detach"));
  sim.ExpectClean("video");
}

TEST(Engine, CoprocessorWithDtbImageBootsBothAndStopsBoth) {
  SimEngine sim;
  auto started = sim.engine().Start("adsp", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  auto hw = sim.soc().Observe();
  ASSERT_TRUE(hw.ok());
  EXPECT_EQ(Peripheral(*hw, 1)->state, pas::PasState::kRunning);
  EXPECT_EQ(Peripheral(*hw, 36)->state, pas::PasState::kRunning);
  auto view = sim.engine().Get("adsp", true);
  EXPECT_EQ(view->hardware.mappings.size(), 2u);  // main and DTB carveouts
  ASSERT_TRUE(sim.engine().Stop("adsp", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("adsp");
}

TEST(Engine, DifferentCoprocessorsStartInParallel) {
  SimEngine sim;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(3);
  const std::vector<std::string> names = {"adsp", "video", "cdsp"};
  for (size_t i = 0; i < names.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          sim.engine().Start(names[i], {}, absl::ZeroDuration(), {}).status();
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << names[i] << ": " << results[i];
    EXPECT_EQ(sim.engine().Get(names[i])->state, State::kRunning);
  }
}

TEST(Engine, ConcurrentCallersOnOneCoprocessorNeverInterleave) {
  SimEngine sim;
  constexpr int kCallers = 6;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          (i % 2 == 0
               ? sim.engine().Start("video", {}, absl::ZeroDuration(), {})
               : sim.engine().Stop("video", absl::ZeroDuration(), {}))
              .status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) {
    // Either it ran, or it found the state another caller left.
    EXPECT_TRUE(s.ok() || ReasonOf(s) == "WRONG_STATE") << s;
  }
  // The history shows whole transitions, one after the other.
  auto entries = sim.history().Latest("video", 100);
  std::reverse(entries.begin(), entries.end());
  State state = State::kOffline;
  for (const HistoryEntry& e : entries) {
    EXPECT_EQ(e.from, state) << e.operation;
    if (e.result == "OK") {
      EXPECT_EQ(e.to,
                e.operation == "start" ? State::kRunning : State::kOffline);
    }
    state = e.to;
  }
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok() ||
              sim.engine().Get("video")->state == State::kOffline);
  sim.ExpectClean("video");
}

TEST(Engine, WrongStateIsRefusedAndChangesNothing) {
  SimEngine sim;
  auto map = sim.engine().Map("video", {});
  EXPECT_EQ(map.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(map.status()), "WRONG_STATE");
  EXPECT_EQ(map.status().message(),
            "map video: it is offline; expected authenticated");
  EXPECT_EQ(MetadataOf(map.status())["state"], "offline");

  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  EXPECT_EQ(ReasonOf(reset.status()), "WRONG_STATE");
  auto view = sim.engine().Get("video", true);
  EXPECT_EQ(view->state, State::kAuthenticated);
  EXPECT_TRUE(view->hardware.metadata_held);
  // Refused attempts are in the history too.
  auto entries = sim.history().Latest("video", 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].operation, "reset");
  EXPECT_EQ(entries[0].result, "WRONG_STATE");

  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

TEST(Engine, RequestIdReplaysTheFirstOutcome) {
  SimEngine sim;
  CallContext ctx;
  ctx.request_id = "8d0c7d1e-start-once";
  auto first = sim.engine().Start("video", {}, absl::ZeroDuration(), ctx);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->replayed);
  auto again = sim.engine().Start("video", {}, absl::ZeroDuration(), ctx);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->steps.size(), first->steps.size());
  EXPECT_EQ(sim.history().Latest("video", 100).size(), 1u);

  auto reused = sim.engine().Stop("video", absl::ZeroDuration(), ctx);
  EXPECT_EQ(ReasonOf(reused.status()), "REQUEST_ID_REUSED");
  EXPECT_EQ(sim.engine().Get("video")->state, State::kRunning);

  EXPECT_EQ(first->request_id, ctx.request_id);
  EXPECT_EQ(again->request_id, ctx.request_id);
}

TEST(Engine, RequestIdsMatchTheWholeRequestAndKeepOnlyWorkThatRan) {
  SimEngine sim;
  sim.WriteFirmware("qcom/vpu/other.mbn",
                    SimEngine::Signed(0x9bb00000, 0x300000, 0xe, 7));
  CallContext ctx;
  ctx.request_id = "start-with-a-name";
  ASSERT_TRUE(sim.engine()
                  .Start("video", FirmwareSource::Named("qcom/vpu/other.mbn"),
                         absl::ZeroDuration(), ctx)
                  .ok());
  // The same id with another firmware, or another ready timeout, is a
  // different request.
  auto other = sim.engine().Start("video", {}, absl::ZeroDuration(), ctx);
  EXPECT_EQ(ReasonOf(other.status()), "REQUEST_ID_REUSED");
  EXPECT_THAT(std::string(other.status().message()),
              HasSubstr("was used for start video (qcom/vpu/other.mbn, ready "
                        "timeout default); this request is start video (the "
                        "device tree's firmware, ready timeout default)"));
  auto slower =
      sim.engine().Start("video", FirmwareSource::Named("qcom/vpu/other.mbn"),
                         absl::Seconds(3), ctx);
  EXPECT_EQ(ReasonOf(slower.status()), "REQUEST_ID_REUSED");

  // Turned away before anything ran: forgotten, so the retry runs.
  CallContext early;
  early.request_id = "map-too-early";
  auto map = sim.engine().Map("video", early);
  EXPECT_EQ(ReasonOf(map.status()), "WRONG_STATE");
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  auto retried = sim.engine().Map("video", early);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->replayed);

  // Undone because the caller gave up: forgotten too.
  CallContext gave_up;
  gave_up.request_id = "reset-cancelled";
  gave_up.cancelled = [] { return true; };
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), gave_up);
  EXPECT_EQ(ReasonOf(reset.status()), "CANCELLED");
  ASSERT_TRUE(sim.engine().Authenticate("video", {}, {}).ok());
  ASSERT_TRUE(sim.engine().Map("video", {}).ok());
  CallContext again;
  again.request_id = "reset-cancelled";
  auto reset_again = sim.engine().Reset("video", absl::ZeroDuration(), again);
  ASSERT_TRUE(reset_again.ok()) << reset_again.status();
  EXPECT_FALSE(reset_again->replayed);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

TEST(Engine, StopOfAnOfflineCoprocessorDoesNothing) {
  SimEngine sim;
  auto stopped = sim.engine().Stop("video", absl::ZeroDuration(), {});
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_THAT(stopped->note, HasSubstr("already offline"));
  EXPECT_TRUE(stopped->steps.empty());
  sim.ExpectClean("video");
}

TEST(Engine, CallerGivingUpWhileBootingRollsBack) {
  SimEngine sim("sm8550-el2-sim", WithFault("video", [](sim::v1::Fault* f) {
                  f->set_never_ready(true);
                }));
  std::atomic<bool> cancelled{false};
  CallContext ctx;
  ctx.cancelled = [&] { return cancelled.load(); };
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancelled = true;
  });
  const absl::Time start = absl::Now();
  auto started = sim.engine().Start("video", {}, absl::Seconds(30), ctx);
  canceller.join();
  EXPECT_EQ(started.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ReasonOf(started.status()), "CANCELLED");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  sim.ExpectClean("video");
}

TEST(Engine, DeadlineEndsTheWaitAndRollsBack) {
  SimEngine sim("sm8550-el2-sim", WithFault("video", [](sim::v1::Fault* f) {
                  f->set_never_ready(true);
                }));
  CallContext ctx;
  ctx.deadline = absl::Now() + absl::Milliseconds(300);
  auto started = sim.engine().Start("video", {}, absl::Seconds(30), ctx);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ReasonOf(started.status()), "DEADLINE_EXCEEDED");
  sim.ExpectClean("video");
}

TEST(Engine, SecondCallerWaitsUntilItsDeadlineThenGetsBusy) {
  SimEngine sim("sm8550-el2-sim", WithFault("video", [](sim::v1::Fault* f) {
                  f->set_never_ready(true);
                }));
  std::thread first([&] {
    (void)sim.engine().Start("video", {}, absl::Milliseconds(800), {});
  });
  absl::SleepFor(absl::Milliseconds(100));
  CallContext ctx;
  ctx.deadline = absl::Now() + absl::Milliseconds(200);
  auto second = sim.engine().Stop("video", absl::ZeroDuration(), ctx);
  EXPECT_EQ(ReasonOf(second.status()), "BUSY") << second.status();
  first.join();
  EXPECT_EQ(sim.engine().Get("video")->last_error->reason, "READY_TIMEOUT");
  sim.ExpectClean("video");
}

TEST(Engine, StopWithoutStopAckShutsDownAnyway) {
  SimEngine sim("sm8550-el2-sim", WithFault("cdsp", [](sim::v1::Fault* f) {
                  f->set_stop_ack_timeout(true);
                }));
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  auto stopped = sim.engine().Stop("cdsp", absl::Milliseconds(100), {});
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_THAT(stopped->note, HasSubstr("no stop-ack within 100ms"));
  sim.ExpectClean("cdsp");
}

// Waits until `name` is in `state` (or 10 s pass).
TEST(Engine, ListenersSeeEveryChangeInOrder) {
  SimEngine sim;
  std::vector<StateEvent> initial;
  std::vector<StateEvent> events;
  absl::Mutex mu;
  const uint64_t id = sim.engine().Subscribe(
      [&](const StateEvent& e) {
        absl::MutexLock lock(&mu);
        events.push_back(e);
      },
      &initial);
  EXPECT_EQ(initial.size(), 3u);
  for (const StateEvent& e : initial) EXPECT_TRUE(e.initial);
  ASSERT_TRUE(sim.engine().Start("video", {}, absl::ZeroDuration(), {}).ok());
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.engine().Unsubscribe(id);
  absl::MutexLock lock(&mu);
  std::vector<State> states;
  for (size_t i = 0; i < events.size(); ++i) {
    states.push_back(events[i].status.state);
    if (i > 0) {
      EXPECT_EQ(events[i].sequence, events[i - 1].sequence + 1);
      EXPECT_EQ(events[i].previous, events[i - 1].status.state);
    }
  }
  EXPECT_THAT(states,
              ElementsAre(State::kAuthenticated, State::kMapped,
                          State::kRunning, State::kStopping, State::kOffline));
}

TEST(Engine, UploadedImagesBootAndUnknownUploadsAreNotFound) {
  SimEngine sim;
  const std::string bytes = SimEngine::Signed(0x9bb00000, 0x300000, 0xe, 7);
  sim.store().AddUpload(std::string(64, 'a'), bytes);
  auto started =
      sim.engine().Start("video", FirmwareSource::Upload(std::string(64, 'a')),
                         absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status.image->hash_table_version, 7u);
  EXPECT_EQ(started->status.image->source, "upload:" + std::string(64, 'a'));
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  auto missing =
      sim.engine().Start("video", FirmwareSource::Upload(std::string(64, 'b')),
                         absl::ZeroDuration(), {});
  EXPECT_EQ(ReasonOf(missing.status()), "UPLOAD_NOT_FOUND");
  auto escape =
      sim.engine().Start("video", FirmwareSource::Named("../../etc/passwd"),
                         absl::ZeroDuration(), {});
  EXPECT_EQ(ReasonOf(escape.status()), "FIRMWARE_NAME_INVALID");
  sim.ExpectClean("video");
}

}  // namespace
}  // namespace pil::server
