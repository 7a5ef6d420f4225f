// Helpers shared by the service's files (service.cc, service_streams.cc,
// service_info.cc).
#ifndef PILD_SERVER_SERVICE_INTERNAL_H_
#define PILD_SERVER_SERVICE_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "server/workers.h"

namespace pil::server {

// Largest chunk pild sends or accepts in a stream.
inline constexpr size_t kChunk = size_t{1} << 20;

inline grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                        const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

inline absl::Status Invalid(absl::string_view reason,
                            absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message);
}

inline absl::Status Busy(size_t limit) {
  return Error(
      absl::StatusCode::kResourceExhausted, "SERVER_BUSY",
      absl::StrCat("more than ", limit, " calls in progress; retry later"));
}

// A server stream that ends with the status of `work`, run on `workers`
// (SERVER_BUSY when they are all taken): a refused Watch or coredump
// download whose refusal must reach the audit trail first.
template <typename Message>
class EndedWriter final : public grpc::ServerWriteReactor<Message> {
 public:
  EndedWriter(Workers& workers, size_t limit,
              std::function<absl::Status()> work) {
    auto status = std::make_shared<grpc::Status>();
    if (!workers.Run([status, work] { *status = ToGrpcStatus(work()); },
                     [this, status] { this->Finish(*status); })) {
      this->Finish(ToGrpcStatus(Busy(limit)));
    }
  }
  // An immediate end.
  explicit EndedWriter(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace pil::server

#endif  // PILD_SERVER_SERVICE_INTERNAL_H_
