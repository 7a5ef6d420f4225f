// The simulated SoC at model level: the boot flow's rules and how each
// mistake fails.
#include "platform/sim/soc.h"

#include <string>

#include "common/error.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/sim/sim_testing.h"

namespace pil::sim {
namespace {

using pas::SignalKind;
using testing::Boot;
using testing::BundledDtb;
using ::testing::HasSubstr;
using testing::MakeSoc;
using testing::SignalLog;
using testing::SignedFor;

constexpr char kVideo[] = "/soc@0/video-codec@aa00000";
constexpr char kAdsp[] = "/soc@0/remoteproc@6800000";
constexpr char kCdsp[] = "/soc@0/remoteproc@32300000";
constexpr uint64_t kVideoBase = 0x9bb00000, kVideoSize = 0x700000;
constexpr uint64_t kCdspBase = 0x9c900000, kCdspSize = 0x2000000;
constexpr uint64_t kCdspDtbBase = 0x9e900000, kCdspDtbSize = 0x80000;

class El2Board : public ::testing::Test {
 protected:
  El2Board() : soc_(MakeSoc(BundledDtb("sm8550-el2-sim"))), log_(*soc_) {}
  Boot VideoBoot() { return Boot{*soc_, 9, kVideoBase, kVideoSize}; }
  image::FirmwareImage Video(int version = 7) {
    return SignedFor(kVideoBase, 0x200000, 0xe, version);
  }
  pas::HardwareState State() { return *soc_->Observe(); }

