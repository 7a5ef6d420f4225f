#include "server/access/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"

namespace pil::access {
namespace {

constexpr uint64_t kMaxPemFile = 1 << 20;

absl::Status BadMaterial(const std::string& path, absl::string_view what) {
  return Error(absl::StatusCode::kInvalidArgument, "TLS_MATERIAL_INVALID",
               absl::StrCat(path, ": ", what), {{"path", path}});
}

// Every certificate in a PEM text (empty when there is none or it does not
// parse). The caller frees them.
std::vector<X509*> ReadCertificates(absl::string_view pem) {
  std::vector<X509*> out;
  if (pem.empty()) return out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return out;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    out.push_back(cert);
  }
  ERR_clear_error();  // the end of the text reads as an error
  BIO_free(bio);
  return out;
}

void Free(std::vector<X509*>& certs) {
  for (X509* cert : certs) X509_free(cert);
  certs.clear();
}

// Subject CN, else the first DNS or URI subject alternative name.
std::string IdentityOf(X509* cert) {
  char cn[256] = {};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
                                          NID_commonName, cn, sizeof(cn));
  if (n > 0) return std::string(cn, static_cast<size_t>(n));
  std::string identity;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS || name->type == GEN_URI) {
      const ASN1_STRING* text = name->type == GEN_DNS
                                    ? name->d.dNSName
                                    : name->d.uniformResourceIdentifier;
      identity.assign(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
          static_cast<size_t>(ASN1_STRING_length(text)));
      break;
    }
  }
  GENERAL_NAMES_free(names);
  return identity;
}

const char* ReasonOf(Handshake kind) {
  switch (kind) {
    case Handshake::kExpired:
      return "CERTIFICATE_EXPIRED";
    case Handshake::kUntrusted:
      return "CERTIFICATE_UNTRUSTED";
    case Handshake::kMissing:
      return "CERTIFICATE_MISSING";
    case Handshake::kInvalid:
      return "CERTIFICATE_INVALID";
    case Handshake::kAccepted:
      break;
  }
  return "OK";
}

Handshake KindOf(int x509_error) {
  switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return Handshake::kExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
      return Handshake::kUntrusted;
    default:
      return Handshake::kInvalid;
  }
}

// gRPC's hook after each handshake: pild's check decides.
class Verifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit Verifier(std::shared_ptr<ClientCertificates> clients)
      : clients_(std::move(clients)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    const grpc::string_ref leaf = request->peer_cert();
    const grpc::string_ref chain = request->peer_cert_full_chain();
    std::string identity;
    const Handshake outcome = clients_->Check(
        absl::string_view(leaf.data(), leaf.size()),
        absl::string_view(chain.data(), chain.size()), &identity);
    *sync_status = outcome == Handshake::kAccepted
                       ? grpc::Status::OK
                       : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                      ReasonOf(outcome));
    return true;  // decided now
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  std::shared_ptr<ClientCertificates> clients_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<ClientCertificates>> ClientCertificates::Load(
    const std::string& ca_path,
    std::function<void(const Refusal&)> on_refused) {
  std::shared_ptr<ClientCertificates> clients(
      new ClientCertificates(ca_path, std::move(on_refused)));
  absl::MutexLock lock(&clients->mu_);
  if (absl::Status s = clients->Refresh(); !s.ok()) return s;
  return clients;
}

ClientCertificates::~ClientCertificates() {
  absl::MutexLock lock(&mu_);
  X509_STORE_free(store_);
}

absl::Status ClientCertificates::Refresh() {
  struct stat now {};
  if (::stat(path_.c_str(), &now) != 0) {
    return BadMaterial(path_, std::strerror(errno));
  }
  if (store_ != nullptr && now.st_ino == seen_.st_ino &&
      now.st_size == seen_.st_size &&
      now.st_mtim.tv_sec == seen_.st_mtim.tv_sec &&
      now.st_mtim.tv_nsec == seen_.st_mtim.tv_nsec) {
    return absl::OkStatus();
  }
  auto pem = ReadFile(path_, kMaxPemFile);
  if (!pem.ok()) return BadMaterial(path_, pem.status().message());
  std::vector<X509*> cas = ReadCertificates(*pem);
  if (cas.empty()) {
    return BadMaterial(path_,
                       "holds no PEM certificate (expected the CAs "
                       "that issue client certificates)");
  }
  X509_STORE* store = X509_STORE_new();
  for (X509* ca : cas) X509_STORE_add_cert(store, ca);
  Free(cas);
  X509_STORE_free(store_);
  store_ = store;
  seen_ = now;
  return absl::OkStatus();
}

