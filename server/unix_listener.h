// pild's Unix-socket endpoint: it accepts connections itself and hands
// each to gRPC by its descriptor, so that a call's peer ("fd:N") names its
// connection and server/access/identity.h can read the caller's
// credentials from it.
//
//   auto listener = UnixListener::Listen("/run/pild/pild.sock", gid);
//   ... build and start a grpc::Server without listening ports ...
//   (*listener)->Start(server.get());
#ifndef PILD_SERVER_UNIX_LISTENER_H_
#define PILD_SERVER_UNIX_LISTENER_H_

#include <grpcpp/server.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/connections.h"

namespace pil::server {

class UnixListener {
 public:
  // Binds and listens at `path`, created mode 0660 (owner and `group`
  // when given, else pild's group; see PrepareUnixSocket: a stale socket is
  // replaced, a live one is ADDRESS_IN_USE).
  static absl::StatusOr<std::unique_ptr<UnixListener>> Listen(
      const std::string& path, std::optional<gid_t> group = std::nullopt);
  // A socket already listening (passed by systemd's socket activation):
  // its path comes from the socket, and the file stays systemd's.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Adopt(int fd);
  // Stops accepting and removes the socket file (unless adopted).
  ~UnixListener();

  const std::string& path() const { return path_; }

  // Accepts connections for `server` (started, outliving Stop()) on a
  // thread of its own, within `limits` (a connection past one is closed at
  // once). When accept fails for want of descriptors or memory the thread
  // waits a little before it tries again.
  void Start(grpc::Server* server, ConnectionLimits limits = {});
  // Connections refused by the limits, and admitted, so far; connections
  // believed open (closed ones are noticed within kRefreshMs).
  uint64_t refused() const { return refused_.load(); }
  uint64_t admitted() const { return admitted_.load(); }
  uint64_t open() const { return open_.load(); }
  static constexpr int kRefreshMs = 10000;
  // Stops accepting; established connections stay with gRPC.
  void Stop();

 private:
  UnixListener(std::string path, int fd, bool owns_path)
      : path_(std::move(path)), fd_(fd), owns_path_(owns_path) {}
  void Accept(grpc::Server* server, ConnectionLimits limits);

  const std::string path_;
  int fd_;
  const bool owns_path_;
  int wake_[2] = {-1, -1};  // a pipe that ends the accept loop
  std::thread thread_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> open_{0};
};

}  // namespace pil::server

#endif  // PILD_SERVER_UNIX_LISTENER_H_