  std::unique_ptr<SimSoc> soc_;
  SignalLog log_;
};

TEST_F(El2Board, LinuxOwnsTheIommu) {
  EXPECT_FALSE(soc_->hypervisor());
  EXPECT_TRUE(*soc_->PasIsSupported(9));
  EXPECT_TRUE(*soc_->PasIsSupported(37));  // cdsp DTB image
  EXPECT_FALSE(*soc_->PasIsSupported(4));  // mpss is disabled on this board
}

// The seed scenario: authenticated and out of reset without the firmware
// stream mapped, the core faults at its first fetch.
TEST_F(El2Board, MissingMapFaultsAtTheFirstFetch) {
  Boot boot = VideoBoot();
  const image::FirmwareImage image = Video();
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto signal = log_.Next(kVideo);
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ(signal->kind, SignalKind::kSmmuFault);
  ASSERT_TRUE(signal->fault.has_value());
  EXPECT_EQ(signal->fault->sid, 0x19e2u);
  EXPECT_EQ(signal->fault->iova, 0u);  // the carveout's first IOVA (video: 0)
  EXPECT_EQ(signal->fault->kind, platform::FaultKind::kUnmatchedStream);
  EXPECT_THAT(signal->detail,
              HasSubstr("stream 0x19e2 reading firmware at iova 0x0"));
  pas::HardwareState state = State();
  ASSERT_EQ(state.faults.size(), 1u);
  EXPECT_EQ(state.faults[0].fault.sid, 0x19e2u);
  EXPECT_EQ(state.faults[0].coprocessor, kVideo);
}

TEST_F(El2Board, AttachedButUnmappedIsATranslationFault) {
  Boot boot = VideoBoot();
  const image::FirmwareImage image = Video();
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(soc_->Attach(0x19e2, 0).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto signal = log_.Next(kVideo);
  ASSERT_TRUE(signal.ok());
  EXPECT_EQ(signal->kind, SignalKind::kSmmuFault);
  EXPECT_EQ(signal->fault->kind, platform::FaultKind::kTranslation);
  EXPECT_EQ(signal->fault->iova, 0u);
}

TEST_F(El2Board, MappedStreamBootsToReadyAndHandover) {
  Boot boot = VideoBoot();
  const image::FirmwareImage image = Video();
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(boot.MapStream(0x19e2, 0, /*video=*/true).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto ready = log_.Next(kVideo);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->kind, SignalKind::kReady);
  auto handover = log_.Next(kVideo);
  ASSERT_TRUE(handover.ok());
  EXPECT_EQ(handover->kind, SignalKind::kHandover);
  pas::HardwareState state = State();
  EXPECT_TRUE(state.faults.empty());
  EXPECT_TRUE(state.bridges.empty());  // bridged only while authenticating
  for (const auto& core : state.cores) {
    if (core.coprocessor == kVideo) {
      EXPECT_EQ(core.state, pas::CoreState::kRunning);
    }
  }
  for (const auto& p : state.peripherals) {
    if (p.pas_id == 9) {
      EXPECT_EQ(p.state, pas::PasState::kRunning);
      EXPECT_TRUE(p.metadata_held);  // until the OS releases it
    }
  }
  ASSERT_TRUE(soc_->ReleaseMetadata(9).ok());
  // Stop: request, ack, shutdown.
  ASSERT_TRUE(soc_->RequestStop(kVideo).ok());
  auto ack = log_.Next(kVideo);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->kind, SignalKind::kStopAck);
  ASSERT_TRUE(soc_->PasShutdown(9).ok());
  state = State();
  for (const auto& p : state.peripherals) {
    if (p.pas_id == 9) {
      EXPECT_EQ(p.state, pas::PasState::kIdle);
      EXPECT_FALSE(p.metadata_held);
    }
  }
}

TEST_F(El2Board, RemoteprocUsesAnIdentityMapping) {
  Boot cdsp{*soc_, 18, kCdspBase, kCdspSize};
  Boot dtb{*soc_, 37, kCdspDtbBase, kCdspDtbSize};
  const image::FirmwareImage dtb_image =
      SignedFor(kCdspDtbBase, 0x10000, 0x52, 6);
  ASSERT_TRUE(dtb.Init(dtb_image).ok());
  ASSERT_TRUE(dtb.Copy(dtb_image).ok());
  ASSERT_TRUE(dtb.AuthWithBridge().ok());
  const image::FirmwareImage image = SignedFor(kCdspBase, 0x400000, 0x17, 6);
  ASSERT_TRUE(cdsp.Init(image).ok());
  ASSERT_TRUE(cdsp.Copy(image).ok());
  auto domain = cdsp.MapStream(0xc00, 0, /*video=*/false);
  ASSERT_TRUE(domain.ok());
  ASSERT_TRUE(cdsp.AuthWithBridge().ok());
  auto ready = log_.Next(kCdsp);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->kind, SignalKind::kReady);
  pas::HardwareState state = State();
  ASSERT_EQ(state.mappings.size(), 1u);
  EXPECT_EQ(state.mappings[0].sid, 0xc00u);
  EXPECT_EQ(state.mappings[0].iova, kCdspBase);
  EXPECT_EQ(state.mappings[0].pa, kCdspBase);
  EXPECT_EQ(state.mappings[0].owner, platform::MappingOwner::kOs);
}

TEST_F(El2Board, MissingDtbImageIsFatal) {
  Boot cdsp{*soc_, 18, kCdspBase, kCdspSize};
  const image::FirmwareImage image = SignedFor(kCdspBase, 0x100000, 0x17);
  ASSERT_TRUE(cdsp.Init(image).ok());
  ASSERT_TRUE(cdsp.Copy(image).ok());
  ASSERT_TRUE(cdsp.MapStream(0xc00, 0, false).ok());
  ASSERT_TRUE(cdsp.AuthWithBridge().ok());
  auto signal = log_.Next(kCdsp);
  ASSERT_TRUE(signal.ok());
  EXPECT_EQ(signal->kind, SignalKind::kFatal);
  EXPECT_THAT(signal->detail, HasSubstr("no DTB image (PAS id 37 is idle)"));
}

TEST_F(El2Board, AuthenticationNeedsABridge) {
  Boot boot = VideoBoot();
  const image::FirmwareImage image = Video();
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  absl::Status s = soc_->PasAuthAndReset(9);
  EXPECT_EQ(ReasonOf(s), "SHM_BRIDGE_MISSING");
  EXPECT_EQ(MetadataOf(s).at("scm_status"), "-1");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("no SHM bridge covers PAS id 9's memory"));
  // A bridge over part of the carveout is not enough.
  auto bridge = soc_->ShmBridgeCreate(kVideoBase, 0x1000);
  ASSERT_TRUE(bridge.ok());
  EXPECT_EQ(ReasonOf(soc_->PasAuthAndReset(9)), "SHM_BRIDGE_MISSING");
}

