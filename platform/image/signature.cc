#include "platform/image/signature.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pil::image {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::string NameText(const X509_NAME* name) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string KeyText(EVP_PKEY* key) {
  if (key == nullptr) return "none";
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return absl::StrCat("RSA-", EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t length = 0;
      EVP_PKEY_get_group_name(key, group, sizeof(group), &length);
      std::string curve(group, length);
      if (curve == "secp384r1") curve = "P-384";
      if (curve == "prime256v1") curve = "P-256";
      return absl::StrCat("EC ", curve);
    }
    default:
      return absl::StrCat("key type ", EVP_PKEY_get_base_id(key));
  }
}

// The "NN <hex> NAME" organizational-unit fields of `name`.
std::map<std::string, uint64_t> AttestationFields(const X509_NAME* name) {
  std::map<std::string, uint64_t> fields;
  int index = -1;
  while ((index = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName,
                                             index)) >= 0) {
    const ASN1_STRING* value =
        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    const std::string text(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
        static_cast<size_t>(ASN1_STRING_length(value)));
    std::vector<std::string> words =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    if (words.size() != 3 || words[0].size() != 2) continue;
    uint64_t number = 0;
    if (!absl::SimpleHexAtoi(words[1], &number)) continue;
    fields[words[2]] = number;
  }
  return fields;
}

// Splits a DER chain padded with 0xff.
std::vector<X509Ptr> ParseChain(absl::string_view chain, std::string* error) {
  std::vector<X509Ptr> certs;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(chain.data());
  const unsigned char* end = p + chain.size();
  while (p < end && *p == 0x30) {
    const unsigned char* start = p;
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(end - p));
    if (cert == nullptr) {
      *error = absl::StrCat(
          "certificate ", certs.size(), " at offset ",
          start - reinterpret_cast<const unsigned char*>(chain.data()),
          " of the chain is not valid DER X.509");
      break;
    }
    certs.emplace_back(cert);
  }
  if (certs.empty() && error->empty()) {
    *error = "the certificate chain holds no certificate";
  }
  return certs;
}

std::string Der(X509* cert) {
  unsigned char* der = nullptr;
  int length = i2d_X509(cert, &der);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

bool DigestVerify(EVP_PKEY* key, const EVP_MD* md, bool pss,
                  absl::string_view signature, absl::string_view message) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return false;
  }
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1 ||
              EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)) {
    return false;
  }
  return EVP_DigestVerify(
             ctx.get(),
             reinterpret_cast<const unsigned char*>(signature.data()),
             signature.size(),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size()) == 1;
}

// signature^e mod n, the raw RSA block; empty when it cannot be computed.
std::string RsaRecover(EVP_PKEY* key, absl::string_view signature) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(
      EVP_PKEY_CTX_new(key, nullptr));
  if (ctx == nullptr || EVP_PKEY_verify_recover_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_NO_PADDING) != 1) {
    return "";
  }
  std::string out(static_cast<size_t>(EVP_PKEY_get_size(key)), '\0');
  size_t length = out.size();
  if (EVP_PKEY_verify_recover(
          ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length,
          reinterpret_cast<const unsigned char*>(signature.data()),
          signature.size()) != 1) {
    return "";
  }
  out.resize(length);
  return out;
}

// The payload of a PKCS#1 v1.5 type-1 block (00 01 ff.. 00 payload), or
// nullopt when `block` is not one.
std::optional<absl::string_view> Pkcs1Payload(absl::string_view block) {
  if (block.size() < 11 || block[0] != 0 || block[1] != 1) return std::nullopt;
  size_t i = 2;
  while (i < block.size() && static_cast<uint8_t>(block[i]) == 0xff) ++i;
  if (i < 10 || i >= block.size() || block[i] != 0) return std::nullopt;
  return block.substr(i + 1);
}

// Length of the DER SEQUENCE at the start of `field`, 0 when there is none.
size_t DerSequenceLength(absl::string_view field) {
  if (field.size() < 2 || static_cast<uint8_t>(field[0]) != 0x30) return 0;
  const uint8_t first = static_cast<uint8_t>(field[1]);
  size_t header = 2, length = first;
  if (first & 0x80) {
    const size_t count = first & 0x7f;
    if (count == 0 || count > 2 || field.size() < 2 + count) return 0;
    length = 0;
    for (size_t i = 0; i < count; ++i) {
      length = (length << 8) | static_cast<uint8_t>(field[2 + i]);
    }
    header += count;
  }
  return header + length <= field.size() ? header + length : 0;
}

std::string Be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

}  // namespace

const char* SchemeName(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kRsaPkcs1Hmac:
      return "rsa-pkcs1-sha256-hmac";
    case SignatureScheme::kRsaPss:
      return "rsa-pss-sha256";
    case SignatureScheme::kEcdsaP384:
      return "ecdsa-p384-sha384";
    case SignatureScheme::kUnknown:
      break;
  }
  return "unknown";
}