Handshake ClientCertificates::Refuse(Handshake kind, std::string claimed,
                                     std::string detail) {
  counts_[static_cast<int>(kind)].fetch_add(1);
  if (on_refused_) {
    on_refused_(
        Refusal{kind, std::move(claimed), ReasonOf(kind), std::move(detail)});
  }
  return kind;
}

Handshake ClientCertificates::Check(absl::string_view leaf_pem,
                                    absl::string_view chain_pem,
                                    std::string* identity) {
  std::vector<X509*> leaf = ReadCertificates(leaf_pem);
  if (leaf.empty()) {
    return Refuse(leaf_pem.empty() ? Handshake::kMissing : Handshake::kInvalid,
                  "",
                  leaf_pem.empty() ? "the client sent no certificate"
                                   : "the client certificate does not parse");
  }
  const std::string claimed = IdentityOf(leaf[0]);
  std::vector<X509*> chain = ReadCertificates(chain_pem);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (X509* cert : chain) sk_X509_push(untrusted, cert);
  int result = 0, error = X509_V_OK;
  {
    absl::MutexLock lock(&mu_);
    // A CA file being rewritten keeps the last good CAs.
    (void)Refresh();
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    if (ctx != nullptr &&
        X509_STORE_CTX_init(ctx, store_, leaf[0], untrusted) == 1) {
      X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
      result = X509_verify_cert(ctx);
      error = X509_STORE_CTX_get_error(ctx);
    }
    X509_STORE_CTX_free(ctx);
  }
  sk_X509_free(untrusted);
  Free(chain);
  Free(leaf);
  if (result != 1) {
    return Refuse(KindOf(error), claimed,
                  absl::StrCat("client certificate '", claimed, "' refused: ",
                               X509_verify_cert_error_string(error)));
  }
  counts_[static_cast<int>(Handshake::kAccepted)].fetch_add(1);
  *identity = claimed;
  return Handshake::kAccepted;
}

HandshakeCounts ClientCertificates::counts() const {
  return {counts_[0].load(), counts_[1].load(), counts_[2].load(),
          counts_[3].load(), counts_[4].load()};
}

std::string CertificateIdentity(absl::string_view pem) {
  std::vector<X509*> certs = ReadCertificates(pem);
  const std::string identity = certs.empty() ? "" : IdentityOf(certs[0]);
  Free(certs);
  return identity;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const TlsFiles& files, std::shared_ptr<ClientCertificates> clients) {
  // gRPC reads the files on its own schedule and says nothing of a bad
  // one: check them now, so that a mistake stops pild at start-up.
  auto cert_pem = ReadFile(files.cert, kMaxPemFile);
  if (!cert_pem.ok())
    return BadMaterial(files.cert, cert_pem.status().message());
  auto key_pem = ReadFile(files.key, kMaxPemFile);
  if (!key_pem.ok()) return BadMaterial(files.key, key_pem.status().message());
  std::vector<X509*> certs = ReadCertificates(*cert_pem);
  if (certs.empty()) {
    return BadMaterial(files.cert, "holds no PEM certificate");
  }
  BIO* bio =
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const bool matches =
      key != nullptr && X509_check_private_key(certs[0], key) == 1;
  EVP_PKEY_free(key);
  Free(certs);
  ERR_clear_error();
  if (!matches) {
    return BadMaterial(files.key,
                       absl::StrCat("is not the private key of the certificate "
                                    "in ",
                                    files.cert));
  }
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          files.key, files.cert, files.reload_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  // gRPC asks for the certificate; pild's Verifier judges it.
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<Verifier>(
          std::move(clients)));
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace pil::access
