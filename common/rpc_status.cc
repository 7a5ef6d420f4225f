#include "common/rpc_status.h"

#include <string>

#include "common/error.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace pil {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  const std::string reason = ReasonOf(status);
  if (reason.empty()) return grpc::Status(code, message);

  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain(kErrorDomain);
  for (const auto& [key, value] : MetadataOf(status)) {
    (*info.mutable_metadata())[key] = value;
  }
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(message);
  details.add_details()->PackFrom(info);
  return grpc::Status(code, message, details.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  google::rpc::Status details;
  if (!status.error_details().empty() &&
      details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      // Only pild's own reasons: a proxy or library may add ErrorInfo of
      // its own domain, whose reasons mean something else.
      if (any.UnpackTo(&info) && info.domain() == kErrorDomain) {
        ErrorMetadata metadata(info.metadata().begin(), info.metadata().end());
        return Error(code, info.reason(), status.error_message(), metadata);
      }
    }
  }
  return absl::Status(code, status.error_message());
}

}  // namespace pil
