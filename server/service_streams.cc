// The streaming calls: UploadFirmware (client stream) and GetCoredump
// (server stream), each admitted by the gate and recorded in the audit
// trail before its reply.
#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/log.h"
#include "common/rpc_status.h"
#include "messages/image_proto.h"
#include "server/access/identity.h"
#include "server/redact.h"
#include "server/requests.h"
#include "server/service.h"
#include "server/service_internal.h"
#include "server/status_proto.h"
#include "server/upload_stream.h"

namespace pil::server {

// ---- UploadFirmware ----

class LifecycleService::UploadReactor final
    : public grpc::ServerReadReactor<v1::UploadFirmwareRequest> {
 public:
  UploadReactor(LifecycleService* service, grpc::CallbackServerContext* context,
                v1::UploadFirmwareResponse* response)
      : service_(service),
        response_(response),
        caller_(access::Identify(*context)),
        start_(absl::Now()),
        stream_(service->options_.max_upload_size, &service->upload_bytes_,
                caller_.Key()) {
    if (absl::Status denied =
            service_->gate_->Decide(caller_, Verb::kUpload, "");
        !denied.ok()) {
      service_->gate_->Record(caller_, Verb::kUpload, "", "", denied,
                              [this, denied] { Finish(ToGrpcStatus(denied)); });
      return;
    }
    auto place = service_->uploads_.Take(caller_.Key());
    if (!place.ok()) {
      End(place.status());
      return;
    }
    place_ = std::move(*place);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Complete();
      return;
    }
    if (absl::Status s = stream_.Take(request_); !s.ok()) {
      End(s);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // The client finished sending: check and validate on a worker.
  void Complete() {
    auto bytes = stream_.Finish();
    if (!bytes.ok()) {
      End(bytes.status());
      return;
    }
    OnWorker([this, bytes = *std::move(bytes)] { return Validate(bytes); });
  }

  // Ends the upload with `status`, recorded first.
  void End(absl::Status status) {
    OnWorker([this, status] { return Record(status); });
  }

  void OnWorker(std::function<absl::Status()> work) {
    auto status = std::make_shared<grpc::Status>();
    absl::Status accepted = service_->workers_.Submit(
        caller_.Key(),
        [this, status, work = std::move(work)] {
          *status = ToGrpcStatus(RedactFor(caller_, work()));
        },
        [this, status] { Finish(*status); });
    if (!accepted.ok()) Finish(ToGrpcStatus(accepted));
  }

  // Validates the image and keeps it, once its record is on disk.
  // From here on the bytes are shared, never copied: with the validation,
  // with the store and with every load of the upload.
  absl::Status Validate(std::shared_ptr<const std::string> bytes) {
    auto valid = ValidateUpload(stream_.header(), bytes,
                                service_->options_.verify_threads);
    if (!valid.ok()) return Record(valid.status());
    sha256_ = valid->sha256;
    if (!Record(absl::OkStatus()).ok()) {
      return AuditUnavailable("upload");
    }
    *response_->mutable_report() = messages::ImageReportToProto(valid->report);
    response_->mutable_report()->set_source("upload:" + sha256_);
    response_->set_sha256(sha256_);
    response_->set_size(bytes->size());
    service_->firmware_->AddUpload(sha256_, std::move(bytes),
                                   stream_.header().name());
    PILD_LOG(INFO) << "upload " << stream_.header().name() << " ("
                   << stream_.header().size() << " bytes) from "
                   << caller_.Describe() << " accepted as " << sha256_;
    return absl::OkStatus();
  }

  // Puts the upload's outcome in the audit trail; returns `status`, or
  // AUDIT_UNAVAILABLE when the record could not be written.
  absl::Status Record(const absl::Status& status) {
    HistoryEntry entry;
    entry.time = start_;
    entry.operation = "upload";
    entry.caller = caller_;
    entry.image_sha256 = sha256_;
    entry.result = status.ok() ? "OK" : ReasonOf(status);
    entry.message = status.ok()
                        ? absl::StrCat("'", stream_.header().name(), "', ",
                                       stream_.header().size(), " bytes")
                        : std::string(status.message());
    entry.duration = absl::Now() - start_;
    // An upload turned away stored nothing.
    entry.refused = !status.ok();
    if (service_->gate_->history().Add(std::move(entry)) == 0) {
      return AuditUnavailable("upload");
    }
    return status;
  }

  LifecycleService* service_;
  v1::UploadFirmwareResponse* response_;
  const Caller caller_;
  const absl::Time start_;
  v1::UploadFirmwareRequest request_;
  UploadStream stream_;
  std::string sha256_;
  Quota::Ticket place_;  // among the uploads; released when the call is done
};

grpc::ServerReadReactor<v1::UploadFirmwareRequest>*
LifecycleService::UploadFirmware(grpc::CallbackServerContext* context,
                                 v1::UploadFirmwareResponse* response) {
  return new UploadReactor(this, context, response);
}

// ---- GetCoredump ----

namespace {

// Streams `dump`: its CoredumpInfo, then the ELF file in chunks, once
// `record` (on a worker) has put the download on the record.
class CoredumpReactor final
    : public grpc::ServerWriteReactor<v1::CoredumpChunk> {
 public:
  CoredumpReactor(Coredump dump, Quota::Ticket ticket, Workers& workers,
                  const std::string& key, std::function<bool()> record)
      : dump_(std::move(dump)), ticket_(std::move(ticket)) {
    CoredumpInfoToProto(dump_, chunk_.mutable_info());
    auto recorded = std::make_shared<bool>(false);
    absl::Status accepted = workers.Submit(
        key, [recorded, record] { *recorded = record(); },
        [this, recorded] {
          if (*recorded) {
            StartWrite(&chunk_);
          } else {
            Finish(ToGrpcStatus(AuditUnavailable("download")));
          }
        });
    if (!accepted.ok()) Finish(ToGrpcStatus(accepted));
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      return;
    }
    if (offset_ >= dump_.bytes->size()) {
      Finish(grpc::Status::OK);
      return;
    }
    const size_t n = std::min(kChunk, dump_.bytes->size() - offset_);
    chunk_.set_data(dump_.bytes->data() + offset_, n);
    offset_ += n;
    StartWrite(&chunk_);
  }

  void OnDone() override { delete this; }

 private:
  Coredump dump_;  // its bytes shared with the engine's copy
  Quota::Ticket ticket_;
  v1::CoredumpChunk chunk_;
  size_t offset_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<v1::CoredumpChunk>* LifecycleService::GetCoredump(
    grpc::CallbackServerContext* context,
    const v1::GetCoredumpRequest* request) {
  const Caller caller = access::Identify(*context);
  const std::string name = request->name();
  if (absl::Status s = RequireName(name); !s.ok()) {
    return new EndedWriter<v1::CoredumpChunk>(s);
  }
  if (absl::Status denied = gate_->Decide(caller, Verb::kCoredump, name);
      !denied.ok()) {
    return EndedWriter<v1::CoredumpChunk>::Denied(
        *gate_, caller, Verb::kCoredump, name, denied);
  }
  auto ticket = downloads_.Take(caller.Key());
  if (!ticket.ok()) {
    return new EndedWriter<v1::CoredumpChunk>(ticket.status());
  }
  const absl::Time start = absl::Now();
  auto dump = engine_->GetCoredump(name, request->crash_id());
  // Raw coprocessor memory leaves pild: recorded before the first byte.
  HistoryEntry entry;
  entry.time = start;
  entry.coprocessor = name;
  entry.operation = "coredump";
  entry.caller = caller;
  entry.result = dump.ok() ? "OK" : ReasonOf(dump.status());
  entry.message = dump.ok() ? absl::StrCat("crash ", dump->crash_id, ", ",
                                           dump->bytes->size(),
                                           " bytes, sha256 ", dump->sha256)
                            : std::string(dump.status().message());
  entry.refused = !dump.ok();
  if (!dump.ok()) {
    // Nothing left pild: a refused call, recorded as such.
    auto* writer = new EndedWriter<v1::CoredumpChunk>(dump.status());
    gate_->history().Submit(entry);
    return writer;
  }
  return new CoredumpReactor(
      std::move(*dump), std::move(*ticket), workers_, caller.Key(),
      [this, entry] { return gate_->history().Add(entry) != 0; });
}

}  // namespace pil::server
