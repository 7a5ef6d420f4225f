#include "client/pild_client.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/channel.h"
#include "common/error.h"
#include "common/file.h"
#include "common/rpc_status.h"

namespace pil::client {
namespace {

constexpr size_t kChunk = size_t{1} << 20;

void SetSource(const Firmware& firmware, v1::FirmwareSource* out) {
  switch (firmware.kind) {
    case Firmware::Kind::kName:
      out->set_firmware_name(firmware.value);
      break;
    case Firmware::Kind::kUpload:
      out->set_upload_sha256(firmware.value);
      break;
    case Firmware::Kind::kDefault:
      break;
  }
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace

PildClient::PildClient(const Options& options)
    : options_(options),
      stub_(v1::LifecycleService::NewStub(
          NewChannel(options.address, options.tls))) {}

std::unique_ptr<grpc::ClientContext> PildClient::NewContext() const {
  return NewContext(options_.timeout);
}

std::unique_ptr<grpc::ClientContext> PildClient::NewContext(
    absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  return context;
}

absl::StatusOr<std::vector<v1::Coprocessor>> PildClient::ListCoprocessors(
    bool observe_hardware) {
  auto context = NewContext();
  v1::ListCoprocessorsRequest request;
  request.set_observe_hardware(observe_hardware);
  v1::ListCoprocessorsResponse response;
  grpc::Status status =
      stub_->ListCoprocessors(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::Coprocessor>(response.coprocessors().begin(),
                                      response.coprocessors().end());
}

absl::StatusOr<v1::Coprocessor> PildClient::GetCoprocessor(
    absl::string_view name, bool observe_hardware) {
  auto context = NewContext();
  v1::GetCoprocessorRequest request;
  request.set_name(std::string(name));
  request.set_observe_hardware(observe_hardware);
  v1::Coprocessor response;
  grpc::Status status =
      stub_->GetCoprocessor(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::TransitionResponse> PildClient::Transition(
    const std::function<grpc::Status(grpc::ClientContext*,
                                     v1::TransitionResponse*)>& call) {
  auto context = NewContext(options_.transition_timeout);
  v1::TransitionResponse response;
  grpc::Status status = call(context.get(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::TransitionResponse> PildClient::Authenticate(
    absl::string_view name, const Firmware& firmware, std::string request_id) {
  v1::AuthenticateRequest request;
  request.set_name(std::string(name));
  request.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  if (firmware.kind != Firmware::Kind::kDefault) {
    SetSource(firmware, request.mutable_firmware());
  }
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Authenticate(c, request, r);
  });
}

absl::StatusOr<v1::TransitionResponse> PildClient::Map(absl::string_view name,
                                                       std::string request_id) {
  v1::MapRequest request;
  request.set_name(std::string(name));
  request.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Map(c, request, r);
  });
}

absl::StatusOr<v1::TransitionResponse> PildClient::Reset(
    absl::string_view name, absl::Duration ready_timeout,
    std::string request_id) {
  v1::ResetRequest request;
  request.set_name(std::string(name));
  request.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  if (ready_timeout > absl::ZeroDuration()) {
    SetDuration(ready_timeout, request.mutable_ready_timeout());
  }
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Reset(c, request, r);
  });
}

absl::StatusOr<v1::TransitionResponse> PildClient::Start(
    absl::string_view name, const Firmware& firmware,
    absl::Duration ready_timeout, std::string request_id) {
  v1::StartRequest request;
  request.set_name(std::string(name));
  request.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  if (firmware.kind != Firmware::Kind::kDefault) {
    SetSource(firmware, request.mutable_firmware());
  }
  if (ready_timeout > absl::ZeroDuration()) {
    SetDuration(ready_timeout, request.mutable_ready_timeout());
  }
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Start(c, request, r);
  });
}

absl::StatusOr<v1::TransitionResponse> PildClient::DryRunStart(
    absl::string_view name, const Firmware& firmware) {
  v1::StartRequest request;
  request.set_name(std::string(name));
  request.set_dry_run(true);
  if (firmware.kind != Firmware::Kind::kDefault) {
    SetSource(firmware, request.mutable_firmware());
  }
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Start(c, request, r);
  });
}

