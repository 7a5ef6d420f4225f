// The gRPC front end: translates pil.v1 messages to and from the lifecycle
// engine and the firmware store. It holds no lifecycle logic of its own.
//
// Transitions, inspections and hardware observations block, so they run on
// a bounded pool of worker threads, never on gRPC's callback threads; a
// call that finds the pool full gets RESOURCE_EXHAUSTED (SERVER_BUSY), one
// whose caller already holds its share CALLER_BUSY. Stops have a lane of
// their own. Uploads, watches and coredump downloads are bounded in total
// and per caller (RESOURCE_EXHAUSTED naming the bound). Failures reach
// callers other than root without server paths or system error texts
// (server/redact.h).
// Watch streams share one engine subscription: each event is converted
// once and queued to every watcher; a watcher that falls more than
// `watch_queue` events behind is ended with RESOURCE_EXHAUSTED
// (WATCH_TOO_SLOW) rather than buffering without bound.
//
// Every call is identified when it arrives (server/access/identity.h) and
// admitted by the Gate before anything else is done; a denial is recorded
// (on a worker: the audit trail waits for the disk) and answered
// PERMISSION_DENIED. Lists, watches and history show only what the caller
// may read.
#ifndef PILD_SERVER_SERVICE_H_
#define PILD_SERVER_SERVICE_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "server/access/caller.h"
#include "server/access/tls.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/gate.h"
#include "server/leases.h"
#include "server/quota.h"
#include "server/workers.h"

namespace pil::server {

struct ServiceOptions {
  // Blocking calls (transitions, inspections, uploads' validation) running
  // or queued at once, and of those at most this many per caller.
  size_t max_blocking_calls = 64;
  size_t max_calls_per_caller = 16;
  // Stops run in a lane of their own, which other calls cannot fill.
  size_t stop_lane = 8;
  // The deadline of a call that sets none.
  absl::Duration default_deadline = absl::Minutes(2);
  // Largest upload accepted; upload streams at once (in total and per
  // caller); bytes announced by the uploads in flight.
  uint64_t max_upload_size = uint64_t{512} << 20;
  size_t max_uploads = 16;
  size_t max_uploads_per_caller = 4;
  uint64_t upload_budget = uint64_t{1} << 30;
  // Leases held at once, in total and per caller.
  size_t max_leases = 64;
  size_t max_leases_per_caller = 8;
  // Watch streams, in total and per caller; events buffered per watcher.
  size_t max_watches = 1024;
  size_t max_watches_per_caller = 64;
  size_t watch_queue = 256;
  // Coredump downloads at once, in total and per caller.
  size_t max_downloads = 8;
  size_t max_downloads_per_caller = 2;
  // Threads verifying one image.
  int verify_threads = 2;
};

// What GetInfo says of pild beyond what the service knows itself.
struct ServerFacts {
  std::string backend;
  std::string board_model;
  std::vector<std::string> listeners;  // with how callers are identified
  bool plaintext_tcp = false;
  bool audit_enabled = true;  // false: --no-audit-trail
  HistoryLimits audit_limits;
  std::shared_ptr<access::ClientCertificates> tls;  // null without TLS
};

class WatchHub;

class LifecycleService final : public v1::LifecycleService::CallbackService {
 public:
  // `engine`, `firmware` and `gate` outlive the service; the service
  // outlives the grpc::Server it is registered with.
  LifecycleService(LifecycleEngine* engine, FirmwareStore* firmware, Gate* gate,
                   ServerFacts facts, ServiceOptions options = {});
  ~LifecycleService() override;

  // Keeps "pil.v1.LifecycleService/<name>" SERVING exactly while coprocessor
  // <name> is RUNNING (NOT_SERVING otherwise). Pass nullptr before the
  // server (which owns `health`) is destroyed.
  void ReportHealth(grpc::HealthCheckServiceInterface* health);
  // Watch streams open.
  size_t watch_streams() const;

