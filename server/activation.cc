#include "server/activation.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

absl::StatusOr<std::optional<int>> ActivatedSocket() {
  const int count = sd_listen_fds(/*unset_environment=*/1);
  if (count <= 0) return std::optional<int>();
  if (count > 1) {
    return Error(absl::StatusCode::kFailedPrecondition, "ACTIVATION_INVALID",
                 absl::StrCat("systemd passed ", count,
                              " sockets; pild listens on one Unix socket"));
  }
  const int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, /*listening=*/1, nullptr, 0) <= 0) {
    return Error(absl::StatusCode::kFailedPrecondition, "ACTIVATION_INVALID",
                 "systemd passed a socket that is not a listening Unix "
                 "stream socket (ListenStream=/path in the socket unit)");
  }
  return std::optional<int>(fd);
}

void NotifyReady(const std::string& status) {
  (void)sd_notify(0, absl::StrCat("READY=1\nSTATUS=", status).c_str());
}

void NotifyStopping() { (void)sd_notify(0, "STOPPING=1"); }

}  // namespace pil::server
