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
using testing::SimEngine;

std::vector<std::string> StepNames(const TransitionResult& result) {
  std::vector<std::string> names;
  for (const Step& s : result.steps) names.push_back(s.name);
  return names;
}

const pas::HardwareState::Peripheral* Peripheral(const pas::HardwareState& hw,
                                                 uint32_t pas_id) {
  for (const auto& p : hw.peripherals) {
    if (p.pas_id == pas_id) return &p;
  }
  return nullptr;
}

sim::v1::Profile WithFault(const std::string& textproto_free_name,
                           const std::function<void(sim::v1::Fault*)>& set) {
  sim::v1::Profile profile;
  sim::v1::Fault* fault = profile.add_faults();
  fault->set_coprocessor(textproto_free_name);
  set(fault);
  return profile;
}

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
  absl::StatusOr<platform::Adoption> Adopt(platform::Steps&) override {
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
  auto entries = sim.history().Query("video", 100);
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
  auto entries = sim.history().Query("video", 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].operation, "reset");
  EXPECT_EQ(entries[0].result, "WRONG_STATE");

  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("video");
}

struct FailureCase {
  std::string name;
  std::string reason;
  std::function<void(SimEngine&)> arrange;
  sim::v1::Profile profile;
  std::string coprocessor = "video";
};

FailureCase Case(std::string name, std::string reason,
                 std::function<void(SimEngine&)> arrange,
                 sim::v1::Profile profile = {},
                 std::string coprocessor = "video") {
  return {std::move(name), std::move(reason), std::move(arrange),
          std::move(profile), std::move(coprocessor)};
}

void PrintTo(const FailureCase& c, std::ostream* os) {
  *os << c.name << " (" << c.coprocessor << ", " << c.reason << ")";
}

class FailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(FailureTest, RollsBackToOfflineWithNothingLeft) {
  const FailureCase& c = GetParam();
  SimEngine sim("sm8550-el2-sim", c.profile);
  if (c.arrange) c.arrange(sim);
  auto started =
      sim.engine().Start(c.coprocessor, {}, absl::ZeroDuration(), {});
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(ReasonOf(started.status()), c.reason) << started.status();
  auto status = sim.engine().Get(c.coprocessor);
  EXPECT_EQ(status->state, State::kOffline);
  ASSERT_TRUE(status->last_error.has_value());
  EXPECT_EQ(status->last_error->reason, c.reason);
  EXPECT_EQ(status->last_error->operation, "start");
  EXPECT_FALSE(status->image.has_value());
  sim.ExpectClean(c.coprocessor);
  // And it boots once the cause is gone (when it can be).
  auto entries = sim.history().Query(c.coprocessor, 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].result, c.reason);
  EXPECT_EQ(entries[0].to, State::kOffline);
}

