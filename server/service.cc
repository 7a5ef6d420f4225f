#include "server/service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/log.h"
#include "common/rpc_status.h"
#include "messages/image_proto.h"
#include "platform/image/inspect.h"
#include "platform/image/signature.h"
#include "server/requests.h"
#include "server/status_proto.h"
#include "server/watch_hub.h"

namespace pil::server {
namespace {

constexpr size_t kChunk = size_t{1} << 20;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status Invalid(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message);
}

absl::Status Respond(absl::StatusOr<TransitionResult> result,
                     v1::TransitionResponse* response) {
  if (!result.ok()) return result.status();
  *response = TransitionToProto(*result);
  return absl::OkStatus();
}

}  // namespace

// ---- UploadFirmware ----

class LifecycleService::UploadReactor final
    : public grpc::ServerReadReactor<v1::UploadFirmwareRequest> {
 public:
  UploadReactor(LifecycleService* service, grpc::CallbackServerContext* context,
                v1::UploadFirmwareResponse* response)
      : service_(service), context_(context), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Complete();
      return;
    }
    if (absl::Status s = Take(); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Take() {
    if (!has_header_) {
      if (!request_.has_header()) {
        return Invalid("UPLOAD_HEADER_MISSING",
                       "the first message of an upload must be its header");
      }
      header_ = request_.header();
      has_header_ = true;
      if (header_.size() == 0) {
        return Invalid("UPLOAD_EMPTY",
                       "header.size is 0; expected the "
                       "image's size in bytes");
      }
      if (header_.size() > service_->options_.max_upload_size) {
        return Error(
            absl::StatusCode::kResourceExhausted, "UPLOAD_TOO_LARGE",
            absl::StrCat("the image is ", header_.size(), " bytes; at most ",
                         service_->options_.max_upload_size, " accepted"));
      }
      if (!header_.sha256().empty() && !IsSha256Hex(header_.sha256())) {
        return Invalid("BAD_SHA256",
                       absl::StrCat("header.sha256 must be 64 lower-case hex "
                                    "digits; got '",
                                    header_.sha256(), "'"));
      }
      bytes_.reserve(std::min<uint64_t>(header_.size(), kChunk * 64));
      return absl::OkStatus();
    }
    if (!request_.has_chunk()) {
      return Invalid("UPLOAD_HEADER_REPEATED",
                     "only the first message of an upload is a header; "
                     "expected a chunk");
    }
    const std::string& chunk = request_.chunk();
    if (chunk.size() > kChunk) {
      return Invalid("UPLOAD_CHUNK_TOO_LARGE",
                     absl::StrCat("a chunk of ", chunk.size(),
                                  " bytes; at most 1 MiB expected"));
    }
    if (bytes_.size() + chunk.size() > header_.size()) {
      return Invalid("UPLOAD_SIZE_MISMATCH",
                     absl::StrCat("received more than the ", header_.size(),
                                  " bytes the header announced"));
    }
    bytes_ += chunk;
    return absl::OkStatus();
  }

  // The client finished sending: check and validate on a worker.
  void Complete() {
    if (!has_header_) {
      Finish(ToGrpcStatus(Invalid("UPLOAD_HEADER_MISSING",
                                  "the upload ended before its header")));
      return;
    }
    if (bytes_.size() != header_.size()) {
      Finish(ToGrpcStatus(Invalid("UPLOAD_SIZE_MISMATCH",
                                  absl::StrCat("received ", bytes_.size(),
                                               " bytes; the header "
                                               "announced ",
                                               header_.size()))));
      return;
    }
    auto status = std::make_shared<grpc::Status>();
    if (!service_->workers_.Run(
            [this, status] { *status = ToGrpcStatus(Validate()); },
            [this, status] { Finish(*status); })) {
      Finish(ToGrpcStatus(Error(absl::StatusCode::kResourceExhausted,
                                "SERVER_BUSY",
                                "too many calls in progress; retry later")));
    }
  }

  absl::Status Validate() {
    auto valid =
        ValidateUpload(header_, bytes_, service_->options_.verify_threads);
    if (!valid.ok()) return valid.status();
    const std::string sha256 = valid->sha256;
    *response_->mutable_report() = messages::ImageReportToProto(valid->report);
    response_->mutable_report()->set_source("upload:" + sha256);
    response_->set_sha256(sha256);
    response_->set_size(bytes_.size());
    service_->firmware_->AddUpload(sha256, std::move(bytes_));
    PILD_LOG(INFO) << "upload " << header_.name() << " (" << header_.size()
                   << " bytes) from " << context_->peer() << " accepted as "
                   << sha256;
    return absl::OkStatus();
  }

  LifecycleService* service_;
  grpc::CallbackServerContext* context_;
  v1::UploadFirmwareResponse* response_;
  v1::UploadFirmwareRequest request_;
  bool has_header_ = false;
  v1::UploadHeader header_;
  std::string bytes_;
};

