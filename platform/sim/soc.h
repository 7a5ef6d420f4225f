// The simulated SoC: secure world, SMMU, hypervisor, memory and
// coprocessors, built from a device tree and a profile. It implements the
// PAS tier's hardware interfaces (platform/pas/hardware.h) in-process;
// pilsim (service.h) serves it from its own process, so that the simulated
// hardware outlives a pild process as real hardware does. Its parts:
// soc.cc (setup, Observe), secure_world.cc, bridges_and_smmu.cc (SHM
// bridges, the OS's SMMU, the hypervisor's mappings), cores.cc (boot,
// crashes, stop, fault plan), event_loop.cc.
//
//   auto soc = SimSoc::Create(dtb, profile, "");
//   pas::Hardware& hw = **soc;
//
// Behaviour (docs/SIM.md):
// * Secure world. Per PAS id: idle -> init_image -> initialized
//   [-> mem_setup] -> auth_and_reset -> running -> shutdown -> idle.
//   init_image validates the metadata and authenticates the hash table
//   (signature and chain, root among the fused hashes, SW_ID image type for
//   the PAS id, anti-rollback version); auth_and_reset recomputes every
//   loadable segment's hash over the bytes in the carveout, requires
//   mem_setup for relocatable images and, when Linux owns the IOMMU, an SHM
//   bridge over the carveout. Metadata is held until released.
// * Hypervisor mode: auth_and_reset also bridges the carveout while it
//   authenticates and maps it to the coprocessor's stream itself (an OS
//   stream-match entry in the way is a conflict); shutdown unmaps.
// * Coprocessors: after reset release (and the boot time) the core fetches
//   every loadable page through the SMMU with its firmware stream
//   (remoteproc: identity, video codec: IOVA 0, privileged) and touches
//   its resource-table device memory; a fault crashes it with an SMMU
//   fault, else it raises ready and handover. Stop requests are
//   acknowledged. The profile's faults are injected.
#ifndef PILD_PLATFORM_SIM_SOC_H_
#define PILD_PLATFORM_SIM_SOC_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/image/elf.h"
#include "platform/image/hash_segment.h"
#include "platform/pas/hardware.h"
#include "platform/sim/memory.h"
#include "platform/sim/proto/profile.pb.h"
#include "platform/sim/smmu.h"