absl::StatusOr<v1::TransitionResponse> PildClient::Stop(
    absl::string_view name, absl::Duration stop_ack_timeout,
    std::string request_id) {
  v1::StopRequest request;
  request.set_name(std::string(name));
  request.set_request_id(request_id.empty() ? NewRequestId() : request_id);
  if (stop_ack_timeout > absl::ZeroDuration()) {
    SetDuration(stop_ack_timeout, request.mutable_stop_ack_timeout());
  }
  return Transition([&](grpc::ClientContext* c, v1::TransitionResponse* r) {
    return stub_->Stop(c, request, r);
  });
}

absl::Status PildClient::Watch(
    absl::string_view name,
    const std::function<bool(const v1::WatchEvent&)>& on_event,
    absl::Duration duration) {
  auto context = NewContext(duration);
  v1::WatchRequest request;
  request.set_name(std::string(name));
  auto reader = stub_->Watch(context.get(), request);
  v1::WatchEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context->TryCancel();
      while (reader->Read(&event)) {
      }
      (void)reader->Finish();
      return absl::OkStatus();
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      duration != absl::InfiniteDuration()) {
    return absl::OkStatus();  // watched for as long as asked
  }
  return FromGrpcStatus(status);
}

absl::StatusOr<v1::ImageReport> PildClient::InspectImage(
    const Firmware& firmware, absl::string_view coprocessor) {
  auto context = NewContext(options_.transition_timeout);
  v1::InspectImageRequest request;
  if (firmware.kind != Firmware::Kind::kDefault) {
    SetSource(firmware, request.mutable_firmware());
  }
  request.set_coprocessor(std::string(coprocessor));
  v1::ImageReport response;
  grpc::Status status = stub_->InspectImage(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::UploadFirmwareResponse> PildClient::Upload(
    absl::string_view display_name, absl::string_view bytes,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  auto context = NewContext(options_.transition_timeout);
  v1::UploadFirmwareResponse response;
  auto writer = stub_->UploadFirmware(context.get(), &response);
  v1::UploadFirmwareRequest message;
  v1::UploadHeader* header = message.mutable_header();
  header->set_name(std::string(display_name));
  header->set_size(bytes.size());
  header->set_sha256(Sha256Hex(bytes));
  header->set_request_id(NewRequestId());
  bool sending = writer->Write(message);
  for (size_t offset = 0; sending && offset < bytes.size(); offset += kChunk) {
    message.set_chunk(std::string(bytes.substr(offset, kChunk)));
    sending = writer->Write(message);
    if (sending && progress) {
      progress(std::min(offset + kChunk, bytes.size()), bytes.size());
    }
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::CoredumpInfo> PildClient::GetCoredump(
    absl::string_view name, uint64_t crash_id, std::string* bytes,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  auto context = NewContext(options_.transition_timeout);
  v1::GetCoredumpRequest request;
  request.set_name(std::string(name));
  request.set_crash_id(crash_id);
  auto reader = stub_->GetCoredump(context.get(), request);
  v1::CoredumpChunk chunk;
  v1::CoredumpInfo info;
  bool has_info = false;
  bytes->clear();
  while (reader->Read(&chunk)) {
    if (chunk.has_info()) {
      info = chunk.info();
      has_info = true;
      bytes->reserve(info.size());
    } else {
      *bytes += chunk.data();
      if (progress) progress(bytes->size(), info.size());
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!has_info || bytes->size() != info.size() ||
      Sha256Hex(*bytes) != info.sha256()) {
    return Error(absl::StatusCode::kDataLoss, "COREDUMP_CORRUPTED",
                 absl::StrCat("received ", bytes->size(),
                              " bytes that do not match the announced size ",
                              info.size(), " and SHA-256 ", info.sha256()));
  }
  return info;
}

absl::StatusOr<v1::GetHistoryResponse> PildClient::GetHistory(
    const v1::GetHistoryRequest& request) {
  auto context = NewContext();
  v1::GetHistoryResponse response;
  grpc::Status status = stub_->GetHistory(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::GetInfoResponse> PildClient::GetInfo() {
  auto context = NewContext();
  v1::GetInfoResponse response;
  grpc::Status status =
      stub_->GetInfo(context.get(), v1::GetInfoRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace pil::client
