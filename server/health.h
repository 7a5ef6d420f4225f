// gRPC health checking (grpc.health.v1.Health) behind pild's policy, in
// place of gRPC's default service, which answers anyone:
//   ""  and "pil.v1.LifecycleService": SERVING while pild serves; any caller
//   pild
//       can identify may ask.
//   "pil.v1.LifecycleService/NAME": SERVING exactly while coprocessor NAME
//   runs;
//       the caller needs READ on NAME.
// A refused check is PERMISSION_DENIED and recorded like any denial; an
// unknown service is NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch).
// Thread-safe.
#ifndef PILD_SERVER_HEALTH_H_
#define PILD_SERVER_HEALTH_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/gate.h"

namespace pil::server {

class HealthWatch;

class HealthService final : public grpc::health::v1::Health::CallbackService,
                            public grpc::HealthCheckServiceInterface {
 public:
  // `gate` outlives the service.
  explicit HealthService(Gate* gate) : gate_(gate) {}

  // grpc::HealthCheckServiceInterface: what WatchHub and main() report.
  void SetServingStatus(const std::string& service, bool serving) override;
  void SetServingStatus(bool serving) override;
  // Every status NOT_SERVING from now on; watchers are told.
  void Shutdown() override;

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

  // A watch that ended.
  void Forget(HealthWatch* watch);

 private:
  // OK when the caller may ask about `service`; else the denial.
  // `*coprocessor`: the one `service` names, if any.
  absl::Status Admit(const Caller& caller, const std::string& service,
                     std::string* coprocessor) const;
  // The status of `service` now (SERVICE_UNKNOWN when never set).
  grpc::health::v1::HealthCheckResponse::ServingStatus StatusLocked(
      const std::string& service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Gate* gate_;
  absl::Mutex mu_;
  std::map<std::string, bool> serving_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<HealthWatch*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_HEALTH_H_
