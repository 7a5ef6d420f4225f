// Engine state in the API's terms.
#ifndef PILD_SERVER_STATUS_PROTO_H_
#define PILD_SERVER_STATUS_PROTO_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/pil/v1/lifecycle.pb.h"
#include "server/engine.h"
#include "server/history.h"

namespace pil::server {

v1::State StateToProto(State state);
// The internal operation names (HistoryEntry::operation, access::VerbName);
// OPERATION_UNSPECIFIED for any other.
v1::Operation OperationToProto(absl::string_view operation);
// "sim", "linux".
v1::Backend BackendToProto(absl::string_view backend);
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);
void DurationToProto(absl::Duration duration, google::protobuf::Duration* out);

// Device-tree facts plus live state, image, recovery and hardware view.
v1::Coprocessor CoprocessorToProto(const CoprocessorStatus& status);
v1::TransitionResponse TransitionToProto(const TransitionResult& result);
v1::WatchEvent EventToProto(const StateEvent& event);
void CallerToProto(const Caller& caller, v1::Caller* out);
v1::HistoryEntry HistoryToProto(const HistoryEntry& entry);
void CoredumpInfoToProto(const Coredump& dump, v1::CoredumpInfo* out);

}  // namespace pil::server

#endif  // PILD_SERVER_STATUS_PROTO_H_
