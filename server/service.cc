#include "server/service.h"

#include "common/rpc_status.h"
#include "server/devicetree_proto.h"

namespace pil::server {
namespace {

v1::State ToProto(State state) {
  switch (state) {
    case State::kOffline:
      return v1::STATE_OFFLINE;
    case State::kAuthenticated:
      return v1::STATE_AUTHENTICATED;
    case State::kMapped:
      return v1::STATE_MAPPED;
    case State::kRunning:
      return v1::STATE_RUNNING;
    case State::kStopping:
      return v1::STATE_STOPPING;
    case State::kCrashed:
      return v1::STATE_CRASHED;
    case State::kRecovering:
      return v1::STATE_RECOVERING;
  }
  return v1::STATE_UNSPECIFIED;
}

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

v1::Coprocessor ToProto(const CoprocessorStatus& status) {
  v1::Coprocessor out = CoprocessorFromNode(status.node);
  out.set_state(ToProto(status.state));
  SetTimestamp(status.state_since, out.mutable_state_since());
  out.set_crash_count(status.crash_count);
  if (status.last_error) {
    v1::ErrorSummary* error = out.mutable_last_error();
    error->set_reason(status.last_error->reason);
    error->set_message(status.last_error->message);
    error->set_operation(status.last_error->operation);
    SetTimestamp(status.last_error->time, error->mutable_time());
  }
  return out;
}

grpc::ServerUnaryReactor* LifecycleService::ListCoprocessors(
    grpc::CallbackServerContext* context, const v1::ListCoprocessorsRequest*,
    v1::ListCoprocessorsResponse* response) {
  for (const CoprocessorStatus& c : engine_->List()) {
    *response->add_coprocessors() = ToProto(c);
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* LifecycleService::GetCoprocessor(
    grpc::CallbackServerContext* context,
    const v1::GetCoprocessorRequest* request, v1::Coprocessor* response) {
  auto status = engine_->Get(request->name());
  if (status.ok()) *response = ToProto(*status);
  return Finish(context, status.status());
}

}  // namespace pil::server
