// Errors with a stable reason code.
//
//   return pil::Error(absl::StatusCode::kInvalidArgument, "SEGMENT_TRUNCATED",
//                     "segment 3 ends at 0x2000, beyond the file size 0x1800",
//                     {{"segment", "3"}});
//   ...
//   if (pil::ReasonOf(status) == "SEGMENT_TRUNCATED") ...
//
// The reason and metadata travel as absl::Status payloads; the server turns
// them into a google.rpc.ErrorInfo. Reasons are UPPER_SNAKE_CASE and stable:
// scripts act on them.
#ifndef PILD_COMMON_ERROR_H_
#define PILD_COMMON_ERROR_H_

#include <initializer_list>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pil {

using ErrorMetadata = std::map<std::string, std::string>;

// A non-OK status with `code`, `message`, a reason and metadata.
absl::Status Error(absl::StatusCode code, absl::string_view reason,
                   absl::string_view message,
                   const ErrorMetadata& metadata = {});

// The reason carried by `status`, or "" when it has none.
std::string ReasonOf(const absl::Status& status);

// The metadata carried by `status` (empty when none).
ErrorMetadata MetadataOf(const absl::Status& status);

// `status` with `prefix: ` prepended to its message; reason and metadata are
// kept. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);

// `status` with an extra metadata entry (replacing one of the same key).
absl::Status WithMetadata(absl::Status status, absl::string_view key,
                          absl::string_view value);

}  // namespace pil

#endif  // PILD_COMMON_ERROR_H_
