#include "server/unix_listener.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/unix_socket.h"

namespace pil::server {

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Listen(
    const std::string& path, std::optional<gid_t> group) {
  if (absl::Status s = PrepareUnixSocket(path); !s.ok()) return s;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Error(absl::StatusCode::kInternal, "LISTEN_FAILED",
                 absl::StrCat("socket: ", std::strerror(errno)));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // Owner and group only, from the moment the file exists; its group is
  // set before listen(), before which nobody can connect.
  const mode_t umask_before = ::umask(0117);
  const int bound =
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_error = errno;
  ::umask(umask_before);
  errno = bind_error;
  if (bound != 0 ||
      (group && ::lchown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) ||
      ::listen(fd, SOMAXCONN) != 0) {
    const int err = errno;
    if (bound == 0) ::unlink(path.c_str());
    ::close(fd);
    return Error(
        absl::StatusCode::kFailedPrecondition, "LISTEN_FAILED",
        absl::StrCat("cannot listen on ", path, ": ", std::strerror(err)),
        {{"path", path}});
  }
  auto listener =
      std::unique_ptr<UnixListener>(new UnixListener(path, fd, true));
  if (::pipe2(listener->wake_, O_CLOEXEC) != 0) {
    return Error(absl::StatusCode::kInternal, "LISTEN_FAILED",
                 absl::StrCat("pipe: ", std::strerror(errno)));
  }
  return listener;
}

absl::StatusOr<std::unique_ptr<UnixListener>> UnixListener::Adopt(int fd) {
  sockaddr_un addr{};
  socklen_t size = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) != 0 ||
      addr.sun_family != AF_UNIX || addr.sun_path[0] == '\0') {
    return Error(absl::StatusCode::kFailedPrecondition, "LISTEN_FAILED",
                 absl::StrCat("the socket passed as fd ", fd,
                              " is not a Unix socket with a path"));
  }
  const std::string path(addr.sun_path,
                         strnlen(addr.sun_path, sizeof(addr.sun_path)));
  auto listener =
      std::unique_ptr<UnixListener>(new UnixListener(path, fd, false));
  if (::pipe2(listener->wake_, O_CLOEXEC) != 0) {
    return Error(absl::StatusCode::kInternal, "LISTEN_FAILED",
                 absl::StrCat("pipe: ", std::strerror(errno)));
  }
  return listener;
}

UnixListener::~UnixListener() {
  Stop();
  if (fd_ >= 0) ::close(fd_);
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
  if (owns_path_) ::unlink(path_.c_str());
}

void UnixListener::Start(grpc::Server* server, ConnectionLimits limits) {
  thread_ = std::thread([this, server, limits] { Accept(server, limits); });
}

void UnixListener::Stop() {
  if (!thread_.joinable()) return;
  const char byte = 0;
  (void)!::write(wake_[1], &byte, 1);
  thread_.join();
  if (refused_ > 0) {
    PILD_LOG(INFO) << refused_.load() << " connections refused on " << path_
                   << " by the connection limits";
  }
}

void UnixListener::Accept(grpc::Server* server, ConnectionLimits limits) {
  ConnectionTable table(limits);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  int pause_ms = 0;  // after running out of descriptors or memory
  absl::Time last_report = absl::InfinitePast();
  absl::Time last_refresh = absl::Now();
  while (true) {
    if (pause_ms > 0) {
      // Only the wake pipe: the listening socket stays readable meanwhile.
      pollfd wake = fds[1];
      if (::poll(&wake, 1, pause_ms) > 0) return;
    }
    const int ready = ::poll(fds, 2, kRefreshMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      PILD_LOG(ERROR) << "poll on " << path_ << ": " << std::strerror(errno);
      return;
    }
    // Closed connections noticed: when idle, and at least every kRefreshMs.
    if (ready == 0 ||
        absl::Now() - last_refresh >= absl::Milliseconds(kRefreshMs)) {
      last_refresh = absl::Now();
      open_ = table.Refresh();
    }
    if (ready == 0) continue;
    if (fds[1].revents != 0) return;
    const int connection =
        ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (connection < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Retrying at once would spin; waiting lets connections end.
        if (pause_ms == 0) {
          PILD_LOG(WARNING) << "accept on " << path_ << ": "
                            << std::strerror(err) << "; pausing";
        }
        pause_ms = std::min(std::max(pause_ms * 2, 10), 1000);
      } else if (err != EINTR && err != EAGAIN && err != ECONNABORTED) {
        PILD_LOG(WARNING) << "accept on " << path_ << ": "
                          << std::strerror(err);
      }
      continue;
    }
    pause_ms = 0;
    ucred cred{};
    socklen_t size = sizeof(cred);
    uid_t uid = static_cast<uid_t>(-1);
    if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &cred, &size) == 0) {
      uid = cred.uid;
    }
    if (absl::Status admitted = table.Admit(connection, uid); !admitted.ok()) {
      ::close(connection);
      ++refused_;
      if (absl::Now() - last_report > absl::Seconds(10)) {
        last_report = absl::Now();
        PILD_LOG(WARNING) << "connection of uid " << uid
                          << " refused: " << admitted.message() << " ("
                          << refused_.load() << " refused so far)";
      }
      continue;
    }
    ++admitted_;
    open_ = table.size();
    grpc::AddInsecureChannelFromFd(server, connection);
  }
}

}  // namespace pil::server