// ---- GetCoredump ----

namespace {

class CoredumpReactor final
    : public grpc::ServerWriteReactor<v1::CoredumpChunk> {
 public:
  explicit CoredumpReactor(Coredump dump) : dump_(std::move(dump)) {
    v1::CoredumpInfo* info = chunk_.mutable_info();
    info->set_name(dump_.coprocessor);
    info->set_crash_id(dump_.crash_id);
    info->set_reason(dump_.reason);
    TimeToProto(dump_.time, info->mutable_time());
    info->set_size(dump_.bytes.size());
    info->set_sha256(dump_.sha256);
    StartWrite(&chunk_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      return;
    }
    if (offset_ >= dump_.bytes.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    const size_t n = std::min(kChunk, dump_.bytes.size() - offset_);
    chunk_.set_data(dump_.bytes.substr(offset_, n));
    offset_ += n;
    StartWrite(&chunk_);
  }

  void OnDone() override { delete this; }

 private:
  Coredump dump_;
  v1::CoredumpChunk chunk_;
  size_t offset_ = 0;
};

class ErrorWriter final : public grpc::ServerWriteReactor<v1::CoredumpChunk> {
 public:
  explicit ErrorWriter(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

// ---- the service ----

LifecycleService::LifecycleService(LifecycleEngine* engine,
                                   FirmwareStore* firmware,
                                   ServiceOptions options)
    : engine_(engine),
      firmware_(firmware),
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
    reactor->Finish(ToGrpcStatus(
        Error(absl::StatusCode::kResourceExhausted, "SERVER_BUSY",
              absl::StrCat("more than ", options_.max_blocking_calls,
                           " calls in progress; retry later"))));
  }
  return reactor;
}

CallContext LifecycleService::ContextOf(grpc::CallbackServerContext* context,
                                        const std::string& request_id) const {
  CallContext ctx;
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    ctx.deadline = absl::FromChrono(deadline);
  }
  ctx.cancelled = [context] { return context->IsCancelled(); };
  ctx.request_id = request_id;
  if (options_.identify) {
    ctx.caller = options_.identify(context->peer());
  } else {
    ctx.caller.peer = context->peer();
  }
  return ctx;
}

grpc::ServerUnaryReactor* LifecycleService::ListCoprocessors(
    grpc::CallbackServerContext* context,
    const v1::ListCoprocessorsRequest* request,
    v1::ListCoprocessorsResponse* response) {
  auto list = [this, response](bool observe) {
    for (const CoprocessorStatus& c : engine_->List(observe)) {
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
  if (absl::Status s = RequireName(request->name()); !s.ok()) {
    return Finish(context, s);
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
  absl::Status valid = RequireName(request->name());
  if (valid.ok()) valid = CheckRequestId(request->request_id());
  if (valid.ok()) valid = source.status();
  if (!valid.ok()) return Finish(context, valid);
  return Blocking(
      context, [this, context, request, response, source = *source] {
        return Respond(
            engine_->Authenticate(request->name(), source,
                                  ContextOf(context, request->request_id())),
            response);
      });
}

grpc::ServerUnaryReactor* LifecycleService::Map(
    grpc::CallbackServerContext* context, const v1::MapRequest* request,
    v1::TransitionResponse* response) {
  absl::Status valid = RequireName(request->name());
  if (valid.ok()) valid = CheckRequestId(request->request_id());
  if (!valid.ok()) return Finish(context, valid);
  return Blocking(context, [this, context, request, response] {
    return Respond(engine_->Map(request->name(),
                                ContextOf(context, request->request_id())),
                   response);
  });
}

grpc::ServerUnaryReactor* LifecycleService::Reset(
    grpc::CallbackServerContext* context, const v1::ResetRequest* request,
    v1::TransitionResponse* response) {
  auto timeout = TimeoutOf(request->has_ready_timeout(),
                           request->ready_timeout(), "ready_timeout");
  absl::Status valid = RequireName(request->name());
  if (valid.ok()) valid = CheckRequestId(request->request_id());
  if (valid.ok()) valid = timeout.status();
  if (!valid.ok()) return Finish(context, valid);
  return Blocking(context, [this, context, request, response,
                            timeout = *timeout] {
    return Respond(engine_->Reset(request->name(), timeout,
                                  ContextOf(context, request->request_id())),
                   response);
  });
}

grpc::ServerUnaryReactor* LifecycleService::Start(
    grpc::CallbackServerContext* context, const v1::StartRequest* request,
    v1::TransitionResponse* response) {
  auto source = SourceOf(request->has_firmware(), request->firmware());
  auto timeout = TimeoutOf(request->has_ready_timeout(),
                           request->ready_timeout(), "ready_timeout");
  absl::Status valid = RequireName(request->name());
  if (valid.ok()) valid = CheckRequestId(request->request_id());
  if (valid.ok()) valid = source.status();
  if (valid.ok()) valid = timeout.status();
  if (!valid.ok()) return Finish(context, valid);
  return Blocking(context, [this, context, request, response, source = *source,
                            timeout = *timeout] {
    return Respond(engine_->Start(request->name(), source, timeout,
                                  ContextOf(context, request->request_id())),
                   response);
  });
}

grpc::ServerUnaryReactor* LifecycleService::Stop(
    grpc::CallbackServerContext* context, const v1::StopRequest* request,
    v1::TransitionResponse* response) {
  auto timeout = TimeoutOf(request->has_stop_ack_timeout(),
                           request->stop_ack_timeout(), "stop_ack_timeout");
  absl::Status valid = RequireName(request->name());
  if (valid.ok()) valid = CheckRequestId(request->request_id());
  if (valid.ok()) valid = timeout.status();
  if (!valid.ok()) return Finish(context, valid);
  return Blocking(
      context, [this, context, request, response, timeout = *timeout] {
        return Respond(engine_->Stop(request->name(), timeout,
                                     ContextOf(context, request->request_id())),
                       response);
      });
}

grpc::ServerWriteReactor<v1::WatchEvent>* LifecycleService::Watch(
    grpc::CallbackServerContext*, const v1::WatchRequest* request) {
  return StartWatch(hub_.get(), request->name(),
                    [&] { return engine_->Get(request->name()).status(); });
}

grpc::ServerUnaryReactor* LifecycleService::InspectImage(
    grpc::CallbackServerContext* context,
    const v1::InspectImageRequest* request, v1::ImageReport* response) {
  auto source = SourceOf(request->has_firmware(), request->firmware());
  if (!source.ok()) return Finish(context, source.status());
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

grpc::ServerReadReactor<v1::UploadFirmwareRequest>*
LifecycleService::UploadFirmware(grpc::CallbackServerContext* context,
                                 v1::UploadFirmwareResponse* response) {
  return new UploadReactor(this, context, response);
}

grpc::ServerWriteReactor<v1::CoredumpChunk>* LifecycleService::GetCoredump(
    grpc::CallbackServerContext*, const v1::GetCoredumpRequest* request) {
  if (absl::Status s = RequireName(request->name()); !s.ok()) {
    return new ErrorWriter(s);
  }
  auto dump = engine_->GetCoredump(request->name(), request->crash_id());
  if (!dump.ok()) return new ErrorWriter(dump.status());
  return new CoredumpReactor(std::move(*dump));
}

grpc::ServerUnaryReactor* LifecycleService::GetHistory(
    grpc::CallbackServerContext* context, const v1::GetHistoryRequest* request,
    v1::GetHistoryResponse* response) {
  if (!request->name().empty()) {
    if (absl::Status s = engine_->Get(request->name()).status(); !s.ok()) {
      return Finish(context, s);
    }
  }
  const size_t limit =
      request->limit() == 0
          ? 100
          : std::min<size_t>(request->limit(), History::kCapacity);
  for (const HistoryEntry& entry :
       engine_->history().Query(request->name(), limit)) {
    *response->add_entries() = HistoryToProto(entry);
  }
  return Finish(context, absl::OkStatus());
}

}  // namespace pil::server
