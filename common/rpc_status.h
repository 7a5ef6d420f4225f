// absl::Status <-> grpc::Status, with google.rpc.ErrorInfo details.
//
// Codes map 1:1. A status carrying a reason (see common/error.h) becomes a
// grpc::Status whose binary details are a google.rpc.Status holding one
// google.rpc.ErrorInfo {reason, domain "pild", metadata}; FromGrpcStatus
// restores reason and metadata on the client side, from ErrorInfo of
// domain "pild" only (another domain's reason is dropped).
#ifndef PILD_COMMON_RPC_STATUS_H_
#define PILD_COMMON_RPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace pil {

inline constexpr char kErrorDomain[] = "pild";

grpc::Status ToGrpcStatus(const absl::Status& status);

absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace pil

#endif  // PILD_COMMON_RPC_STATUS_H_
