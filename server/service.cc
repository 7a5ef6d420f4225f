#include "server/service.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/log.h"
#include "common/rpc_status.h"
#include "messages/image_proto.h"
#include "platform/image/inspect.h"
#include "server/access/identity.h"
#include "server/requests.h"
#include "server/service_internal.h"
#include "server/status_proto.h"
#include "server/watch_hub.h"

namespace pil::server {
namespace {

using access::Identify;

absl::Status Respond(absl::StatusOr<TransitionResult> result,
                     v1::TransitionResponse* response) {
  if (!result.ok()) return result.status();
  *response = TransitionToProto(*result);
  return absl::OkStatus();
}

}  // namespace

// ---- the service ----

LifecycleService::LifecycleService(LifecycleEngine* engine,
                                   FirmwareStore* firmware, Gate* gate,
                                   ServerFacts facts, ServiceOptions options)
    : engine_(engine),
      firmware_(firmware),
      gate_(gate),
      facts_(std::move(facts)),
      options_(options),
      hub_(std::make_unique<WatchHub>(engine, options.watch_queue)),
      workers_(options.max_blocking_calls) {}

LifecycleService::~LifecycleService() = default;

void LifecycleService::ReportHealth(grpc::HealthCheckServiceInterface* health) {
  hub_->ReportHealth(health);
}

grpc::ServerUnaryReactor* LifecycleService::Blocking(
    grpc::CallbackServerContext* context, std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto status = std::make_shared<grpc::Status>();
  const bool accepted = workers_.Run(
      [status, work = std::move(work)] { *status = ToGrpcStatus(work()); },
      [reactor, status] { reactor->Finish(*status); });
  if (!accepted) {
    reactor->Finish(ToGrpcStatus(Busy(options_.max_blocking_calls)));
  }
  return reactor;
}

grpc::ServerUnaryReactor* LifecycleService::Deny(
    grpc::CallbackServerContext* context, const Caller& caller, Verb verb,
    const std::string& coprocessor, const std::string& request_id) {
  const absl::Status denied = gate_->Decide(caller, verb, coprocessor);
  if (denied.ok()) return nullptr;
  // Answered once recorded, without holding a worker.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  gate_->Record(caller, verb, coprocessor, request_id, denied,
                [reactor, denied] { reactor->Finish(ToGrpcStatus(denied)); });
  return reactor;
}

CallContext LifecycleService::ContextOf(grpc::CallbackServerContext* context,
                                        const std::string& request_id,
                                        const Caller& caller) const {
  CallContext ctx;
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    ctx.deadline = absl::FromChrono(deadline);
  }
  ctx.cancelled = [context] { return context->IsCancelled(); };
  ctx.request_id = request_id;
  ctx.caller = caller;
  return ctx;
}

grpc::ServerUnaryReactor* LifecycleService::Transition(
    grpc::CallbackServerContext* context, Verb verb, const std::string& name,
    const std::string& request_id, absl::Status valid,
    std::function<absl::StatusOr<TransitionResult>(const CallContext&)> run,
    v1::TransitionResponse* response) {
  const Caller caller = Identify(*context);
  absl::Status checked = RequireName(name);
  if (checked.ok()) checked = CheckRequestId(request_id);
  if (checked.ok()) checked = valid;
  if (!checked.ok()) return Finish(context, checked);
  if (auto* denied = Deny(context, caller, verb, name, request_id)) {
    return denied;
  }
  return Blocking(context, [this, context, request_id, caller,
                            run = std::move(run), response] {
    return Respond(run(ContextOf(context, request_id, caller)), response);
  });
}

grpc::ServerUnaryReactor* LifecycleService::ListCoprocessors(
    grpc::CallbackServerContext* context,
    const v1::ListCoprocessorsRequest* request,
    v1::ListCoprocessorsResponse* response) {
  const Caller caller = Identify(*context);
  if (auto* denied = Deny(context, caller, Verb::kRead, "")) return denied;
  auto list = [this, caller, response](bool observe) {
    for (const CoprocessorStatus& c : engine_->List(observe)) {
      if (!gate_->Allows(caller, Verb::kRead, c.node->name)) continue;
      *response->add_coprocessors() = CoprocessorToProto(c);
    }
    return absl::OkStatus();
  };
  if (request->observe_hardware()) {
    return Blocking(context, [list] { return list(true); });
  }
  return Finish(context, list(false));
}

grpc::ServerUnaryReactor* LifecycleService::GetCoprocessor(
    grpc::CallbackServerContext* context,
    const v1::GetCoprocessorRequest* request, v1::Coprocessor* response) {
  const Caller caller = Identify(*context);
  if (absl::Status s = RequireName(request->name()); !s.ok()) {
    return Finish(context, s);
  }
  if (auto* denied = Deny(context, caller, Verb::kRead, request->name())) {
    return denied;
  }
  auto get = [this, request, response](bool observe) {
    auto status = engine_->Get(request->name(), observe);
    if (status.ok()) *response = CoprocessorToProto(*status);
    return status.status();
  };
  if (request->observe_hardware()) {
    return Blocking(context, [get] { return get(true); });
  }
  return Finish(context, get(false));
}