namespace pil::sim {

// The roots a simulated SoC trusts when the profile names none: those of
// the real images in the real data and the TEST-ONLY test roots.
std::vector<std::string> DefaultTrustedRoots();

// The SW_ID image type a PAS id's images carry (adsp 0x4, cdsp 0x17, ...).
std::optional<uint32_t> ExpectedImageType(uint32_t pas_id);

class SimSoc : public pas::Hardware,
               public pas::SecureWorld,
               public pas::Iommu,
               public pas::CoprocessorSignals,
               public pas::VideoWrapper {
 public:
  // A SoC for the device tree `dtb`; its carveouts are backed by the file
  // `memory_path` (shared with other processes), or anonymous memory when
  // empty.
  static absl::StatusOr<std::unique_ptr<SimSoc>> Create(
      absl::string_view dtb, const v1::Profile& profile,
      const std::string& memory_path);
  ~SimSoc() override;

  // pas::Hardware
  pas::SecureWorld& secure_world() override { return *this; }
  pas::Iommu& iommu() override { return *this; }
  pas::PhysicalMemory& memory() override { return *memory_; }
  pas::CoprocessorSignals& signals() override { return *this; }
  pas::VideoWrapper& video_wrapper() override { return *this; }
  absl::StatusOr<pas::HardwareState> Observe() override;

  // pas::SecureWorld
  absl::StatusOr<bool> PasIsSupported(uint32_t pas_id) override;
  absl::Status PasInitImage(uint32_t pas_id,
                            absl::string_view metadata) override;
  absl::Status PasMemSetup(uint32_t pas_id, uint64_t address,
                           uint64_t size) override;
  absl::Status PasAuthAndReset(uint32_t pas_id) override;
  absl::Status PasShutdown(uint32_t pas_id) override;
  absl::Status ReleaseMetadata(uint32_t pas_id) override;
  absl::StatusOr<std::string> PasGetResourceTable(
      uint32_t pas_id, absl::string_view input) override;
  absl::StatusOr<uint64_t> ShmBridgeCreate(uint64_t base,
                                           uint64_t size) override;
  absl::Status ShmBridgeDelete(uint64_t handle) override;

  // pas::Iommu (the OS's view)
  absl::StatusOr<uint32_t> Attach(uint32_t sid, uint32_t mask) override;
  absl::Status Detach(uint32_t domain) override;
  absl::Status Map(uint32_t domain, uint64_t iova, uint64_t pa, uint64_t size,
                   uint32_t prot) override;
  absl::StatusOr<uint64_t> Unmap(uint32_t domain, uint64_t iova,
                                 uint64_t size) override;

  // pas::CoprocessorSignals
  absl::Status RequestStop(absl::string_view coprocessor) override;
  void Subscribe(std::function<void(const pas::Signal&)> handler) override;

  // pas::VideoWrapper (video_wrapper.cc): releasing the A9SS reset with the
  // firmware range programmed boots the codec, which fetches that range
  // through the SMMU at its IOVAs; setting the reset bit stops it.
  absl::Status WrapperWrite(absl::string_view coprocessor, uint32_t offset,
                            uint32_t value) override;
  absl::StatusOr<uint32_t> WrapperRead(absl::string_view coprocessor,
                                       uint32_t offset) override;

  // Sim controls: adds a fault to the plan (as in the profile).
  absl::Status InjectFault(const v1::Fault& fault);
  // Counts a call pild makes (by its CallFault name) and returns the call
  // fault planned for it, if any (taken from the plan unless it repeats).
  std::optional<v1::CallFault> TakeCallFault(const std::string& call);
  // The board it simulates and whether a hypervisor manages the SMMU.
  const devicetree::Board& board() const { return board_; }
  bool hypervisor() const { return hypervisor_; }
  SimMemory& sim_memory() { return *memory_; }

 private:
  struct Core;
  struct Peripheral;
  struct Bridge {
    uint64_t base = 0, size = 0;
    bool hypervisor = false;
  };
  struct Event {
    absl::Time when;
    uint64_t id;
    std::function<void()> run;  // called with mu_ held
  };

  SimSoc() = default;
  absl::Status Setup(absl::string_view dtb, const v1::Profile& profile,
                     const std::string& memory_path);

  Peripheral* FindPeripheral(uint32_t pas_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Core* FindCore(absl::string_view coprocessor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status an injected SCM failure dictates for this call, if any.
  absl::Status InjectedScmFailure(const char* call, Peripheral& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Log(const char* call, uint32_t pas_id, std::string detail,
                   absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AuthenticateSegments(const Peripheral& p,
                                    const std::string& metadata,
                                    uint64_t placement_base) const;
  absl::Status HypervisorMap(Peripheral& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HypervisorUnmap(Peripheral& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BridgeCovers(uint64_t base, uint64_t size) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> AddBridge(uint64_t base, uint64_t size,
                                     bool hypervisor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Coprocessor behaviour.
  void ReleaseReset(Core& core) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Boot(Core& core, uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fetches the wrapper's firmware range through the SMMU; false (and the
  // core crashed) when a page does not translate to the carveout.
  bool FetchWrapperRange(Core& core) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK when `core` exists, has a wrapper and `offset` names a register.
  static absl::Status CheckWrapper(const Core* core,
                                   absl::string_view coprocessor,
                                   uint32_t offset);
  void Crash(Core& core, pas::SignalKind kind, std::string detail,
             const platform::SmmuFault* fault = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Raise(Core& core, pas::SignalKind kind, std::string detail,
             const platform::SmmuFault* fault = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fetches `iova` through the SMMU as `core` (read, or write; `exec` for
  // code); on a fault crashes the core (SMMU fault) and returns false.
  bool Fetch(Core& core, uint64_t iova, bool write, bool exec,
             const std::string& what, uint64_t* pa)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<v1::Fault> TakeFault(Core& core, v1::Fault::KindCase kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Schedule(absl::Duration delay, std::function<void()> run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SchedulerLoop();
  void DeliveryLoop();

  devicetree::Board board_;
  v1::Profile profile_;
  bool hypervisor_ = false;
  std::set<std::string> trusted_roots_;
  std::unique_ptr<SimMemory> memory_;
  absl::Duration boot_time_, handover_time_, stop_ack_time_;

  mutable absl::Mutex mu_;
  SmmuModel smmu_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Core>> cores_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::unique_ptr<Peripheral>> peripherals_
      ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Bridge> bridges_ ABSL_GUARDED_BY(mu_);
  uint64_t next_bridge_ ABSL_GUARDED_BY(mu_) = 0x1000;
  std::set<uint32_t> os_banks_ ABSL_GUARDED_BY(mu_);
  std::deque<pas::HardwareState::Call> calls_ ABSL_GUARDED_BY(mu_);
  // A planned fault and how many of the calls it counts it has seen since
  // it was planned (its occurrence is relative to that).
  struct PlannedFault {
    v1::Fault fault;
    uint32_t seen = 0;
  };
  // Counts a call `fault` (occurrence, repeat) is about: true when it fires.
  static bool Fires(PlannedFault& planned, uint32_t occurrence);
  std::vector<PlannedFault> fault_plan_ ABSL_GUARDED_BY(mu_);

  absl::CondVar wake_;     // the scheduler: events changed, or stopping
  absl::CondVar deliver_;  // the delivery thread: signals queued
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_event_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<pas::Signal> outbox_ ABSL_GUARDED_BY(mu_);
  uint64_t next_signal_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex handler_mu_;
  std::function<void(const pas::Signal&)> handler_ ABSL_GUARDED_BY(handler_mu_);

  std::thread scheduler_;
  std::thread delivery_;
};

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_SOC_H_
