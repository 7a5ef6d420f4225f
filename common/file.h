// Whole-file reads and writes.
#ifndef PILD_COMMON_FILE_H_
#define PILD_COMMON_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/shared_bytes.h"

namespace pil {

// The contents of the regular file at `path`. NOT_FOUND (FILE_NOT_FOUND)
// when it does not exist or is a directory; FAILED_PRECONDITION
// (FILE_UNREADABLE) without blocking when it is a FIFO, socket or device;
// FAILED_PRECONDITION (FILE_TOO_LARGE) when it is larger than `max_size`, other
// codes (FILE_UNREADABLE) for other failures.
absl::StatusOr<std::string> ReadFile(absl::string_view path,
                                     size_t max_size = size_t{1} << 30);

// The contents of the regular file `name` beneath the directory open as
// `dir_fd`: symbolic links are followed only while they stay beneath it
// (openat2 RESOLVE_BENEATH, no /proc magic links), and the open never
// blocks (a FIFO or device is refused, not waited on). `name` is relative.
// Errors as ReadFile's, naming `display` (the directory and name) and
// FILE_OUTSIDE_DIRECTORY (PERMISSION_DENIED) for a name that leaves it.
absl::StatusOr<std::string> ReadFileBeneath(int dir_fd, absl::string_view name,
                                            absl::string_view display,
                                            size_t max_size);

// ReadFileBeneath() without a copy where that is safe: a regular file of
// 1 to `max_size` bytes that only root or this process's user can change
// (owned by either, not group- or other-writable) is mapped read-only, and
// its SharedBytes carries an identity (device, inode, size, modification
// and change times). Any other file is read, without identity: a mapping of
// a file someone else could truncate would fault. Errors as
// ReadFileBeneath's.
absl::StatusOr<SharedBytes> MapFileBeneath(int dir_fd, absl::string_view name,
                                           absl::string_view display,
                                           size_t max_size);

// MapFileBeneath() for a path, following symbolic links anywhere.
absl::StatusOr<SharedBytes> MapFile(absl::string_view path, size_t max_size);

// Writes all of `data` to `fd`, again after EINTR or a short write; false
// with errno set when a write fails.
bool WriteAll(int fd, absl::string_view data);

// Replaces the file at `path` with `data` (mode 0644 when created).
// FAILED_PRECONDITION (FILE_UNWRITABLE) naming the path and the error.
absl::Status WriteFile(absl::string_view path, absl::string_view data);

}  // namespace pil

#endif  // PILD_COMMON_FILE_H_