TEST_F(El2Board, OverlappingBridgesAreRefused) {
  auto a = soc_->ShmBridgeCreate(kVideoBase, 0x10000);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(
      ReasonOf(soc_->ShmBridgeCreate(kVideoBase + 0x8000, 0x10000).status()),
      "SHM_BRIDGE_OVERLAP");
  EXPECT_TRUE(soc_->ShmBridgeCreate(kVideoBase + 0x10000, 0x1000).ok());
  EXPECT_TRUE(soc_->ShmBridgeDelete(*a).ok());
  EXPECT_EQ(ReasonOf(soc_->ShmBridgeDelete(*a)), "NO_SUCH_BRIDGE");
}

TEST_F(El2Board, CallOrder) {
  const image::FirmwareImage image = Video();
  auto reason = [](const absl::Status& s) { return ReasonOf(s); };
  // No auth, mem_setup or shutdown without init.
  EXPECT_EQ(reason(soc_->PasAuthAndReset(9)), "PAS_WRONG_STATE");
  EXPECT_THAT(std::string(soc_->PasAuthAndReset(9).message()),
              HasSubstr("init_image comes first"));
  EXPECT_EQ(reason(soc_->PasMemSetup(9, kVideoBase, 0x1000)),
            "PAS_WRONG_STATE");
  EXPECT_EQ(reason(soc_->PasShutdown(9)), "PAS_WRONG_STATE");
  // No second init while initialized.
  ASSERT_TRUE(soc_->PasInitImage(9, image.Metadata()).ok());
  absl::Status again = soc_->PasInitImage(9, image.Metadata());
  EXPECT_EQ(reason(again), "PAS_WRONG_STATE");
  EXPECT_THAT(std::string(again.message()), HasSubstr("metadata held"));
  // Releasing the metadata returns to idle: auth is refused again.
  ASSERT_TRUE(soc_->ReleaseMetadata(9).ok());
  ASSERT_TRUE(soc_->ReleaseMetadata(9).ok());  // idempotent
  EXPECT_EQ(reason(soc_->PasAuthAndReset(9)), "PAS_WRONG_STATE");
  // No init while running.
  Boot boot = VideoBoot();
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(boot.MapStream(0x19e2, 0, true).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  EXPECT_EQ(reason(soc_->PasInitImage(9, image.Metadata())), "PAS_WRONG_STATE");
  EXPECT_EQ(reason(soc_->PasAuthAndReset(9)), "PAS_WRONG_STATE");
  EXPECT_TRUE(soc_->PasShutdown(9).ok());
  // Unknown PAS ids.
  EXPECT_EQ(reason(soc_->PasInitImage(77, image.Metadata())),
            "PAS_NOT_SUPPORTED");
  // The call log records every call with its SCM status.
  pas::HardwareState state = State();
  ASSERT_FALSE(state.calls.empty());
  EXPECT_EQ(state.calls.back().call, "pas_init_image");
  EXPECT_EQ(state.calls.back().status, -4);
}

TEST_F(El2Board, RelocatableImageNeedsMemSetup) {
  const image::FirmwareImage image = Video();
  ASSERT_TRUE(soc_->PasInitImage(9, image.Metadata()).ok());
  Boot boot = VideoBoot();
  ASSERT_TRUE(boot.Copy(image).ok());
  auto bridge = soc_->ShmBridgeCreate(kVideoBase, kVideoSize);
  EXPECT_EQ(ReasonOf(soc_->PasAuthAndReset(9)), "MEM_SETUP_MISSING");
  EXPECT_EQ(ReasonOf(soc_->PasMemSetup(9, kVideoBase + kVideoSize, 0x1000)),
            "SEGMENT_OUTSIDE_CARVEOUT");
}

TEST_F(El2Board, MetadataMustBeHeadersAndHashSegment) {
  const image::FirmwareImage image = Video();
  std::string metadata = image.Metadata();
  absl::Status s =
      soc_->PasInitImage(9, metadata.substr(0, metadata.size() - 1));
  EXPECT_EQ(ReasonOf(s), "METADATA_INVALID");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(soc_->PasInitImage(9, "garbage")), "METADATA_INVALID");
}