sim::v1::Profile ScmFailure(const std::string& coprocessor,
                            const std::string& call) {
  return WithFault(coprocessor, [&](sim::v1::Fault* f) {
    f->mutable_scm_failure()->set_call(call);
    f->mutable_scm_failure()->set_occurrence(1);
    f->mutable_scm_failure()->set_status(-22);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Engine, FailureTest,
    ::testing::Values(
        Case("CorruptedSegment", "HASH_MISMATCH",
             [](SimEngine& sim) {
               std::string image = SimEngine::Signed(0x9bb00000, 0x400000, 0xe);
               image[image.size() - 100] ^= 0x40;
               sim.WriteFirmware(testing::kVideoFirmware, image);
             }),
        Case("TooBigForCarveout", "IMAGE_TOO_LARGE",
             [](SimEngine& sim) {
               sim.WriteFirmware(testing::kVideoFirmware,
                                 SimEngine::Signed(0x9bb00000, 0x800000, 0xe));
             }),
        Case("MissingFirmware", "FIRMWARE_NOT_FOUND",
             [](SimEngine& sim) {
               std::filesystem::remove(sim.firmware_dir() + "/" +
                                       testing::kVideoFirmware);
             }),
        Case(
            "MissingDtbImage", "FIRMWARE_NOT_FOUND",
            [](SimEngine& sim) {
              std::filesystem::remove(sim.firmware_dir() +
                                      "/qcom/sm8550/adsp_dtb.mbn");
            },
            {}, "adsp"),
        Case("WrongImageType", "SW_ID_MISMATCH",
             [](SimEngine& sim) {
               // A CDSP image where the codec's belongs.
               sim.WriteFirmware(testing::kVideoFirmware,
                                 SimEngine::Signed(0x9bb00000, 0x400000, 0x17));
             }),
        Case("NeverReady", "READY_TIMEOUT", nullptr,
             WithFault("video",
                       [](sim::v1::Fault* f) { f->set_never_ready(true); })),
        Case("AuthAndResetFails", "SCM_CALL_FAILED", nullptr,
             ScmFailure("cdsp", "pas_auth_and_reset"), "cdsp"),
        Case("BridgeFails", "SCM_CALL_FAILED", nullptr,
             ScmFailure("adsp", "shm_bridge_create"), "adsp")),
    [](const ::testing::TestParamInfo<FailureCase>& info) {
      return info.param.name;
    });

TEST(Engine, SkippedMapOnAnOsOwnedIommuFaultsAndRollsBack) {
  // The hypervisor board's device tree (no firmware streams) on a SoC
  // without a hypervisor: an EL1 device tree booted at EL2.
  sim::v1::Profile profile;
  profile.set_hypervisor(false);
  SimEngine sim("sm8550-hyp-sim", profile);
  auto auth = sim.engine().Authenticate("video", {}, {});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto mapped = sim.engine().Map("video", {});
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_THAT(mapped->note, HasSubstr("nothing mapped"));
  EXPECT_TRUE(mapped->steps.empty());
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  ASSERT_FALSE(reset.ok());
  EXPECT_EQ(ReasonOf(reset.status()), "SMMU_FAULT") << reset.status();
  EXPECT_THAT(reset.status().message(),
              HasSubstr("was the firmware stream mapped?"));
  const ErrorMetadata metadata = MetadataOf(reset.status());
  EXPECT_EQ(metadata.at("coprocessor"), "video");
  EXPECT_EQ(metadata.at("fault"), "unmatched stream");
  EXPECT_FALSE(metadata.at("sid").empty());
  sim.ExpectClean("video");
}

TEST(Engine, HypervisorBoardMapsNothingAndNeverBridges) {
  SimEngine sim("sm8550-hyp-sim");
  auto auth = sim.engine().Authenticate("video", {}, {});
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto mapped = sim.engine().Map("video", {});
  ASSERT_TRUE(mapped.ok());
  EXPECT_THAT(mapped->note, HasSubstr("IOMMU managed by the hypervisor"));
  auto reset = sim.engine().Reset("video", absl::ZeroDuration(), {});
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_THAT(StepNames(*reset), ElementsAre("pas_auth_and_reset", "wait_ready",
                                             "release_metadata"));
  auto view = sim.engine().Get("video", true);
  ASSERT_EQ(view->hardware.mappings.size(), 1u);
  EXPECT_EQ(view->hardware.mappings[0].owner,
            platform::MappingOwner::kHypervisor);
  ASSERT_TRUE(sim.engine().Stop("video", absl::ZeroDuration(), {}).ok());
  view = sim.engine().Get("video", true);
  EXPECT_TRUE(view->hardware.mappings.empty());
}

TEST(Engine, ResourceTableDeviceMemoryIsMappedAndUnmapped) {
  sim::v1::Profile profile;
  sim::v1::Peripheral* p = profile.add_peripherals();
  p->set_coprocessor("cdsp");
  sim::v1::DevMem* devmem = p->add_devmem();
  devmem->set_da(0x20000000);
  devmem->set_pa(0x0a000000);
  devmem->set_length(0x2000);
  devmem->set_name("ipc-regs");
  SimEngine sim("sm8550-el2-sim", profile);
  auto started = sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {});
  ASSERT_TRUE(started.ok()) << started.status();
  auto view = sim.engine().Get("cdsp", true);
  ASSERT_TRUE(view.ok()) << view.status();
  bool found = false;
  for (const auto& m : view->hardware.mappings) {
    if (m.iova == 0x20000000) {
      found = true;
      EXPECT_EQ(m.pa, 0x0a000000u);
      EXPECT_EQ(m.size, 0x2000u);
    }
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(sim.engine().Stop("cdsp", absl::ZeroDuration(), {}).ok());
  sim.ExpectClean("cdsp");
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
  EXPECT_EQ(sim.history().Query("video", 100).size(), 1u);

  auto reused = sim.engine().Stop("video", absl::ZeroDuration(), ctx);
  EXPECT_EQ(ReasonOf(reused.status()), "REQUEST_ID_REUSED");
  EXPECT_EQ(sim.engine().Get("video")->state, State::kRunning);

  // A failure replays as the same failure.
  CallContext failing;
  failing.request_id = "map-while-running";
  auto map = sim.engine().Map("video", failing);
  auto map_again = sim.engine().Map("video", failing);
  EXPECT_EQ(ReasonOf(map.status()), "WRONG_STATE");
  EXPECT_EQ(map_again.status(), map.status());
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
        seen.emplace_back(e.status.state, e.reason);
      },
      &initial);
  ASSERT_TRUE(sim.engine().Start("cdsp", {}, absl::ZeroDuration(), {}).ok());
  // The fault fires once: the restart comes up and stays up.
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<std::pair<State, std::string>>* seen) {
              return !seen->empty() && seen->back().second == "recovered";
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
    EXPECT_EQ(seen[3].second, "WATCHDOG");
  }
  auto status = sim.engine().Get("cdsp");
  EXPECT_EQ(status->crash_count, 1u);

  auto dump = sim.engine().GetCoredump("cdsp", 0);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(dump->reason, "WATCHDOG");
  EXPECT_EQ(dump->crash_id, 1u);
  auto elf = image::ParseElfHeaders(dump->bytes);
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

  std::vector<std::string> operations;
  for (const HistoryEntry& e : sim.history().Query("cdsp", 10)) {
    operations.push_back(e.operation + ":" + e.result);
  }
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
