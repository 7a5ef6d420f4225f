#include "server/pild_access.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/log.h"
#include "common/unix_socket.h"

ABSL_FLAG(std::string, listen, "",
          "comma-separated addresses: one unix:PATH (callers identified by "
          "their uid and groups) and any number of literal IP:PORT or "
          "[IPv6]:PORT (mutual TLS required). Default: $PILD_SOCKET, "
          "/run/pild/pild.sock (root), $XDG_RUNTIME_DIR/pild/pild.sock or "
          "/tmp/pild-UID/pild.sock");
ABSL_FLAG(std::string, socket_group, "",
          "group of the Unix socket (mode 0660); default: pild's own group");
ABSL_FLAG(std::string, policy, "",
          "who may do what (text format, docs/SECURITY.md); without it only "
          "root may call pild. Re-read on SIGHUP");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM server certificate for TCP (re-read when it changes)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CAs that issue client certificates (re-read when it changes)");
ABSL_FLAG(uint32_t, tls_reload_seconds, 60,
          "how often --tls-cert and --tls-key are checked for changes");
ABSL_FLAG(bool, insecure_plaintext_tcp, false,
          "FOR TESTS ONLY: serve TCP without TLS. Nobody connecting over it "
          "can be identified, so the policy denies them everything");
ABSL_FLAG(std::string, audit_db, "",
          "the audit trail's SQLite database; default /var/lib/pild/audit.db "
          "(root), else $XDG_STATE_HOME/pild/audit.db or "
          "~/.local/state/pild/audit.db");
ABSL_FLAG(bool, no_audit_trail, false,
          "run even when the audit trail cannot be kept on disk (it is then "
          "kept in memory and lost at exit)");
ABSL_FLAG(uint64_t, audit_max_records, 100000,
          "records of calls that did something kept; the oldest go first");
ABSL_FLAG(uint64_t, audit_max_refused, 10000,
          "records of refused and denied calls kept, apart");
ABSL_FLAG(absl::Duration, audit_max_age, absl::ZeroDuration(),
          "records older than this are removed (0: no age limit)");

namespace pil::server {
namespace {

absl::Status BadFlag(absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG", message);
}

// "IP:PORT" or "[IPv6]:PORT" with a literal address: no names, so that
// what pild binds is exactly what the operator wrote.
bool IsLiteralIpPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view host = address.substr(0, colon);
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return false;
  }
  unsigned char buffer[sizeof(in6_addr)];
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return false;
    return inet_pton(AF_INET6, std::string(host).c_str(), buffer) == 1;
  }
  return inet_pton(AF_INET, std::string(host).c_str(), buffer) == 1;
}

std::string DefaultAuditPath() {
  if (geteuid() == 0) return "/var/lib/pild/audit.db";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    return absl::StrCat(state, "/pild/audit.db");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : "/tmp", "/.local/state/pild/audit.db");
}

absl::Status AuditUnavailable(const std::string& path, absl::string_view why) {
  return Error(absl::StatusCode::kFailedPrecondition, "AUDIT_UNAVAILABLE",
               absl::StrCat("audit trail ", path, ": ", why), {{"path", path}});
}

// The database file, pild's and readable by it only, before SQLite (and its
// -wal and -shm files, which copy its mode) ever write to it; in a
// directory nobody else may write to.
absl::Status PrepareAuditFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent =
      std::filesystem::absolute(path, ec).parent_path();
  if (!std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (!ec) {
      std::filesystem::permissions(parent, std::filesystem::perms::owner_all,
                                   ec);
    }
  }
  struct stat dir {};
  if (::stat(parent.c_str(), &dir) != 0) {
    return AuditUnavailable(path, std::strerror(errno));
  }
  if ((dir.st_mode & S_IWOTH) && !(dir.st_mode & S_ISVTX)) {
    return AuditUnavailable(
        path, absl::StrCat(parent.string(), " is writable by everyone"));
  }
  if (dir.st_uid != ::geteuid() && dir.st_uid != 0) {
    return AuditUnavailable(
        path, absl::StrCat(parent.string(), " belongs to uid ", dir.st_uid));
  }
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return AuditUnavailable(path, std::strerror(errno));
  struct stat file {};
  absl::Status status;
  if (::fstat(fd, &file) != 0 || !S_ISREG(file.st_mode)) {
    status = AuditUnavailable(path, "is not a regular file");
  } else if (file.st_uid != ::geteuid()) {
    status = AuditUnavailable(
        path, absl::StrCat("belongs to uid ", file.st_uid, ", not pild's"));
  } else if ((file.st_mode & 077) != 0 && ::fchmod(fd, 0600) == 0) {
    PILD_LOG(WARNING) << "audit trail " << path
                      << " was readable by others; made owner-only";
  }
  ::close(fd);
  return status;
}

}  // namespace

