// pild's trust boundary from its flags: where it listens and how each
// listener identifies callers, the policy, mutual TLS for TCP, and the
// audit trail. Every bad flag is INVALID_ARGUMENT (BAD_FLAG) naming it.
#ifndef PILD_SERVER_PILD_ACCESS_H_
#define PILD_SERVER_PILD_ACCESS_H_

#include <grpcpp/security/server_credentials.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/access/policy.h"
#include "server/access/tls.h"
#include "server/history.h"

namespace pil::server {

struct AccessConfig {
  std::string unix_address;      // "unix:PATH"; "" when pild has none
  std::vector<std::string> tcp;  // literal "IP:PORT" / "[IPv6]:PORT"
  std::optional<gid_t> socket_group;
  std::optional<access::TlsFiles> tls;  // set when TCP uses mutual TLS
  bool plaintext_tcp = false;           // --insecure-plaintext-tcp
  std::string policy_path;              // "" : root only
  bool audit_enabled = true;            // false: --no-audit-trail
  std::string audit_path;
  HistoryLimits audit_limits;
};

// From the flags; `activated` is the socket systemd passed (which then
// takes the place of the unix: address in --listen).
absl::StatusOr<AccessConfig> LoadAccessConfig(
    const std::optional<std::string>& activated);

// The audit trail the config names. Without --no-audit-trail, a database
// that cannot be opened, written or checked stops pild (AUDIT_UNAVAILABLE);
// with it, the trail is kept in memory and the log says so loudly.
absl::StatusOr<std::unique_ptr<History>> OpenAuditTrail(
    const AccessConfig& config);

// The policy the config names (root only without --policy), checked
// against the board's coprocessors.
absl::StatusOr<access::Policy> LoadPolicy(
    const AccessConfig& config, const std::vector<std::string>& coprocessors);

// Credentials for the TCP listeners: mutual TLS, client certificates
// checked by `*clients` (made here; refusals go to `history`), or
// plaintext when the config allows it (every caller then unidentified).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(
    const AccessConfig& config, History* history,
    std::shared_ptr<access::ClientCertificates>* clients);

}  // namespace pil::server

#endif  // PILD_SERVER_PILD_ACCESS_H_
