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
#include "server/redact.h"
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
      uploads_("upload streams", "TOO_MANY_UPLOADS", options.max_uploads,
               options.max_uploads_per_caller),
      // One caller may hold half the budget, and always one largest image.
      upload_bytes_(
          "bytes of uploads in flight", "UPLOAD_BUDGET_EXHAUSTED",
          options.upload_budget,
          std::max(options.upload_budget / 2,
                   std::min(options.upload_budget, options.max_upload_size))),
      watches_("watch streams", "TOO_MANY_WATCHES", options.max_watches,
               options.max_watches_per_caller),
      downloads_("coredump downloads", "TOO_MANY_DOWNLOADS",
                 options.max_downloads, options.max_downloads_per_caller),
      workers_(options.max_blocking_calls, options.max_calls_per_caller),
      stop_lane_(options.stop_lane,
                 std::max<size_t>(1, options.stop_lane / 4)) {
  leases_ = std::make_unique<Leases>(
      options.max_leases, options.max_leases_per_caller,
      [engine](const std::string& name, const Leases::Lease& lease) {
        CallContext ctx;
        ctx.caller = lease.holder;
        ctx.deadline = absl::Now() + absl::Minutes(1);
        auto stopped = engine->Stop(name, absl::ZeroDuration(), ctx);
        PILD_LOG(INFO) << "lease " << lease.id << " of " << lease.Describe()
                       << " ended: stop " << name << ": "
                       << (stopped.ok()
                               ? "OK"
                               : std::string(stopped.status().message()));
      });
}

LifecycleService::~LifecycleService() = default;

void LifecycleService::ReportHealth(grpc::HealthCheckServiceInterface* health) {
  hub_->ReportHealth(health);
}

size_t LifecycleService::watch_streams() const { return hub_->size(); }

grpc::ServerUnaryReactor* LifecycleService::Blocking(
    grpc::CallbackServerContext* context, const Caller& caller,
    std::function<absl::Status()> work, bool stop) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto status = std::make_shared<grpc::Status>();
  const absl::Status accepted =
      (stop ? stop_lane_ : workers_)
          .Submit(
              caller.Key(),
              [status, caller, work = std::move(work)] {
                *status = ToGrpcStatus(RedactFor(caller, work()));
              },
              [reactor, status] { reactor->Finish(*status); });
  if (!accepted.ok()) reactor->Finish(ToGrpcStatus(accepted));
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
  // A call without a deadline still has one: nothing waits forever.
  if (ctx.deadline == absl::InfiniteFuture()) {
    ctx.deadline = absl::Now() + options_.default_deadline;
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
  if (absl::Status leased = leases_->Check(caller, name); !leased.ok()) {
    return Finish(context, leased);
  }
  return Blocking(
      context, caller,
      [this, context, request_id, caller, run = std::move(run), response] {
        return Respond(run(ContextOf(context, request_id, caller)), response);
      },
      verb == Verb::kStop);
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
    return Blocking(context, caller, [list] { return list(true); });
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
    return Blocking(context, caller, [get] { return get(true); });
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
        if (request->dry_run()) {
          return engine_->DryRunStart(request->name(), *source);
        }
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

grpc::ServerUnaryReactor* LifecycleService::UpdateRecoveryPolicy(
    grpc::CallbackServerContext* context,
    const v1::UpdateRecoveryPolicyRequest* request, v1::Coprocessor* response) {
  const Caller caller = Identify(*context);
  const std::string& name = request->name();
  if (absl::Status s = RequireName(name); !s.ok()) return Finish(context, s);
  for (Verb verb : {Verb::kStart, Verb::kStop}) {
    if (auto* denied = Deny(context, caller, verb, name)) return denied;
  }
  if (absl::Status leased = leases_->Check(caller, name); !leased.ok()) {
    return Finish(context, leased);
  }
  const v1::RecoveryPolicy& in = request->recovery();
  RecoveryPolicy policy;
  policy.restart = in.restart();
  policy.max_restarts = in.max_restarts();
  policy.initial_backoff = absl::Seconds(in.initial_backoff().seconds()) +
                           absl::Nanoseconds(in.initial_backoff().nanos());
  // Recorded before it is applied: nothing changes that the audit trail
  // does not hold.
  absl::Status valid = engine_->Get(name).status();
  if (valid.ok()) valid = LifecycleEngine::CheckRecoveryPolicy(policy);
  HistoryEntry entry;
  entry.time = absl::Now();
  entry.coprocessor = name;
  entry.operation = "update_recovery";
  entry.caller = caller;
  entry.result = valid.ok() ? "OK" : ReasonOf(valid);
  entry.message =
      valid.ok() ? absl::StrCat(policy.restart ? "restart" : "no restart",
                                ", at most ", policy.max_restarts, ", backoff ",
                                absl::FormatDuration(policy.initial_backoff))
                 : std::string(valid.message());
  entry.refused = !valid.ok();
  if (!valid.ok()) {
    gate_->history().Submit(entry);
    return Finish(context, valid);
  }
  return Blocking(context, caller, [this, entry, name, policy, response] {
    if (gate_->history().Add(entry) == 0) {
      return AuditUnavailable("recovery policy change");
    }
    auto updated = engine_->SetRecoveryPolicy(name, policy);
    if (!updated.ok()) return updated.status();
    *response = CoprocessorToProto(*updated);
    return absl::OkStatus();
  });
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
  auto ticket = watches_.Take(caller.Key());
  if (!ticket.ok()) return new EndedWriter<v1::WatchEvent>(ticket.status());
  std::optional<WatchHub::Resume> resume;
  if (request->has_after_sequence()) {
    resume = WatchHub::Resume{request->after_sequence(),
                              request->epoch().substr(0, 64)};
  }
  // The policy is asked again for every event: a reload applies at once.
  return StartWatch(
      hub_.get(), name, resume, std::move(*ticket),
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
  return Blocking(context, caller, [this, request, response, source = *source] {
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
    options.cache = &image::ReportCache::Shared();
    *response = messages::ImageReportToProto(image::Inspect(*image, options));
    response->set_source(from.Describe());
    return absl::OkStatus();
  });
}

}  // namespace pil::server
