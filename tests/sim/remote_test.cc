// pilsim in its own process, driven through RemotePlatform: the simulated
// hardware outlives its client, as real hardware outlives pild.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "platform/sim/proto/sim.grpc.pb.h"
#include "platform/sim/remote_platform.h"
#include "tests/sim/sim_testing.h"
#include "tests/testing/realdata.h"
#include "tests/testing/subprocess.h"

namespace pil::sim {
namespace {

using pas::SignalKind;
using testing::Boot;
using testing::SignalLog;
using testing::SignedFor;

constexpr char kVideo[] = "/soc@0/video-codec@aa00000";
constexpr uint64_t kVideoBase = 0x9bb00000, kVideoSize = 0x700000;

class Pilsim : public ::testing::Test {
 protected:
  void SetUp() override {
    // Socket paths are limited to 107 bytes: use a short directory.
    char dir[] = "/tmp/pilsim-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    socket_ = dir_ + "/pilsim.sock";
    process_ = std::make_unique<pil::testing::Subprocess>(
        std::vector<std::string>{
            pil::testing::RunfilePath("platform/sim/pilsim"),
            "--board=sm8550-el2-sim", "--listen=unix:" + socket_},
        dir_ + "/pilsim.log");
  }
  void TearDown() override {
    process_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<RemotePlatform> Connect() {
    auto platform = RemotePlatform::Connect("unix:" + socket_);
    if (!platform.ok()) {
      ADD_FAILURE() << platform.status();
      return nullptr;
    }
    return std::move(*platform);
  }

  std::string dir_, socket_;
  std::unique_ptr<pil::testing::Subprocess> process_;
};

TEST_F(Pilsim, BootsThroughTheRemotePlatform) {
  auto platform = Connect();
  ASSERT_NE(platform, nullptr);
  EXPECT_FALSE(platform->board().hypervisor());
  EXPECT_FALSE(platform->board().dtb().empty());
  SignalLog log(*platform);
  Boot boot{*platform, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());  // through the shared memory file
  ASSERT_TRUE(boot.MapStream(0x19e2, 0, true).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto ready = log.Next(kVideo);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->kind, SignalKind::kReady);
  // Errors keep their reason across the process boundary.
  absl::Status again = platform->PasInitImage(9, image.Metadata());
  EXPECT_EQ(ReasonOf(again), "PAS_WRONG_STATE");
  EXPECT_EQ(MetadataOf(again).at("scm_status"), "-12");
}

TEST_F(Pilsim, HardwareStateOutlivesTheClient) {
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  {
    // A first OS gets as far as the mapping, then dies.
    auto first = Connect();
    ASSERT_NE(first, nullptr);
    Boot boot{*first, 9, kVideoBase, kVideoSize};
    ASSERT_TRUE(boot.Init(image).ok());
    ASSERT_TRUE(boot.Copy(image).ok());
    ASSERT_TRUE(boot.MapStream(0x19e2, 0, true).ok());
  }
  auto second = Connect();
  ASSERT_NE(second, nullptr);
  auto state = second->Observe();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->mappings.size(), 1u);
  EXPECT_EQ(state->mappings[0].sid, 0x19e2u);
  EXPECT_EQ(state->mappings[0].pa, kVideoBase);
  bool held = false;
  for (const auto& p : state->peripherals)
    held |= p.pas_id == 9 && p.metadata_held;
  EXPECT_TRUE(held);
  // The segments are still in the carveout: authentication passes.
  SignalLog log(*second);
  Boot boot{*second, 9, kVideoBase, kVideoSize};
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  EXPECT_EQ(log.Next(kVideo)->kind, SignalKind::kReady);
}

TEST_F(Pilsim, FaultsInjectedRemotely) {
  auto platform = Connect();
  ASSERT_NE(platform, nullptr);
  v1::Fault fault;
  fault.set_coprocessor("video");
  fault.set_watchdog_after_ms(20);
  ASSERT_TRUE(platform->InjectFault(fault).ok());
  fault.set_coprocessor("gpu");
  EXPECT_EQ(ReasonOf(platform->InjectFault(fault)), "UNKNOWN_COPROCESSOR");
  SignalLog log(*platform);
  Boot boot{*platform, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(boot.MapStream(0x19e2, 0, true).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  EXPECT_EQ(log.Next(kVideo)->kind, SignalKind::kReady);
  EXPECT_EQ(log.Next(kVideo)->kind, SignalKind::kHandover);
  auto crash = log.Next(kVideo);
  ASSERT_TRUE(crash.ok());
  EXPECT_EQ(crash->kind, SignalKind::kWatchdog);
}

// Call faults act between the client and the SoC: a failure has no effect,
// a held reply comes after the call took effect, and Observe names it
// meanwhile.
TEST_F(Pilsim, CallFaultsFailOrHoldTheReply) {
  auto platform = Connect();
  ASSERT_NE(platform, nullptr);
  v1::Fault fail;
  fail.mutable_call_fault()->set_call("iommu_attach");
  fail.mutable_call_fault()->set_fail_status(-12);
  ASSERT_TRUE(platform->InjectFault(fail).ok());
  absl::StatusOr<uint32_t> attached = platform->iommu().Attach(0x19e2, 0);
  EXPECT_EQ(ReasonOf(attached.status()), "INJECTED_FAILURE");
  EXPECT_EQ(MetadataOf(attached.status()).at("status"), "-12");
  EXPECT_TRUE(platform->Observe()->streams.empty());

  v1::Fault hold;
  hold.mutable_call_fault()->set_call("iommu_attach");
  hold.mutable_call_fault()->set_hold_ms(1000);
  ASSERT_TRUE(platform->InjectFault(hold).ok());
  std::thread attach([&] { attached = platform->iommu().Attach(0x19e2, 0); });
  auto channel = grpc::CreateChannel("unix:" + socket_,
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::SimSoc::NewStub(channel);
  v1::HardwareState held;
  for (int i = 0; i < 500 && held.held().empty(); ++i) {
    grpc::ClientContext context;
    held.Clear();
    ASSERT_TRUE(stub->Observe(&context, v1::ObserveRequest(), &held).ok());
    if (held.held().empty()) absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(held.held_size(), 1);
  EXPECT_EQ(held.held(0), "iommu_attach");
  EXPECT_EQ(held.streams_size(), 1);  // it took effect before the reply
  attach.join();
  EXPECT_TRUE(attached.ok()) << attached.status();
}

TEST_F(Pilsim, PowersOffCleanly) {
  auto platform = Connect();
  ASSERT_NE(platform, nullptr);
  const std::string memory = platform->board().memory_path();
  EXPECT_TRUE(std::filesystem::exists(memory));
  platform.reset();
  const int status = process_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(std::filesystem::exists(socket_));
  EXPECT_FALSE(std::filesystem::exists(memory));
  auto gone =
      RemotePlatform::Connect("unix:" + socket_, absl::Milliseconds(200));
  EXPECT_EQ(ReasonOf(gone.status()), "SIM_UNAVAILABLE");
}

}  // namespace
}  // namespace pil::sim
