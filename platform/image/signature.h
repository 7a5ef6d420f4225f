// Signatures and certificate chains of signed images, verified with
// OpenSSL.
//
// Four schemes are recognised (see docs/IMAGES.md):
//   rsa-pkcs1-sha256-hmac  RSA PKCS#1 v1.5 type-1 padding around the bare
//                          SHA-256 of (HW_ID ^ 0x5c..) ‖ SHA-256((SW_ID ^
//                          0x36..) ‖ SHA-256(M)), IDs from the attestation
//                          certificate (hash-table v3)
//   rsa-pss-sha256         RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32
//   ecdsa-p384-sha384      DER ECDSA signature over SHA-384(M) at the start
//                          of a padded field
// The chain is DER certificates, attestation (leaf) first, padded with
// 0xff; each is signed by the next and the root by itself. The SHA-256 of
// the root's DER is the "OEM PK hash" a SoC fuses.
#ifndef PILD_PLATFORM_IMAGE_SIGNATURE_H_
#define PILD_PLATFORM_IMAGE_SIGNATURE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "platform/image/hash_segment.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace pil::image {

enum class SignatureScheme {
  kUnknown,
  kRsaPkcs1Hmac,
  kRsaPss,
  kEcdsaP384,
};

// "rsa-pkcs1-sha256-hmac", "rsa-pss-sha256", "ecdsa-p384-sha384", "unknown".
const char* SchemeName(SignatureScheme scheme);

struct CertificateInfo {
  std::string subject;  // RFC 2253
  std::string issuer;
  std::string key;            // "RSA-2048", "EC P-384", ...
  bool signature_ok = false;  // signed by the next certificate (root: itself)
  std::string sha256;         // hex of the DER
};

struct SignerVerdict {
  std::string role;  // "oem" / "qti"
  SignatureScheme scheme = SignatureScheme::kUnknown;
  bool signature_ok = false;
  bool chain_ok = false;
  std::string root_sha256;
  std::vector<CertificateInfo> chain;
  // The attestation certificate's "NN <hex> NAME" OU fields by NAME
  // (SW_ID, HW_ID, OEM_ID, MODEL_ID, DEBUG, ...).
  std::map<std::string, uint64_t> attestation;
  // Why the signature or the chain does not verify; empty when both do.
  std::string signature_problem;
  std::string chain_problem;
  // Index of the certificate whose signature failed, -1 when none.
  int broken_certificate = -1;
  // The chain does not parse (framing or X.509); chain_problem says where.
  bool chain_unparsable = false;
};

// Verifies `signer` over `signed_region` (M).
SignerVerdict VerifySigner(const SignerBlobs& signer,
                           absl::string_view signed_region);

// VerifySigner in independent steps, so that a caller can run them on
// several threads: step 0 checks the signature, step i > 0 checks that
// certificate i - 1 is signed by its issuer. Construct, Run() every step in
// [0, steps()) — concurrently for distinct steps — then Finish() once. The
// blobs and the region must outlive the check.
//
// A chain whose exact bytes were checked before (process-wide, the 32 most
// recent) is not parsed or checked again: its certificates' verdicts are
// reused and only the signature step runs.
class SignerCheck {
 public:
  SignerCheck(const SignerBlobs& signer, absl::string_view signed_region);
  ~SignerCheck();
  SignerCheck(const SignerCheck&) = delete;
  SignerCheck& operator=(const SignerCheck&) = delete;

  size_t steps() const;
  // Relative cost, for scheduling: ECDSA checks cost far more than RSA.
  double cost(size_t step) const;
  void Run(size_t step);
  SignerVerdict Finish();

  struct CheckedChain;

 private:
  struct Certificate;
  EVP_PKEY* leaf_key() const;

  const SignerBlobs& signer_;
  absl::string_view signed_region_;
  std::string chain_key_;                       // SHA-256 of the chain
  std::shared_ptr<const CheckedChain> cached_;  // on a cache hit
  std::vector<std::unique_ptr<Certificate>> certificates_;  // on a miss
  std::string chain_error_;
  SignerVerdict verdict_;
};

// Forgets every checked chain (benchmarks measure the cold path with it).
void ClearCheckedChainCache();

// SHA-256 / SHA-384 of `data`, as raw bytes.
std::string Digest(HashAlgorithm algorithm, absl::string_view data);

// The v3 construction: SHA256((hw ^ 0x5c..) BE64 ‖ SHA256((sw ^ 0x36..)
// BE64 ‖ SHA256(m))).
std::string HmacLikeDigest(uint64_t sw_id, uint64_t hw_id, absl::string_view m);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_SIGNATURE_H_