  grpc::ServerUnaryReactor* ListCoprocessors(
      grpc::CallbackServerContext* context,
      const v1::ListCoprocessorsRequest* request,
      v1::ListCoprocessorsResponse* response) override;
  grpc::ServerUnaryReactor* GetCoprocessor(
      grpc::CallbackServerContext* context,
      const v1::GetCoprocessorRequest* request,
      v1::Coprocessor* response) override;
  grpc::ServerUnaryReactor* Authenticate(
      grpc::CallbackServerContext* context,
      const v1::AuthenticateRequest* request,
      v1::TransitionResponse* response) override;
  grpc::ServerUnaryReactor* Map(grpc::CallbackServerContext* context,
                                const v1::MapRequest* request,
                                v1::TransitionResponse* response) override;
  grpc::ServerUnaryReactor* Reset(grpc::CallbackServerContext* context,
                                  const v1::ResetRequest* request,
                                  v1::TransitionResponse* response) override;
  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context,
                                  const v1::StartRequest* request,
                                  v1::TransitionResponse* response) override;
  grpc::ServerUnaryReactor* Stop(grpc::CallbackServerContext* context,
                                 const v1::StopRequest* request,
                                 v1::TransitionResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchEvent>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRequest* request) override;
  grpc::ServerUnaryReactor* InspectImage(grpc::CallbackServerContext* context,
                                         const v1::InspectImageRequest* request,
                                         v1::ImageReport* response) override;
  grpc::ServerReadReactor<v1::UploadFirmwareRequest>* UploadFirmware(
      grpc::CallbackServerContext* context,
      v1::UploadFirmwareResponse* response) override;
  grpc::ServerWriteReactor<v1::CoredumpChunk>* GetCoredump(
      grpc::CallbackServerContext* context,
      const v1::GetCoredumpRequest* request) override;
  grpc::ServerUnaryReactor* ListCoredumps(
      grpc::CallbackServerContext* context,
      const v1::ListCoredumpsRequest* request,
      v1::ListCoredumpsResponse* response) override;
  grpc::ServerUnaryReactor* ListUploads(
      grpc::CallbackServerContext* context,
      const v1::ListUploadsRequest* request,
      v1::ListUploadsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteUpload(
      grpc::CallbackServerContext* context,
      const v1::DeleteUploadRequest* request,
      v1::DeleteUploadResponse* response) override;
  grpc::ServerUnaryReactor* UpdateRecoveryPolicy(
      grpc::CallbackServerContext* context,
      const v1::UpdateRecoveryPolicyRequest* request,
      v1::Coprocessor* response) override;
  grpc::ServerWriteReactor<v1::LeaseResponse>* Lease(
      grpc::CallbackServerContext* context,
      const v1::LeaseRequest* request) override;
  grpc::ServerUnaryReactor* GetHistory(
      grpc::CallbackServerContext* context,
      const v1::GetHistoryRequest* request,
      v1::GetHistoryResponse* response) override;
  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context,
                                    const v1::GetInfoRequest* request,
                                    v1::GetInfoResponse* response) override;

 private:
  class UploadReactor;

  // Runs `work` on a worker charged to `caller` (on the stop lane when
  // `stop`) and finishes the call with its status, as `caller` may see it.
  grpc::ServerUnaryReactor* Blocking(grpc::CallbackServerContext* context,
                                     const Caller& caller,
                                     std::function<absl::Status()> work,
                                     bool stop = false);
  // A transition of `name` after the common checks (name, request id,
  // `valid`) and the gate.
  grpc::ServerUnaryReactor* Transition(
      grpc::CallbackServerContext* context, Verb verb, const std::string& name,
      const std::string& request_id, absl::Status valid,
      std::function<absl::StatusOr<TransitionResult>(const CallContext&)> run,
      v1::TransitionResponse* response);
  // Null when `caller` may `verb` on `coprocessor`; otherwise the call,
  // finished PERMISSION_DENIED once the denial is recorded.
  grpc::ServerUnaryReactor* Deny(grpc::CallbackServerContext* context,
                                 const Caller& caller, Verb verb,
                                 const std::string& coprocessor,
                                 const std::string& request_id = "");
  // The engine's view of a call: deadline, cancellation, request id, caller.
  CallContext ContextOf(grpc::CallbackServerContext* context,
                        const std::string& request_id,
                        const Caller& caller) const;

  LifecycleEngine* engine_;
  FirmwareStore* firmware_;
  Gate* gate_;
  const ServerFacts facts_;
  ServiceOptions options_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<Leases> leases_;
  Quota uploads_, upload_bytes_, watches_, downloads_;
  // Last: destroyed first, so running work finishes while the rest exists.
  Workers workers_;
  Workers stop_lane_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_SERVICE_H_
