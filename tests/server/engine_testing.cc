#include "tests/server/engine_testing.h"

#include <stdlib.h>

#include <filesystem>

#include "common/file.h"
#include "gtest/gtest.h"
#include "platform/devicetree/discovery.h"
#include "tests/sim/sim_testing.h"

namespace pil::server::testing {
namespace {

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern =
      std::string(base != nullptr ? base : "/tmp") + "/engine-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

}  // namespace

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

sim::v1::Profile WithFault(const std::string& name,
                           const std::function<void(sim::v1::Fault*)>& set) {
  sim::v1::Profile profile;
  sim::v1::Fault* fault = profile.add_faults();
  fault->set_coprocessor(name);
  set(fault);
  return profile;
}

EngineOptions SimEngine::DefaultOptions() {
  EngineOptions options;
  options.ready_timeout = absl::Seconds(2);
  options.stop_ack_timeout = absl::Seconds(2);
  options.recovery.initial_backoff = absl::Milliseconds(10);
  return options;
}

std::string SimEngine::Signed(uint64_t base, uint64_t size, uint32_t sw_id,
                              int version) {
  return std::string(
      sim::testing::SignedFor(base, size, sw_id, version).main_file());
}

SimEngine::SimEngine(const std::string& board, const sim::v1::Profile& profile,
                     EngineOptions options)
    : dir_(TempDir()) {
  const std::string dtb = sim::testing::BundledDtb(board);
  soc_ = sim::testing::MakeSoc(dtb, profile);
  board_ = *devicetree::Discover(dtb);
  WriteFirmware("qcom/sm8550/adsp.mbn", Signed(0x9ea00000, 0x400000, 0x4));
  WriteFirmware("qcom/sm8550/adsp_dtb.mbn", Signed(0x9e980000, 0x40000, 0x53));
  WriteFirmware("qcom/sm8550/cdsp.mbn", Signed(0x9c900000, 0x400000, 0x17));
  WriteFirmware("qcom/sm8550/cdsp_dtb.mbn", Signed(0x9e900000, 0x40000, 0x52));
  WriteFirmware(kVideoFirmware, Signed(0x9bb00000, 0x400000, 0xe));
  store_ = std::make_unique<FirmwareStore>(std::vector<std::string>{dir_});
  Restart(options);
}

SimEngine::~SimEngine() {
  engine_.reset();
  backend_.reset();
  journal_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void SimEngine::Restart(EngineOptions options) {
  engine_.reset();
  backend_.reset();
  journal_.reset();
  auto journal = Journal::Open(dir_ + "/journal.db");
  ASSERT_TRUE(journal.ok()) << journal.status();
  journal_ = std::move(*journal);
  if (options.journal == nullptr) options.journal = journal_.get();
  backend_ =
      std::make_unique<pas::PasBackend>(soc_.get(), board_, pas::PasOptions());
  engine_ = std::make_unique<LifecycleEngine>(backend_.get(), board_,
                                              store_.get(), &history_, options);
  auto adopted = engine_->Adopt();
  ASSERT_TRUE(adopted.ok()) << adopted.status();
}

void SimEngine::WriteFirmware(const std::string& name,
                              const std::string& bytes) {
  const std::string path = dir_ + "/" + name;
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  ASSERT_TRUE(WriteFile(path, bytes).ok());
}

void SimEngine::ExpectClean(const std::string& name) {
  auto status = engine_->Get(name);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, State::kOffline) << name;
  const devicetree::CoprocessorNode& node = *status->node;
  auto hw = soc_->Observe();
  ASSERT_TRUE(hw.ok());
  for (const auto& p : hw->peripherals) {
    if (p.pas_id == *node.pas_id ||
        (node.dtb_pas_id && p.pas_id == *node.dtb_pas_id)) {
      EXPECT_EQ(p.state, pas::PasState::kIdle)
          << name << " PAS id " << p.pas_id;
      EXPECT_FALSE(p.metadata_held) << name << " PAS id " << p.pas_id;
    }
  }
  for (const auto& b : hw->bridges) {
    for (const auto& c : node.carveouts) {
      EXPECT_FALSE(b.base < c.base + c.size && c.base < b.base + b.size)
          << name << ": bridge " << b.handle << " left over its carveout";
    }
  }
  auto in_carveouts = [&](uint64_t base, uint64_t size) {
    for (const auto& c : node.carveouts) {
      if (base < c.base + c.size && c.base < base + size) return true;
    }
    return false;
  };
  const bool has_stream = node.firmware_stream.has_value();
  for (const auto& s : hw->streams) {
    EXPECT_FALSE(s.owner == platform::MappingOwner::kOs && has_stream &&
                 s.sid == node.firmware_stream->sid)
        << name << ": OS stream 0x" << std::hex << s.sid << " left";
  }
  for (const auto& m : hw->mappings) {
    EXPECT_FALSE(m.owner == platform::MappingOwner::kOs &&
                 ((has_stream && m.sid == node.firmware_stream->sid) ||
                  in_carveouts(m.pa, m.size)))
        << name << ": OS mapping of stream 0x" << std::hex << m.sid << " at 0x"
        << m.iova << " left";
  }
  for (const auto& c : hw->cores) {
    if (c.coprocessor == node.path) {
      EXPECT_TRUE(c.state == pas::CoreState::kOff ||
                  c.state == pas::CoreState::kStopped)
          << name << " core is " << pas::CoreStateName(c.state);
    }
  }
  auto observed = engine_->Get(name, /*observe=*/true);
  ASSERT_TRUE(observed.ok());
  EXPECT_FALSE(observed->hardware.metadata_held);
  EXPECT_TRUE(observed->hardware.bridges.empty());
}

}  // namespace pil::server::testing
