// pilctl's exit codes. They are part of the CLI contract (docs/CLI.md):
// scripts branch on them, so values never change meaning.
#ifndef PILD_CLIENT_EXIT_CODES_H_
#define PILD_CLIENT_EXIT_CODES_H_

#include "absl/status/status.h"

namespace pil::client {

enum ExitCode : int {
  kExitOk = 0,
  // The operation failed (internal error, crash, timeout on the server).
  kExitFailed = 1,
  // Bad command line.
  kExitUsage = 2,
  // pild could not be reached (not running, wrong --server, no answer).
  kExitUnavailable = 3,
  // No such coprocessor, firmware, upload or coredump.
  kExitNotFound = 4,
  // Invalid input: malformed image or device tree, bad argument.
  kExitInvalid = 5,
  // Refused in the current state (wrong state, busy, already exists).
  kExitRejected = 6,
  // The caller is not allowed to do this.
  kExitPermissionDenied = 7,
  // The server does not implement the call.
  kExitUnimplemented = 8,
  // An image was read but does not verify (pilctl inspect).
  kExitNotVerified = 9,
};

// The exit code for a failed call. A DEADLINE_EXCEEDED that carries no
// reason never reached pild's logic and counts as unavailable.
ExitCode ExitCodeFor(const absl::Status& status);

}  // namespace pil::client

#endif  // PILD_CLIENT_EXIT_CODES_H_