TEST_F(El2Board, SwIdMustMatchThePasId) {
  const image::FirmwareImage cdsp_image = SignedFor(kVideoBase, 0x100000, 0x17);
  absl::Status s = soc_->PasInitImage(9, cdsp_image.Metadata());
  EXPECT_EQ(ReasonOf(s), "SW_ID_MISMATCH");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(MetadataOf(s).at("expected"), "0xe");
  EXPECT_EQ(MetadataOf(s).at("found"), "0x17");
}

TEST(SecureWorld, RollbackBelowTheFusedMinimum) {
  v1::Profile profile;
  v1::Peripheral* video = profile.add_peripherals();
  video->set_coprocessor("video");
  video->set_anti_rollback_minimum(3);
  auto soc = MakeSoc(BundledDtb("sm8550-el2-sim"), profile);
  absl::Status s = soc->PasInitImage(
      9, SignedFor(kVideoBase, 0x100000, 0xe, 6, 2).Metadata());
  EXPECT_EQ(ReasonOf(s), "ROLLBACK");
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr("anti-rollback version 2 is below the fused minimum 3"));
  EXPECT_TRUE(soc->PasInitImage(
                     9, SignedFor(kVideoBase, 0x100000, 0xe, 6, 3).Metadata())
                  .ok());
}

TEST(SecureWorld, UntrustedRootIsRejected) {
  auto soc = MakeSoc(BundledDtb("sm8550-el2-sim"));
  auto rogue =
      image::SigningChain::Generate(image::SigningChain::Kind::kRsa, "rogue");
  ASSERT_TRUE(rogue.ok());
  image::SyntheticOptions synth;
  synth.base = kVideoBase;
  image::SignOptions options;
  options.sw_id = 0xe;
  auto mbn = image::SignImage(image::SyntheticFirmware(synth), *rogue, options);
  auto image = image::FirmwareImage::FromBytes("fw.mbn", *mbn);
  absl::Status s = soc->PasInitImage(9, image->Metadata());
  EXPECT_EQ(ReasonOf(s), "ROOT_NOT_TRUSTED");
  EXPECT_EQ(MetadataOf(s).at("root_sha256"), rogue->root_sha256());
  // The profile decides which roots are fused.
  v1::Profile profile;
  profile.add_trusted_root_sha256(rogue->root_sha256());
  auto trusting = MakeSoc(BundledDtb("sm8550-el2-sim"), profile);
  EXPECT_TRUE(trusting->PasInitImage(9, image->Metadata()).ok());
  EXPECT_EQ(ReasonOf(trusting->PasInitImage(
                9 + 9, SignedFor(kCdspBase, 0x100000, 0x17).Metadata())),
            "ROOT_NOT_TRUSTED");
}

