// Who made a call, as far as pild can prove it.
#ifndef PILD_SERVER_ACCESS_CALLER_H_
#define PILD_SERVER_ACCESS_CALLER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace pil::access {

// A Unix-socket caller's credentials from its connection (uid, gid,
// supplementary groups, pid; -1 when unknown), or a TCP caller's verified
// client-certificate identity; the gRPC peer string either way. pild's own
// actions ("recovery", "adopt", a backend's name) have only a peer.
struct Caller {
  int64_t uid = -1, gid = -1, pid = -1;
  std::vector<int64_t> groups;
  std::string certificate;
  std::string peer;

  // "uid 1000 pid 4242", "certificate fleet-1", else the peer.
  std::string Describe() const;
  // Whom per-caller limits count against: "uid:1000" (every process of a
  // user), "cert:fleet-1", else the peer; "" for root on the Unix socket,
  // which they do not bind (root could stop pild anyway; totals still do).
  std::string Key() const;
};

}  // namespace pil::access

#endif  // PILD_SERVER_ACCESS_CALLER_H_
