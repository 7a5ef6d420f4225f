#include "server/access/identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/access/tls.h"

namespace pil::access {
namespace {

// The kernel's NGROUPS_MAX.
constexpr size_t kMaxGroups = 65536;

std::string Property(const grpc::AuthContext& auth, const char* name) {
  for (const grpc::string_ref& value : auth.FindPropertyValues(name)) {
    return std::string(value.data(), value.size());
  }
  return "";
}

}  // namespace

Caller IdentifyUnixConnection(int fd, const std::string& peer) {
  Caller caller;
  caller.peer = peer;
  int domain = 0;
  socklen_t size = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) != 0 ||
      domain != AF_UNIX) {
    return caller;
  }
  ucred credentials{};
  size = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
    return caller;
  }
  std::vector<gid_t> groups(64);
  size = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  int got = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &size);
  if (got != 0 && errno == ERANGE && size / sizeof(gid_t) <= kMaxGroups) {
    groups.resize(size / sizeof(gid_t));
    got = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &size);
  }
  // Without its groups a caller is still known, with fewer rights.
  if (got == 0) {
    groups.resize(size / sizeof(gid_t));
    caller.groups.assign(groups.begin(), groups.end());
  }
  caller.uid = credentials.uid;
  caller.gid = credentials.gid;
  caller.pid = credentials.pid;
  return caller;
}

Caller Identify(const grpc::ServerContextBase& context) {
  const std::string peer = context.peer();
  absl::string_view rest = peer;
  int fd = -1;
  if (absl::ConsumePrefix(&rest, "fd:") && absl::SimpleAtoi(rest, &fd) &&
      fd >= 0) {
    return IdentifyUnixConnection(fd, peer);
  }
  Caller caller;
  caller.peer = peer;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    // The certificate pild's verifier accepted, named as it named it.
    caller.certificate =
        CertificateIdentity(Property(*auth, GRPC_X509_PEM_CERT_PROPERTY_NAME));
  }
  return caller;
}

}  // namespace pil::access
