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

// Keys: operation, replayed, note, steps (name, detail, duration_us),
// coprocessor (as WriteCoprocessorJson).
void WriteTransitionJson(const std::string& operation,
                         const v1::TransitionResponse& response,
                         JsonWriter& json);

// One line: time, sequence, name, previous -> state, reason (and the last
// error's reason for crashes and failures).
std::string WatchEventLine(const v1::WatchEvent& event);

// One compact JSON object (no trailing newline). Keys: sequence, time,
// initial, name, previous_state, state, reason, crash_count, last_error.
std::string WatchEventJson(const v1::WatchEvent& event);

// "[#########.........]  45%  1.2/2.7 MiB" of `width` bar cells.
std::string ProgressBar(uint64_t done, uint64_t total, int width = 30);

}  // namespace pil::client

#endif  // PILD_CLIENT_LIFECYCLE_FORMAT_H_
