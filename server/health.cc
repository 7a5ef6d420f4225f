#include "server/health.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "server/access/identity.h"
#include "server/service_internal.h"

namespace pil::server {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr char kService[] = "pil.v1.LifecycleService";
constexpr char kPrefix[] = "pil.v1.LifecycleService/";

bool Identified(const Caller& caller) {
  return caller.uid >= 0 || !caller.certificate.empty();
}

}  // namespace

// One Watch stream: the current status, then each change (the latest only,
// when changes come faster than the client reads).
class HealthWatch final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  HealthWatch(HealthService* health, std::string service)
      : health_(health), service_(std::move(service)) {}

  const std::string& service() const { return service_; }

  // Called with the health service's lock held.
  void Push(HealthCheckResponse::ServingStatus status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    latest_ = status;
    if (!in_flight_ && latest_ != written_) WriteLatest();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    if (finished_) return;
    if (!ok) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the health watch stream broke"));
      return;
    }
    if (latest_ != written_) WriteLatest();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    health_->Forget(this);
    delete this;
  }

 private:
  void WriteLatest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_.set_status(latest_);
    written_ = latest_;
    in_flight_ = true;
    StartWrite(&response_);
  }

  HealthService* health_;
  const std::string service_;
  absl::Mutex mu_;
  HealthCheckResponse response_;
  HealthCheckResponse::ServingStatus latest_ ABSL_GUARDED_BY(mu_) =
      HealthCheckResponse::UNKNOWN;
  // Nothing written yet: UNKNOWN is never a status pild reports.
  HealthCheckResponse::ServingStatus written_ ABSL_GUARDED_BY(mu_) =
      HealthCheckResponse::UNKNOWN;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

void HealthService::SetServingStatus(const std::string& service, bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  serving_[service] = serving;
  for (HealthWatch* watch : watches_) {
    if (watch->service() == service) watch->Push(StatusLocked(service));
  }
}

void HealthService::SetServingStatus(bool serving) {
  SetServingStatus("", serving);
  SetServingStatus(kService, serving);
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (auto& [service, serving] : serving_) serving = false;
  for (HealthWatch* watch : watches_) {
    watch->Push(StatusLocked(watch->service()));
  }
}

void HealthService::Forget(HealthWatch* watch) {
  absl::MutexLock lock(&mu_);
  watches_.erase(watch);
}

HealthCheckResponse::ServingStatus HealthService::StatusLocked(
    const std::string& service) {
  auto it = serving_.find(service);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING
                    : HealthCheckResponse::NOT_SERVING;
}

absl::Status HealthService::Admit(const Caller& caller,
                                  const std::string& service,
                                  std::string* coprocessor) const {
  absl::string_view rest = service;
  if (absl::ConsumePrefix(&rest, kPrefix)) {
    *coprocessor = std::string(rest);
    return gate_->Decide(caller, Verb::kRead, *coprocessor);
  }
  coprocessor->clear();
  if (Identified(caller)) return absl::OkStatus();
  return gate_->Decide(caller, Verb::kRead, "");
}

grpc::ServerUnaryReactor* HealthService::Check(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request,
    HealthCheckResponse* response) {
  const Caller caller = access::Identify(*context);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->service().size() > 256) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "service name longer than 256 bytes"));
    return reactor;
  }
  std::string coprocessor;
  if (absl::Status denied = Admit(caller, request->service(), &coprocessor);
      !denied.ok()) {
    gate_->Record(caller, Verb::kRead, coprocessor, "", denied,
                  [reactor, denied] { reactor->Finish(ToGrpcStatus(denied)); });
    return reactor;
  }
  absl::MutexLock lock(&mu_);
  const HealthCheckResponse::ServingStatus status =
      StatusLocked(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "unknown service " + request->service()));
    return reactor;
  }
  response->set_status(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  const Caller caller = access::Identify(*context);
  if (request->service().size() > 256) {
    return new EndedWriter<HealthCheckResponse>(
        Error(absl::StatusCode::kInvalidArgument, "BAD_NAME",
              "service name longer than 256 bytes"));
  }
  std::string coprocessor;
  if (absl::Status denied = Admit(caller, request->service(), &coprocessor);
      !denied.ok()) {
    return EndedWriter<HealthCheckResponse>::Denied(*gate_, caller, Verb::kRead,
                                                    coprocessor, denied);
  }
  auto* watch = new HealthWatch(this, request->service());
  absl::MutexLock lock(&mu_);
  watches_.insert(watch);
  watch->Push(StatusLocked(request->service()));
  return watch;
}

}  // namespace pil::server
