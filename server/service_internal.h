// Helpers shared by the service's files (service.cc, service_streams.cc,
// service_info.cc).
#ifndef PILD_SERVER_SERVICE_INTERNAL_H_
#define PILD_SERVER_SERVICE_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "server/gate.h"
#include "server/upload_stream.h"
#include "server/workers.h"

namespace pil::server {

// Largest chunk pild sends in a stream: as large as it accepts.
inline constexpr size_t kChunk = UploadStream::kMaxChunk;

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

// A server stream refused before it began: ended at once, or (Denied) once
// the gate has recorded the denial.
template <typename Message>
class EndedWriter final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit EndedWriter(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  static EndedWriter* Denied(Gate& gate, const Caller& caller, Verb verb,
                             const std::string& coprocessor,
                             const absl::Status& denied) {
    auto* writer = new EndedWriter();
    gate.Record(caller, verb, coprocessor, "", denied,
                [writer, denied] { writer->Finish(ToGrpcStatus(denied)); });
    return writer;
  }
  void OnDone() override { delete this; }

 private:
  EndedWriter() = default;
};

// The status a call gets when its record could not be written: nothing is
// done that the audit trail does not hold.
inline absl::Status AuditUnavailable(absl::string_view what) {
  return Error(absl::StatusCode::kUnavailable, "AUDIT_UNAVAILABLE",
               absl::StrCat("the audit trail refused the record of this ", what,
                            "; nothing was done"));
}

}  // namespace pil::server

#endif  // PILD_SERVER_SERVICE_INTERNAL_H_
