#include "client/exit_codes.h"

#include "common/error.h"

namespace pil::client {

ExitCode ExitCodeFor(const absl::Status& status) {
  if (ReasonOf(status) == "USAGE") return kExitUsage;  // pilctl's own
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitFailed;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
      return kExitRejected;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitPermissionDenied;
    case absl::StatusCode::kUnimplemented:
      return kExitUnimplemented;
    default:
      return kExitFailed;
  }
}

}  // namespace pil::client
