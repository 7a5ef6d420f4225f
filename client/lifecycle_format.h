// Transitions, watch events and transfers for people (text) and
// scripts (JSON).
#ifndef PILD_CLIENT_LIFECYCLE_FORMAT_H_
#define PILD_CLIENT_LIFECYCLE_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "client/json.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::client {

// "1.5ms", "2s" ...
std::string DurationText(const google::protobuf::Duration& d);

// A headline ("video: running (start)"), the steps as a table (step,
// duration, detail), the note, and the hardware view after the transition.
std::string TransitionText(const std::string& operation,
                           const v1::TransitionResponse& response);

// Keys: operation (the verb, pilctl's own), then the TransitionResponse
// fields: replayed, dry_run, request_id, note, steps (name, detail,
// duration), coprocessor (as WriteCoprocessorJson).
void WriteTransitionJson(const std::string& operation,
                         const v1::TransitionResponse& response,
                         JsonWriter& json);

// One line: time, sequence, name, previous -> state, reason (and the last
// error's reason for crashes and failures).
std::string WatchEventLine(const v1::WatchEvent& event);

// One compact JSON object (no trailing newline). Keys: the WatchEvent's
// sequence, epoch, time, initial, previous_state, operation, reason, and
// of its coprocessor name, state, crash_count, last_error.
std::string WatchEventJson(const v1::WatchEvent& event);

// "lease 3: adsp, cdsp held by uid 0 pid 7 (audio HAL) since TIME".
std::string LeaseText(const v1::LeaseResponse& lease);

// The LeaseResponse as one compact JSON line: lease_id, names, holder,
// granted.
std::string LeaseJson(const v1::LeaseResponse& lease);

// "[#########.........]  45%  1.2/2.7 MiB" of `width` bar cells.
std::string ProgressBar(uint64_t done, uint64_t total, int width = 30);

}  // namespace pil::client

#endif  // PILD_CLIENT_LIFECYCLE_FORMAT_H_
