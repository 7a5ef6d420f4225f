// The SimSoc gRPC service: one SimSoc, served to pild and tests. Signals
// fan out to every WatchSignals stream.
#ifndef PILD_PLATFORM_SIM_SERVICE_H_
#define PILD_PLATFORM_SIM_SERVICE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "platform/sim/proto/sim.grpc.pb.h"
#include "platform/sim/soc.h"

namespace pil::sim {

class SimSocService final : public v1::SimSoc::Service {
 public:
  // `soc` must outlive the service; `dtb` is what GetBoard reports.
  SimSocService(SimSoc* soc, std::string dtb, uint64_t boot_id);
  ~SimSocService() override;

  // Ends every WatchSignals stream (before the server shuts down).
  void Shutdown();

  grpc::Status GetBoard(grpc::ServerContext*, const v1::GetBoardRequest*,
                        v1::Board*) override;
  grpc::Status PasIsSupported(grpc::ServerContext*, const v1::PasRequest*,
                              v1::PasIsSupportedResponse*) override;
  grpc::Status PasInitImage(grpc::ServerContext*,
                            const v1::PasInitImageRequest*,
                            v1::Empty*) override;
  grpc::Status PasMemSetup(grpc::ServerContext*, const v1::PasMemSetupRequest*,
                           v1::Empty*) override;
  grpc::Status PasAuthAndReset(grpc::ServerContext*, const v1::PasRequest*,
                               v1::Empty*) override;
  grpc::Status PasShutdown(grpc::ServerContext*, const v1::PasRequest*,
                           v1::Empty*) override;
  grpc::Status ReleaseMetadata(grpc::ServerContext*, const v1::PasRequest*,
                               v1::Empty*) override;
  grpc::Status PasGetResourceTable(grpc::ServerContext*,
                                   const v1::PasGetResourceTableRequest*,
                                   v1::Bytes*) override;
  grpc::Status ShmBridgeCreate(grpc::ServerContext*, const v1::Range*,
                               v1::Handle*) override;
  grpc::Status ShmBridgeDelete(grpc::ServerContext*, const v1::Handle*,
                               v1::Empty*) override;
  grpc::Status IommuAttach(grpc::ServerContext*, const v1::IommuAttachRequest*,
                           v1::Handle*) override;
  grpc::Status IommuDetach(grpc::ServerContext*, const v1::Handle*,
                           v1::Empty*) override;
  grpc::Status IommuMap(grpc::ServerContext*, const v1::IommuMapRequest*,
                        v1::Empty*) override;
  grpc::Status IommuUnmap(grpc::ServerContext*, const v1::IommuUnmapRequest*,
                          v1::IommuUnmapResponse*) override;
  grpc::Status RequestStop(grpc::ServerContext*, const v1::CoprocessorRequest*,
                           v1::Empty*) override;
  grpc::Status WrapperWrite(grpc::ServerContext*, const v1::WrapperAccess*,
                            v1::Empty*) override;
  grpc::Status WrapperRead(grpc::ServerContext*, const v1::WrapperAccess*,
                           v1::WrapperAccess*) override;
  grpc::Status WatchSignals(grpc::ServerContext*,
                            const v1::WatchSignalsRequest*,
                            grpc::ServerWriter<v1::Signal>*) override;
  grpc::Status Observe(grpc::ServerContext*, const v1::ObserveRequest*,
                       v1::HardwareState*) override;
  grpc::Status InjectFault(grpc::ServerContext*, const v1::Fault*,
                           v1::Empty*) override;

 private:
  // Runs the handler of `call` under the fault plan's call faults: an
  // injected failure instead of it, or its reply held after it ran.
  grpc::Status Faulted(const std::string& call,
                       const std::function<grpc::Status()>& run);

  SimSoc* soc_;
  std::string dtb_;
  uint64_t boot_id_;

  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_watcher_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::deque<pas::Signal>> watchers_ ABSL_GUARDED_BY(mu_);
  std::multiset<std::string> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_SERVICE_H_
