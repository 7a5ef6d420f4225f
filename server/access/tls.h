// Mutual TLS for pild's TCP listener. The server's certificate and key are
// re-read by gRPC when they change; client certificates are checked by pild
// itself (OpenSSL, against --tls-client-ca, re-read when it changes), so
// that every refused handshake is counted by kind and reported to
// `on_refused` (the audit trail) before the connection is dropped. A
// refused client never reaches a handler.
//
//   auto clients = ClientCertificates::Load("/etc/pild/client-ca.pem", log);
//   auto creds = ServerTlsCredentials({cert, key, ca}, *clients);
//   builder.AddListeningPort("0.0.0.0:7443", *creds);
#ifndef PILD_SERVER_ACCESS_TLS_H_
#define PILD_SERVER_ACCESS_TLS_H_

#include <grpcpp/security/server_credentials.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

typedef struct x509_store_st X509_STORE;

namespace pil::access {

struct TlsFiles {
  std::string cert;       // PEM: the server's certificate (chain)
  std::string key;        // PEM: its private key
  std::string client_ca;  // PEM: the CAs client certificates must chain to
  // How often gRPC looks for a new server certificate and key.
  unsigned reload_seconds = 60;
};

// What a client certificate's check found.
enum class Handshake { kAccepted, kExpired, kUntrusted, kMissing, kInvalid };

struct HandshakeCounts {
  uint64_t accepted = 0, expired = 0, untrusted = 0, missing = 0, invalid = 0;
};

// A refused client: the identity its certificate claims (unverified; empty
// when none), the kind, and OpenSSL's words.
struct Refusal {
  Handshake kind;
  std::string claimed_identity;
  std::string reason;  // CERTIFICATE_EXPIRED, ..._UNTRUSTED, ..._MISSING, ...
  std::string detail;
};

class ClientCertificates {
 public:
  // The CAs in `ca_path`; INVALID_ARGUMENT (TLS_MATERIAL_INVALID) when it
  // cannot be read or holds no certificate.
  static absl::StatusOr<std::shared_ptr<ClientCertificates>> Load(
      const std::string& ca_path,
      std::function<void(const Refusal&)> on_refused);
  ~ClientCertificates();

  // Checks a client's certificate (PEM) and the chain it sent (PEM,
  // possibly empty) for TLS client use; counts the outcome, reports a
  // refusal. The accepted identity (subject CN, else first SAN) in
  // `identity`.
  Handshake Check(absl::string_view leaf_pem, absl::string_view chain_pem,
                  std::string* identity);

  HandshakeCounts counts() const;

 private:
  ClientCertificates(std::string path,
                     std::function<void(const Refusal&)> on_refused)
      : path_(std::move(path)), on_refused_(std::move(on_refused)) {}
  // Re-reads the CA file when it changed since the last read; on a bad
  // file, the last good CAs stay.
  absl::Status Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Handshake Refuse(Handshake kind, std::string claimed, std::string detail);

  const std::string path_;
  const std::function<void(const Refusal&)> on_refused_;
  absl::Mutex mu_;
  X509_STORE* store_ ABSL_GUARDED_BY(mu_) = nullptr;
  struct stat seen_ ABSL_GUARDED_BY(mu_) = {};
  std::atomic<uint64_t> counts_[5] = {};
};

// The identity of the first certificate in `pem`: its subject common name,
// else its first DNS or URI subject alternative name ("" when none).
std::string CertificateIdentity(absl::string_view pem);

// Server credentials for mutual TLS with `files`, client certificates
// checked by `clients`. INVALID_ARGUMENT (TLS_MATERIAL_INVALID) naming the
// file when the certificate or key cannot be read or do not match.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const TlsFiles& files, std::shared_ptr<ClientCertificates> clients);

}  // namespace pil::access

#endif  // PILD_SERVER_ACCESS_TLS_H_
