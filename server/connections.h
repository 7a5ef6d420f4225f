// The Unix-socket connections pild has handed to gRPC, counted per caller
// so that one user cannot take every descriptor. gRPC closes connections
// without telling; an entry is known to be gone when its descriptor is
// closed or now names another socket (compared by inode), which is checked
// when a bound is reached or Refresh() is called. Used by the accept thread
// alone.
//
//   ConnectionTable table({.total = 1024, .per_caller = 256});
//   if (absl::Status s = table.Admit(fd, uid); !s.ok()) close(fd);
#ifndef PILD_SERVER_CONNECTIONS_H_
#define PILD_SERVER_CONNECTIONS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>

#include "absl/status/status.h"

namespace pil::server {

struct ConnectionLimits {
  // Connections of callers other than root, in total and per uid.
  size_t total = 1024;
  size_t per_caller = 256;
  // Root may hold this many more, so that it can always get in.
  size_t root_reserve = 64;
};

class ConnectionTable {
 public:
  explicit ConnectionTable(ConnectionLimits limits) : limits_(limits) {}

  // Records connection `fd` of `uid`; RESOURCE_EXHAUSTED (TOO_MANY_
  // CONNECTIONS, naming the bound) when it would pass one, and then the
  // caller closes `fd`.
  absl::Status Admit(int fd, uid_t uid);

  // Connections believed open (some may have closed since the last check).
  size_t size() const { return open_.size(); }
  // Forgets the connections that have closed; size() then.
  size_t Refresh() {
    Prune();
    return size();
  }
  const ConnectionLimits& limits() const { return limits_; }

 private:
  // Forgets connections whose descriptor no longer names their socket.
  void Prune();
  size_t CountOf(uid_t uid) const;
  size_t NonRoot() const;

  ConnectionLimits limits_;
  struct Entry {
    ino_t inode;
    uid_t uid;
  };
  std::map<int, Entry> open_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_CONNECTIONS_H_