std::string Digest(HashAlgorithm algorithm, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length,
             algorithm == HashAlgorithm::kSha384 ? EVP_sha384() : EVP_sha256(),
             nullptr);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string HmacLikeDigest(uint64_t sw_id, uint64_t hw_id,
                           absl::string_view m) {
  const std::string inner =
      Digest(HashAlgorithm::kSha256, Be64(sw_id ^ 0x3636363636363636ull) +
                                         Digest(HashAlgorithm::kSha256, m));
  return Digest(HashAlgorithm::kSha256,
                Be64(hw_id ^ 0x5c5c5c5c5c5c5c5cull) + inner);
}

SignerVerdict VerifySigner(const SignerBlobs& signer,
                           absl::string_view signed_region) {
  SignerVerdict verdict;
  verdict.role = signer.role;
  std::string error;
  std::vector<X509Ptr> certs = ParseChain(signer.chain, &error);
  for (size_t i = 0; i < certs.size(); ++i) {
    CertificateInfo info;
    info.subject = NameText(X509_get_subject_name(certs[i].get()));
    info.issuer = NameText(X509_get_issuer_name(certs[i].get()));
    info.key = KeyText(X509_get0_pubkey(certs[i].get()));
    info.sha256 = absl::BytesToHexString(
        Digest(HashAlgorithm::kSha256, Der(certs[i].get())));
    X509* signer_cert =
        i + 1 < certs.size() ? certs[i + 1].get() : certs[i].get();
    EVP_PKEY* issuer_key = X509_get0_pubkey(signer_cert);
    info.signature_ok =
        issuer_key != nullptr && X509_verify(certs[i].get(), issuer_key) == 1;
    if (!info.signature_ok && verdict.broken_certificate < 0) {
      verdict.broken_certificate = static_cast<int>(i);
    }
    verdict.chain.push_back(std::move(info));
  }
  if (!error.empty()) {
    verdict.chain_problem = error;
  } else if (verdict.broken_certificate >= 0) {
    const size_t i = static_cast<size_t>(verdict.broken_certificate);
    verdict.chain_problem =
        i + 1 < certs.size()
            ? absl::StrCat("certificate ", i, " (", verdict.chain[i].subject,
                           ") is not signed by certificate ", i + 1, " (",
                           verdict.chain[i + 1].subject, ")")
            : absl::StrCat("root certificate ", i, " (",
                           verdict.chain[i].subject,
                           ") is not signed by itself");
  }
  verdict.chain_ok = !certs.empty() && verdict.chain_problem.empty();
  if (!certs.empty()) verdict.root_sha256 = verdict.chain.back().sha256;
  if (certs.empty()) {
    verdict.signature_problem = "no attestation certificate to verify with";
    return verdict;
  }

  X509* leaf = certs.front().get();
  verdict.attestation = AttestationFields(X509_get_subject_name(leaf));
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  const int type = key == nullptr ? 0 : EVP_PKEY_get_base_id(key);
  if (type == EVP_PKEY_RSA || type == EVP_PKEY_RSA_PSS) {
    if (signer.signature.size() !=
        static_cast<size_t>(EVP_PKEY_get_size(key))) {
      verdict.signature_problem =
          absl::StrCat("signature is ", signer.signature.size(), " bytes, the ",
                       KeyText(key), " key needs ", EVP_PKEY_get_size(key));
      return verdict;
    }
    // The padding tells the scheme apart even when the digest is wrong.
    const std::string block = RsaRecover(key, signer.signature);
    if (auto payload = Pkcs1Payload(block)) {
      verdict.scheme = SignatureScheme::kRsaPkcs1Hmac;
      const uint64_t sw_id =
          verdict.attestation.count("SW_ID") ? verdict.attestation["SW_ID"] : 0;
      const uint64_t hw_id =
          verdict.attestation.count("HW_ID") ? verdict.attestation["HW_ID"] : 0;
      verdict.signature_ok =
          *payload == HmacLikeDigest(sw_id, hw_id, signed_region);
    } else if (!block.empty() && static_cast<uint8_t>(block.back()) == 0xbc) {
      verdict.scheme = SignatureScheme::kRsaPss;
      verdict.signature_ok = DigestVerify(key, EVP_sha256(), /*pss=*/true,
                                          signer.signature, signed_region);
    } else {
      verdict.signature_problem =
          "the RSA signature block has neither PKCS#1 v1.5 nor PSS padding";
      return verdict;
    }
  } else if (type == EVP_PKEY_EC) {
    verdict.scheme = SignatureScheme::kEcdsaP384;
    if (KeyText(key) != "EC P-384") {
      verdict.signature_problem =
          absl::StrCat("expected an EC P-384 key, found ", KeyText(key));
      return verdict;
    }
    const size_t length = DerSequenceLength(signer.signature);
    verdict.signature_ok =
        length != 0 &&
        DigestVerify(key, EVP_sha384(), /*pss=*/false,
                     signer.signature.substr(0, length), signed_region);
  } else {
    verdict.signature_problem =
        absl::StrCat("unsupported attestation key: ", KeyText(key));
    return verdict;
  }
  if (!verdict.signature_ok) {
    verdict.signature_problem =
        absl::StrCat(SchemeName(verdict.scheme),
                     " signature does not match the hash segment");
  }
  return verdict;
}

}  // namespace pil::image
