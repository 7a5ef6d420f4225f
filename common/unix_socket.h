// Preparing a Unix-socket path for a server to listen on.
#ifndef PILD_COMMON_UNIX_SOCKET_H_
#define PILD_COMMON_UNIX_SOCKET_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pil {

// The socket path of a "unix:PATH" / "unix://PATH" address, or "" for
// other addresses.
std::string UnixSocketPath(absl::string_view address);

// Whether a server answers connections on the Unix socket at `path`.
bool UnixSocketAnswers(const std::string& path);

// Creates the socket's directory and removes a stale socket file a killed
// server left behind. FAILED_PRECONDITION (ADDRESS_IN_USE) when a server
// answers there or the path is not a socket; INVALID_ARGUMENT when it is
// too long for a socket address.
absl::Status PrepareUnixSocket(const std::string& path);

}  // namespace pil

#endif  // PILD_COMMON_UNIX_SOCKET_H_