TEST_F(El2Board, ChangedByteAfterInitNamesTheSegment) {
  Boot boot = VideoBoot();
  const image::FirmwareImage image = Video(6);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  // Segment 3 (data) lands at base + (paddr - min paddr).
  const image::ProgramHeader& data = image.segments()[3];
  auto bytes = soc_->memory().Map(kVideoBase + (data.paddr - 0x9bb00000), 16);
  ASSERT_TRUE(bytes.ok());
  (*bytes)[5] ^= 0x40;
  absl::Status s = boot.AuthWithBridge();
  EXPECT_EQ(ReasonOf(s), "HASH_MISMATCH");
  EXPECT_EQ(MetadataOf(s).at("segment"), "3");
  EXPECT_THAT(std::string(s.message()), HasSubstr("segment 3 in memory"));
  // Nothing was released from reset.
  for (const auto& p : State().peripherals) {
    if (p.pas_id == 9) {
      EXPECT_EQ(p.state, pas::PasState::kInitialized);
    }
  }
}

class Faults : public El2Board {
 protected:
  void Inject(const std::string& text) {
    v1::Fault fault;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &fault));
    ASSERT_TRUE(soc_->InjectFault(fault).ok());
  }
  absl::Status BootVideo() {
    Boot boot = VideoBoot();
    const image::FirmwareImage image = Video();
    if (absl::Status s = boot.Init(image); !s.ok()) return s;
    if (absl::Status s = boot.Copy(image); !s.ok()) return s;
    if (auto d = boot.MapStream(0x19e2, 0, true); !d.ok()) return d.status();
    return boot.AuthWithBridge();
  }
};

TEST_F(Faults, Watchdog) {
  Inject("coprocessor: 'video' watchdog_after_ms: 30");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kReady);
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kHandover);
  auto crash = log_.Next(kVideo);
  ASSERT_TRUE(crash.ok());
  EXPECT_EQ(crash->kind, SignalKind::kWatchdog);
  EXPECT_THAT(crash->detail, HasSubstr("watchdog bite"));
}

TEST_F(Faults, FatalError) {
  Inject("coprocessor: 'video' fatal_after_ms: 10");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kReady);
  auto next = log_.Next(kVideo);
  if (next->kind == SignalKind::kHandover) next = log_.Next(kVideo);
  EXPECT_EQ(next->kind, SignalKind::kFatal);
}

TEST_F(Faults, NeverReady) {
  Inject("coprocessor: 'video' never_ready: true");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo, absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  for (const auto& core : State().cores) {
    if (core.coprocessor == kVideo) {
      EXPECT_EQ(core.state, pas::CoreState::kBooting);
    }
  }
}

TEST_F(Faults, StopAckTimeout) {
  Inject("coprocessor: 'video' stop_ack_timeout: true");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kReady);
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kHandover);
  ASSERT_TRUE(soc_->RequestStop(kVideo).ok());
  EXPECT_EQ(log_.Next(kVideo, absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  // Shutdown works regardless.
  EXPECT_TRUE(soc_->PasShutdown(9).ok());
}

TEST_F(Faults, CrashWhileBooting) {
  Inject("coprocessor: 'video' crash_while_booting: true");
  ASSERT_TRUE(BootVideo().ok());
  auto crash = log_.Next(kVideo);
  ASSERT_TRUE(crash.ok());
  EXPECT_EQ(crash->kind, SignalKind::kFatal);
  EXPECT_THAT(crash->detail, HasSubstr("while booting"));
}

TEST_F(Faults, CrashOnStop) {
  Inject("coprocessor: 'video' crash_on_stop: true");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kReady);
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kHandover);
  ASSERT_TRUE(soc_->RequestStop(kVideo).ok());
  auto crash = log_.Next(kVideo);
  ASSERT_TRUE(crash.ok());
  EXPECT_EQ(crash->kind, SignalKind::kFatal);
  EXPECT_THAT(crash->detail, HasSubstr("while stopping"));
  EXPECT_TRUE(soc_->PasShutdown(9).ok());
}

