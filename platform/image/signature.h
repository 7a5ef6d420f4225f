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
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "platform/image/hash_segment.h"

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
};

// Verifies `signer` over `signed_region` (M).
SignerVerdict VerifySigner(const SignerBlobs& signer,
                           absl::string_view signed_region);

// SHA-256 / SHA-384 of `data`, as raw bytes.
std::string Digest(HashAlgorithm algorithm, absl::string_view data);

// The v3 construction: SHA256((hw ^ 0x5c..) BE64 ‖ SHA256((sw ^ 0x36..)
// BE64 ‖ SHA256(m))).
std::string HmacLikeDigest(uint64_t sw_id, uint64_t hw_id, absl::string_view m);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_SIGNATURE_H_
