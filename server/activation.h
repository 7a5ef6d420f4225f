// pild under systemd, through libsystemd: the listening socket a socket
// unit passes (sd_listen_fds), and readiness and status for a Type=notify
// service (sd_notify). Outside systemd these find no socket and notify
// nobody.
#ifndef PILD_SERVER_ACTIVATION_H_
#define PILD_SERVER_ACTIVATION_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace pil::server {

// The listening Unix stream socket systemd passed, if it passed any.
// FAILED_PRECONDITION (ACTIVATION_INVALID) when it passed more than one
// socket or one of another kind.
absl::StatusOr<std::optional<int>> ActivatedSocket();

// READY=1 with a status line; STOPPING=1.
void NotifyReady(const std::string& status);
void NotifyStopping();

}  // namespace pil::server

#endif  // PILD_SERVER_ACTIVATION_H_