namespace {

// --listen into `config`'s Unix address and TCP listeners.
absl::Status ParseListen(std::string listen, AccessConfig& config) {
  if (listen.empty()) listen = DefaultEndpoint();
  for (absl::string_view address :
       absl::StrSplit(listen, ',', absl::SkipWhitespace())) {
    if (!UnixSocketPath(address).empty()) {
      if (!config.unix_address.empty()) {
        return BadFlag(absl::StrCat("--listen names two Unix sockets (",
                                    config.unix_address, " and ", address,
                                    "); pild listens on one"));
      }
      config.unix_address = std::string(address);
    } else if (IsLiteralIpPort(address)) {
      config.tcp.emplace_back(address);
    } else {
      return BadFlag(absl::StrCat(
          "--listen: '", address,
          "' is neither unix:PATH nor a literal IP:PORT ([IPv6]:PORT); "
          "host names are not accepted"));
    }
  }
  return absl::OkStatus();
}

// The --tls-* flags into `config`: all three or none, and TCP only with
// them (or the test-only plaintext flag).
absl::Status ParseTls(AccessConfig& config) {
  access::TlsFiles files{absl::GetFlag(FLAGS_tls_cert),
                         absl::GetFlag(FLAGS_tls_key),
                         absl::GetFlag(FLAGS_tls_client_ca),
                         absl::GetFlag(FLAGS_tls_reload_seconds)};
  const int given =
      !files.cert.empty() + !files.key.empty() + !files.client_ca.empty();
  config.plaintext_tcp = absl::GetFlag(FLAGS_insecure_plaintext_tcp);
  if (given != 0 && given != 3) {
    return BadFlag("--tls-cert, --tls-key and --tls-client-ca go together");
  }
  if (given == 3 && config.plaintext_tcp) {
    return BadFlag("--insecure-plaintext-tcp contradicts --tls-cert");
  }
  if (files.reload_seconds == 0) {
    return BadFlag("--tls-reload-seconds must be at least 1");
  }
  if (!config.tcp.empty() && given == 0 && !config.plaintext_tcp) {
    return BadFlag(
        absl::StrCat("refusing TCP (", config.tcp[0],
                     ") without mutual TLS: give --tls-cert, --tls-key and "
                     "--tls-client-ca"));
  }
  if (given == 3) config.tls = files;
  return absl::OkStatus();
}

// The --audit-* flags into `config`.
absl::Status ParseAudit(AccessConfig& config) {
  config.audit_enabled = !absl::GetFlag(FLAGS_no_audit_trail);
  config.audit_path = absl::GetFlag(FLAGS_audit_db);
  if (config.audit_path.empty()) config.audit_path = DefaultAuditPath();
  config.audit_limits.max_records = absl::GetFlag(FLAGS_audit_max_records);
  config.audit_limits.max_refused = absl::GetFlag(FLAGS_audit_max_refused);
  config.audit_limits.max_age = absl::GetFlag(FLAGS_audit_max_age);
  if (config.audit_limits.max_records == 0 ||
      config.audit_limits.max_refused == 0) {
    return BadFlag(
        "--audit-max-records and --audit-max-refused must be at least 1");
  }
  if (config.audit_limits.max_age < absl::ZeroDuration()) {
    return BadFlag("--audit-max-age must not be negative");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AccessConfig> LoadAccessConfig(
    const std::optional<std::string>& activated) {
  AccessConfig config;
  if (absl::Status s = ParseListen(absl::GetFlag(FLAGS_listen), config);
      !s.ok()) {
    return s;
  }
  if (activated) config.unix_address = absl::StrCat("unix:", *activated);
  if (const std::string group = absl::GetFlag(FLAGS_socket_group);
      !group.empty()) {
    const struct group* entry = ::getgrnam(group.c_str());
    if (entry == nullptr) {
      return BadFlag(absl::StrCat("--socket-group: no group '", group, "'"));
    }
    if (activated) {
      PILD_LOG(WARNING) << "--socket-group is ignored for the socket systemd "
                           "passed (set SocketGroup= in pild.socket)";
    } else {
      config.socket_group = entry->gr_gid;
    }
  }
  if (absl::Status s = ParseTls(config); !s.ok()) return s;
  if (absl::Status s = ParseAudit(config); !s.ok()) return s;
  config.policy_path = absl::GetFlag(FLAGS_policy);
  return config;
}

absl::StatusOr<std::unique_ptr<History>> OpenAuditTrail(
    const AccessConfig& config) {
  absl::Status status = PrepareAuditFile(config.audit_path);
  if (status.ok()) {
    auto history = History::Open(config.audit_path, config.audit_limits);
    if (history.ok() && config.audit_enabled) return history;
    if (!history.ok()) status = history.status();
  }
  if (config.audit_enabled) {
    return Annotate(status,
                    "the audit trail is required (run with "
                    "--no-audit-trail to go without)");
  }
  PILD_LOG(WARNING) << "*** NO AUDIT TRAIL ON DISK (--no-audit-trail): what "
                       "callers do is kept in memory only and lost when pild "
                       "exits ***"
                    << (status.ok()
                            ? ""
                            : absl::StrCat(" (", status.message(), ")"));
  return std::make_unique<History>(config.audit_limits);
}

absl::StatusOr<access::Policy> LoadPolicy(
    const AccessConfig& config, const std::vector<std::string>& coprocessors) {
  if (config.policy_path.empty()) return access::Policy();
  return access::Policy::Load(config.policy_path, coprocessors);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpCredentials(
    const AccessConfig& config, History* history,
    std::shared_ptr<access::ClientCertificates>* clients) {
  if (!config.tls) {
    PILD_LOG(WARNING) << "*** PLAINTEXT TCP (--insecure-plaintext-tcp), FOR "
                         "TESTS ONLY: TCP callers cannot be identified and "
                         "are denied everything ***";
    return grpc::InsecureServerCredentials();
  }
  auto loaded = access::ClientCertificates::Load(
      config.tls->client_ca, [history](const access::Refusal& refusal) {
        HistoryEntry entry;
        entry.time = absl::Now();
        entry.operation = "connect";
        entry.caller.peer = "tls";
        entry.result = refusal.reason;
        entry.message = refusal.detail;
        entry.refused = true;
        // Not on the handshake's thread's time: queued, and counted when
        // the queue is full.
        history->Submit(std::move(entry));
      });
  if (!loaded.ok()) return loaded.status();
  *clients = *loaded;
  return access::ServerTlsCredentials(*config.tls, *loaded);
}

}  // namespace pil::server