grpc::ServerUnaryReactor* LifecycleService::Authenticate(
    grpc::CallbackServerContext* context,
    const v1::AuthenticateRequest* request, v1::TransitionResponse* response) {
  auto source = SourceOf(request->has_firmware(), request->firmware());
  return Transition(
      context, Verb::kAuthenticate, request->name(), request->request_id(),
      source.status(),
      [this, request, source](const CallContext& ctx) {
        return engine_->Authenticate(request->name(), *source, ctx);
      },
      response);
}

grpc::ServerUnaryReactor* LifecycleService::Map(
    grpc::CallbackServerContext* context, const v1::MapRequest* request,
    v1::TransitionResponse* response) {
  return Transition(
      context, Verb::kMap, request->name(), request->request_id(),
      absl::OkStatus(),
      [this, request](const CallContext& ctx) {
        return engine_->Map(request->name(), ctx);
      },
      response);
}

grpc::ServerUnaryReactor* LifecycleService::Reset(
    grpc::CallbackServerContext* context, const v1::ResetRequest* request,
    v1::TransitionResponse* response) {
  auto timeout = TimeoutOf(request->has_ready_timeout(),
                           request->ready_timeout(), "ready_timeout");
  return Transition(
      context, Verb::kReset, request->name(), request->request_id(),
      timeout.status(),
      [this, request, timeout](const CallContext& ctx) {
        return engine_->Reset(request->name(), *timeout, ctx);
      },
      response);
}

grpc::ServerUnaryReactor* LifecycleService::Start(
    grpc::CallbackServerContext* context, const v1::StartRequest* request,
    v1::TransitionResponse* response) {
  auto source = SourceOf(request->has_firmware(), request->firmware());
  auto timeout = TimeoutOf(request->has_ready_timeout(),
                           request->ready_timeout(), "ready_timeout");
  absl::Status valid = source.status();
  if (valid.ok()) valid = timeout.status();
  return Transition(
      context, Verb::kStart, request->name(), request->request_id(), valid,
      [this, request, source, timeout](const CallContext& ctx) {
        return engine_->Start(request->name(), *source, *timeout, ctx);
      },
      response);
}

grpc::ServerUnaryReactor* LifecycleService::Stop(
    grpc::CallbackServerContext* context, const v1::StopRequest* request,
    v1::TransitionResponse* response) {
  auto timeout = TimeoutOf(request->has_stop_ack_timeout(),
                           request->stop_ack_timeout(), "stop_ack_timeout");
  return Transition(
      context, Verb::kStop, request->name(), request->request_id(),
      timeout.status(),
      [this, request, timeout](const CallContext& ctx) {
        return engine_->Stop(request->name(), *timeout, ctx);
      },
      response);
}

grpc::ServerWriteReactor<v1::WatchEvent>* LifecycleService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  const Caller caller = Identify(*context);
  const std::string name = request->name();
  if (name.size() > kMaxNameSize) {
    return new EndedWriter<v1::WatchEvent>(RequireName(name));
  }
  if (absl::Status denied = gate_->Decide(caller, Verb::kRead, name);
      !denied.ok()) {
    return EndedWriter<v1::WatchEvent>::Denied(*gate_, caller, Verb::kRead,
                                               name, denied);
  }
  // The policy is asked again for every event: a reload applies at once.
  return StartWatch(
      hub_.get(), name,
      [gate = gate_, caller](const std::string& coprocessor) {
        return gate->Allows(caller, Verb::kRead, coprocessor);
      },
      [&] { return engine_->Get(name).status(); });
}

grpc::ServerUnaryReactor* LifecycleService::InspectImage(
    grpc::CallbackServerContext* context,
    const v1::InspectImageRequest* request, v1::ImageReport* response) {
  const Caller caller = Identify(*context);
  auto source = SourceOf(request->has_firmware(), request->firmware());
  if (!source.ok()) return Finish(context, source.status());
  if (request->coprocessor().size() > kMaxNameSize) {
    return Finish(context, RequireName(request->coprocessor()));
  }
  if (auto* denied =
          Deny(context, caller, Verb::kInspect, request->coprocessor())) {
    return denied;
  }
  return Blocking(context, [this, request, response, source = *source] {
    FirmwareSource from = source;
    std::optional<std::pair<uint64_t, uint64_t>> carveout;
    if (!request->coprocessor().empty()) {
      auto status = engine_->Get(request->coprocessor());
      if (!status.ok()) return status.status();
      if (!status->node->carveouts.empty()) {
        carveout = std::make_pair(status->node->carveouts[0].base,
                                  status->node->carveouts[0].size);
      }
      if (from.kind == FirmwareSource::Kind::kDefault) {
        if (status->node->firmware_names.empty()) {
          return Error(absl::StatusCode::kFailedPrecondition,
                       "FIRMWARE_NOT_FOUND",
                       absl::StrCat(request->coprocessor(),
                                    " has no firmware name; name an image"));
        }
        from = FirmwareSource::Named(status->node->firmware_names[0]);
      }
    }
    if (from.kind == FirmwareSource::Kind::kDefault) {
      return Invalid("MISSING_FIELD",
                     "firmware is required unless coprocessor is set");
    }
    auto image = firmware_->Load(from);
    if (!image.ok()) return image.status();
    image::InspectOptions options;
    options.threads = options_.verify_threads;
    options.carveout = carveout;
    options.file_digest = true;
    *response = messages::ImageReportToProto(image::Inspect(*image, options));
    response->set_source(from.Describe());
    return absl::OkStatus();
  });
}

}  // namespace pil::server
