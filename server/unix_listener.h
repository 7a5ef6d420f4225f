// pild's Unix-socket endpoint: it accepts connections itself, notes each
// peer's credentials (SO_PEERCRED), then hands the connection to gRPC, so
// that calls can be attributed to a uid, gid and pid.
//
//   auto listener = UnixListener::Listen("/run/pild/pild.sock");
//   ... build and start a grpc::Server without listening ports ...
//   (*listener)->Start(server.get());
//   Caller who = (*listener)->CallerOf(context->peer());
#ifndef PILD_SERVER_UNIX_LISTENER_H_
#define PILD_SERVER_UNIX_LISTENER_H_

#include <grpcpp/server.h>

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/history.h"

namespace pil::server {

class UnixListener {
 public:
  // Binds and listens at `path`, mode 0660 (see PrepareUnixSocket: a stale
  // socket is replaced, a live one is ADDRESS_IN_USE).
  static absl::StatusOr<std::unique_ptr<UnixListener>> Listen(
      const std::string& path);
  // A socket already listening (passed by systemd's socket activation):
  // its path comes from the socket, and the file stays systemd's.
  static absl::StatusOr<std::unique_ptr<UnixListener>> Adopt(int fd);
  // Stops accepting and removes the socket file (unless adopted).
  ~UnixListener();

  const std::string& path() const { return path_; }

  // Accepts connections for `server` (started, outliving Stop()) on a
  // thread of its own.
  void Start(grpc::Server* server);
  // Stops accepting; established connections stay with gRPC.
  void Stop();

  // The credentials of the connection gRPC names `peer` ("fd:N"), with the
  // peer string; just the peer string for other connections.
  Caller CallerOf(const std::string& peer) const;

 private:
  UnixListener(std::string path, int fd, bool owns_path)
      : path_(std::move(path)), fd_(fd), owns_path_(owns_path) {}
  void Accept(grpc::Server* server);

  const std::string path_;
  int fd_;
  const bool owns_path_;
  int wake_[2] = {-1, -1};  // a pipe that ends the accept loop
  std::thread thread_;
  mutable absl::Mutex mu_;
  // By connection fd; replaced when the number is reused.
  std::map<int, Caller> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_UNIX_LISTENER_H_
