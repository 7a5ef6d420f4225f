// The audit trail and GetInfo for people (text) and scripts (JSON).
#ifndef PILD_CLIENT_AUDIT_FORMAT_H_
#define PILD_CLIENT_AUDIT_FORMAT_H_

#include <string>
#include <vector>

#include "proto/pil/v1/history.pb.h"
#include "proto/pil/v1/info.pb.h"

namespace pil::client {

// "uid 1000 pid 42", "cert fleet-1", else the peer ("-" when none).
std::string CallerText(const v1::Caller& caller);

// Columns: ID, TIME, NAME, OPERATION, TRANSITION, RESULT, DURATION, CALLER.
// A refused call's TRANSITION is "refused".
std::string HistoryTable(const std::vector<v1::HistoryEntry>& entries);

// A JSON list of HistoryEntry objects. Keys: id, time, name, operation,
// request_id, outcome, caller (uid, gid, pid, groups, certificate, peer),
// image_sha256, from_state, to_state, reason, message, duration.
std::string HistoryJson(const std::vector<v1::HistoryEntry>& entries);

// pild, how it admits callers, its audit trail, and the caller's identity
// and rights, one "key: value" per line.
std::string InfoText(const v1::GetInfoResponse& info);

// Keys: version, epoch, backend, board_model, audit, admission, caller,
// grants.
std::string InfoJson(const v1::GetInfoResponse& info);

}  // namespace pil::client

#endif  // PILD_CLIENT_AUDIT_FORMAT_H_
