// Whole-file reads and writes.
#ifndef PILD_COMMON_FILE_H_
#define PILD_COMMON_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil {

// The contents of the regular file at `path`. NOT_FOUND (FILE_NOT_FOUND)
// when it does not exist, FAILED_PRECONDITION (FILE_TOO_LARGE) when it is
// larger than `max_size`, other codes (FILE_UNREADABLE) for other failures.
absl::StatusOr<std::string> ReadFile(absl::string_view path,
                                     size_t max_size = size_t{1} << 30);

// Replaces the file at `path` with `data` (mode 0644 when created).
// FAILED_PRECONDITION (FILE_UNWRITABLE) naming the path and the error.
absl::Status WriteFile(absl::string_view path, absl::string_view data);

}  // namespace pil

#endif  // PILD_COMMON_FILE_H_
