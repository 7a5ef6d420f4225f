// The platform interfaces over pilsim: pild's sim backend. Secure-world,
// IOMMU and stop calls go to pilsim over gRPC; the carveouts are mapped
// from pilsim's memory file, so the OS writes them directly.
//
//   auto platform = RemotePlatform::Connect("unix:/run/pild/pilsim.sock");
//   (*platform)->board().dtb()  // the device tree the sim runs
#ifndef PILD_PLATFORM_SIM_REMOTE_PLATFORM_H_
#define PILD_PLATFORM_SIM_REMOTE_PLATFORM_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/pas/hardware.h"
#include "platform/sim/memory.h"
#include "platform/sim/proto/sim.grpc.pb.h"

namespace pil::sim {

class RemotePlatform : public pas::Hardware,
                       public pas::SecureWorld,
                       public pas::Iommu,
                       public pas::CoprocessorSignals,
                       public pas::VideoWrapper {
 public:
  // Connects to pilsim at `address`, waiting up to `timeout` for it to
  // answer. UNAVAILABLE (SIM_UNAVAILABLE) when it does not.
  static absl::StatusOr<std::unique_ptr<RemotePlatform>> Connect(
      const std::string& address, absl::Duration timeout = absl::Seconds(5));
  ~RemotePlatform() override;

  const v1::Board& board() const { return board_; }
  // Sim controls for tests and demos.
  absl::Status InjectFault(const v1::Fault& fault);

  pas::SecureWorld& secure_world() override { return *this; }
  pas::Iommu& iommu() override { return *this; }
  pas::PhysicalMemory& memory() override { return *memory_; }
  pas::CoprocessorSignals& signals() override { return *this; }
  pas::VideoWrapper& video_wrapper() override { return *this; }
  absl::StatusOr<pas::HardwareState> Observe() override;

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

  absl::StatusOr<uint32_t> Attach(uint32_t sid, uint32_t mask) override;
  absl::Status Detach(uint32_t domain) override;
  absl::Status Map(uint32_t domain, uint64_t iova, uint64_t pa, uint64_t size,
                   uint32_t prot) override;
  absl::StatusOr<uint64_t> Unmap(uint32_t domain, uint64_t iova,
                                 uint64_t size) override;

  absl::Status RequestStop(absl::string_view coprocessor) override;
  absl::Status WrapperWrite(absl::string_view coprocessor, uint32_t offset,
                            uint32_t value) override;
  absl::StatusOr<uint32_t> WrapperRead(absl::string_view coprocessor,
                                       uint32_t offset) override;
  // Blocks until pilsim confirmed the subscription (or 5 s passed).
  void Subscribe(std::function<void(const pas::Signal&)> handler) override;

 private:
  RemotePlatform() = default;
  void StopWatching();
  void WatchLoop();

  // A secure-world call that takes a PAS id and returns nothing.
  using PasCall = grpc::Status (v1::SimSoc::Stub::*)(grpc::ClientContext*,
                                                     const v1::PasRequest&,
                                                     v1::Empty*);
  absl::Status CallPas(PasCall call, uint32_t pas_id);

  std::unique_ptr<v1::SimSoc::Stub> stub_;
  v1::Board board_;
  std::unique_ptr<SimMemory> memory_;

  absl::Mutex mu_;
  std::function<void(const pas::Signal&)> handler_ ABSL_GUARDED_BY(mu_);
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread watcher_;
};

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_REMOTE_PLATFORM_H_