TEST_F(Faults, CallFaultsAreCheckedAndCountedAcrossTheSoc) {
  v1::Fault fault;
  auto inject = [&](const std::string& text) {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &fault));
    return soc_->InjectFault(fault);
  };
  absl::Status bad = inject("call_fault { call: 'pas_frobnicate' hold_ms: 1 }");
  EXPECT_EQ(ReasonOf(bad), "BAD_FAULT");
  EXPECT_THAT(std::string(bad.message()), HasSubstr("iommu_map"));
  EXPECT_EQ(ReasonOf(inject("call_fault { call: 'iommu_map' }")), "BAD_FAULT");
  EXPECT_EQ(ReasonOf(inject("call_fault { call: 'iommu_map' hold_ms: 1 "
                            "fail_status: -1 }")),
            "BAD_FAULT");
  EXPECT_EQ(ReasonOf(inject("call_fault { call: 'iommu_map' hold_ms: 60001 }")),
            "BAD_FAULT");
  ASSERT_TRUE(
      inject("call_fault { call: 'iommu_map' occurrence: 2 hold_ms: 5 }").ok());
  EXPECT_FALSE(soc_->TakeCallFault("iommu_map").has_value());
  EXPECT_FALSE(soc_->TakeCallFault("iommu_unmap").has_value());
  auto second = soc_->TakeCallFault("iommu_map");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->hold_ms(), 5u);
  EXPECT_FALSE(soc_->TakeCallFault("iommu_map").has_value());  // once
}

TEST_F(Faults, ScmFailureAtAChosenCall) {
  Inject(
      "coprocessor: 'video' scm_failure { call: 'pas_auth_and_reset' "
      "occurrence: 1 status: -22 }");
  absl::Status s = BootVideo();
  EXPECT_EQ(ReasonOf(s), "SCM_CALL_FAILED");
  EXPECT_EQ(MetadataOf(s).at("scm_status"), "-22");
  // Applied once: the retry succeeds.
  EXPECT_TRUE(soc_->ShmBridgeCreate(kVideoBase, kVideoSize).ok());
  EXPECT_TRUE(soc_->PasAuthAndReset(9).ok());
}

TEST_F(Faults, SmmuFaultWhileRunning) {
  Inject("coprocessor: 'video' smmu_fault { after_ms: 10 write: true }");
  ASSERT_TRUE(BootVideo().ok());
  EXPECT_EQ(log_.Next(kVideo)->kind, SignalKind::kReady);
  auto next = log_.Next(kVideo);
  if (next->kind == SignalKind::kHandover) next = log_.Next(kVideo);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->kind, SignalKind::kSmmuFault);
  ASSERT_TRUE(next->fault.has_value());
  EXPECT_EQ(next->fault->iova, kVideoSize);  // just past the mapped carveout
  EXPECT_EQ(next->fault->access, platform::AccessType::kWrite);
  EXPECT_EQ(next->fault->kind, platform::FaultKind::kTranslation);
}

TEST(Hypervisor, MapsOnTheOsBehalf) {
  auto soc = MakeSoc(BundledDtb("sm8550-hyp-sim"));
  SignalLog log(*soc);
  EXPECT_TRUE(soc->hypervisor());
  Boot boot{*soc, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  // No OS bridge, no OS mapping: the hypervisor does both.
  ASSERT_TRUE(soc->PasAuthAndReset(9).ok());
  EXPECT_EQ(log.Next(kVideo)->kind, SignalKind::kReady);
  pas::HardwareState state = *soc->Observe();
  ASSERT_EQ(state.mappings.size(), 1u);
  EXPECT_EQ(state.mappings[0].owner, platform::MappingOwner::kHypervisor);
  EXPECT_EQ(state.mappings[0].iova, 0u);
  EXPECT_EQ(state.mappings[0].pa, kVideoBase);
  EXPECT_TRUE(state.mappings[0].prot & platform::kIommuPriv);
  EXPECT_TRUE(state.bridges.empty());
  // Shutdown removes the hypervisor's mapping.
  ASSERT_TRUE(soc->PasShutdown(9).ok());
  EXPECT_TRUE(soc->Observe()->mappings.empty());
}

TEST(Hypervisor, AnOsMappingOfItsStreamIsAConflict) {
  auto soc = MakeSoc(BundledDtb("sm8550-hyp-sim"));
  Boot boot{*soc, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(soc->Attach(0x2090, 0).ok());  // the stream the hypervisor uses
  absl::Status s = soc->PasAuthAndReset(9);
  EXPECT_EQ(ReasonOf(s), "HYPERVISOR_CONFLICT");
  EXPECT_THAT(std::string(s.message()), HasSubstr("stream 0x2090"));
  // Nothing of the hypervisor's is left behind.
  pas::HardwareState state = *soc->Observe();
  EXPECT_TRUE(state.bridges.empty());
  for (const auto& m : state.mappings) {
    EXPECT_EQ(m.owner, platform::MappingOwner::kOs);
  }
}

TEST(Hypervisor, AnOsBridgeInTheWayIsAConflict) {
  auto soc = MakeSoc(BundledDtb("sm8550-hyp-sim"));
  Boot boot{*soc, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  ASSERT_TRUE(soc->ShmBridgeCreate(kVideoBase, kVideoSize).ok());
  EXPECT_EQ(ReasonOf(soc->PasAuthAndReset(9)), "HYPERVISOR_CONFLICT");
}

TEST(ResourceTable, DevmemMustBeMappedToo) {
  v1::Profile profile;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "peripherals { coprocessor: 'video' devmem { da: 0x800000 pa: 0xaa00000 "
      "length: 0x1000 name: 'regs' } }",
      &profile));
  auto soc = MakeSoc(BundledDtb("sm8550-el2-sim"), profile);
  SignalLog log(*soc);
  auto table = soc->PasGetResourceTable(9, "");
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->size(), 16u + 4 + 56);
  EXPECT_EQ(static_cast<uint8_t>((*table)[4]), 1);  // one entry
  Boot boot{*soc, 9, kVideoBase, kVideoSize};
  const image::FirmwareImage image = SignedFor(kVideoBase, 0x200000, 0xe, 7);
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.Copy(image).ok());
  auto domain = boot.MapStream(0x19e2, 0, true);
  ASSERT_TRUE(domain.ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  auto signal = log.Next(kVideo);
  EXPECT_EQ(signal->kind, SignalKind::kSmmuFault);
  ASSERT_TRUE(signal->fault.has_value());
  EXPECT_EQ(signal->fault->iova, 0x800000u);
  EXPECT_THAT(signal->detail, HasSubstr("device memory 'regs'"));
  // Mapped, it boots.
  ASSERT_TRUE(soc->PasShutdown(9).ok());
  ASSERT_TRUE(soc->Map(*domain, 0x800000, 0xaa00000, 0x1000,
                       platform::kIommuRead | platform::kIommuWrite)
                  .ok());
  ASSERT_TRUE(soc->ReleaseMetadata(9).ok());
  ASSERT_TRUE(boot.Init(image).ok());
  ASSERT_TRUE(boot.AuthWithBridge().ok());
  EXPECT_EQ(log.Next(kVideo)->kind, SignalKind::kReady);
}

TEST(Memory, CarveoutsAreSparselyBacked) {
  // The SM8550 board reserves 0x10800000 bytes for the modem alone.
  auto soc = MakeSoc(BundledDtb("sm8550-el2-sim"));
  EXPECT_LT(soc->sim_memory().ResidentBytes(), 1u << 20);
  auto span = soc->memory().Map(kCdspBase, 0x2000000);
  ASSERT_TRUE(span.ok());
  (*span)[0] = 1;
  (*span)[0x1000000] = 1;
  EXPECT_LT(soc->sim_memory().ResidentBytes(), 1u << 20);
  EXPECT_EQ(ReasonOf(soc->memory().Map(kCdspBase + 0x1ffffff, 2).status()),
            "OUTSIDE_CARVEOUT");
  EXPECT_EQ(ReasonOf(soc->memory().Map(0x1000, 1).status()),
            "OUTSIDE_CARVEOUT");
}

}  // namespace
}  // namespace pil::sim
