#include "platform/image/signature.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <list>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

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

// Length of the DER SEQUENCE at the start of `field`, 0 when there is none.
size_t DerSequenceLength(absl::string_view field) {
  if (field.size() < 2 || static_cast<uint8_t>(field[0]) != 0x30) return 0;
  const uint8_t first = static_cast<uint8_t>(field[1]);
  size_t header = 2, length = first;
  if (first & 0x80) {
    const size_t count = first & 0x7f;
    if (count == 0 || count > 3 || field.size() < 2 + count) return 0;
    length = 0;
    for (size_t i = 0; i < count; ++i) {
      length = (length << 8) | static_cast<uint8_t>(field[2 + i]);
    }
    header += count;
  }
  return header + length <= field.size() ? header + length : 0;
}

// The DER certificates of a chain padded with 0xff, by framing alone (the
// certificates are parsed later, on demand). `error` says where framing
// broke off, if it did.
std::vector<absl::string_view> SplitChain(absl::string_view chain,
                                          std::string* error) {
  std::vector<absl::string_view> certs;
  size_t at = 0;
  while (at < chain.size() && static_cast<uint8_t>(chain[at]) == 0x30) {
    const size_t length = DerSequenceLength(chain.substr(at));
    if (length == 0) {
      *error = absl::StrCat("certificate ", certs.size(), " at offset ", at,
                            " of the chain is not valid DER");
      break;
    }
    certs.push_back(chain.substr(at, length));
    at += length;
  }
  if (certs.empty() && error->empty()) {
    *error = "the certificate chain holds no certificate";
  }
  return certs;
}

// id-ecPublicKey (1.2.840.10045.2.1) as DER.
constexpr absl::string_view kEcPublicKeyOid(
    "\x06\x07\x2a\x86\x48\xce\x3d\x02\x01", 9);

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

// One certificate of the chain, parsed the first time a step needs it.
struct SignerCheck::Certificate {
  absl::string_view der;
  std::once_flag once;
  X509Ptr x509;  // null when the DER does not parse
  CertificateInfo info;
  std::string error;

  X509* Parsed(size_t index) {
    std::call_once(once, [&] {
      const unsigned char* p =
          reinterpret_cast<const unsigned char*>(der.data());
      x509.reset(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
      if (x509 == nullptr) {
        error = absl::StrCat("certificate ", index,
                             " of the chain is not valid X.509");
        return;
      }
      info.subject = NameText(X509_get_subject_name(x509.get()));
      info.issuer = NameText(X509_get_issuer_name(x509.get()));
      info.key = KeyText(X509_get0_pubkey(x509.get()));
      info.sha256 = absl::BytesToHexString(Digest(HashAlgorithm::kSha256, der));
    });
    return x509.get();
  }
};

struct SignerCheck::CheckedChain {
  std::vector<CertificateInfo> certificates;
  std::string error;
  std::map<std::string, uint64_t> attestation;
  EVP_PKEY* leaf_key = nullptr;  // one reference owned
  ~CheckedChain() { EVP_PKEY_free(leaf_key); }
};

namespace {

// Recently checked chains by the SHA-256 of their bytes, newest last.
class CheckedChainCache {
 public:
  static CheckedChainCache& Get() {
    static auto* cache = new CheckedChainCache();
    return *cache;
  }
  std::shared_ptr<const SignerCheck::CheckedChain> Find(
      const std::string& key) {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.splice(entries_.end(), entries_, it);
        return entries_.back().second;
      }
    }
    return nullptr;
  }
  void Put(const std::string& key,
           std::shared_ptr<const SignerCheck::CheckedChain> chain) {
    absl::MutexLock lock(&mu_);
    entries_.emplace_back(key, std::move(chain));
    if (entries_.size() > kCapacity) entries_.pop_front();
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    entries_.clear();
  }

 private:
  static constexpr size_t kCapacity = 32;
  absl::Mutex mu_;
  std::list<
      std::pair<std::string, std::shared_ptr<const SignerCheck::CheckedChain>>>
      entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void ClearCheckedChainCache() { CheckedChainCache::Get().Clear(); }

SignerCheck::SignerCheck(const SignerBlobs& signer,
                         absl::string_view signed_region)
    : signer_(signer),
      signed_region_(signed_region),
      chain_key_(Digest(HashAlgorithm::kSha256, signer.chain)) {
  verdict_.role = signer.role;
  cached_ = CheckedChainCache::Get().Find(chain_key_);
  if (cached_ != nullptr) return;
  for (absl::string_view der : SplitChain(signer.chain, &chain_error_)) {
    auto cert = std::make_unique<Certificate>();
    cert->der = der;
    certificates_.push_back(std::move(cert));
  }
}

SignerCheck::~SignerCheck() = default;

size_t SignerCheck::steps() const {
  return cached_ != nullptr ? 1 : 1 + certificates_.size();
}

double SignerCheck::cost(size_t step) const {
  // Relative to hashing 1 KiB: an ECDSA P-384 check costs about as much as
  // hashing 400 KiB with SHA-384; an RSA-2048 check about 30 KiB. Parsing a
  // certificate (done by the first step that needs it) adds about 100.
  if (cached_ != nullptr) {
    return cached_->leaf_key != nullptr &&
                   EVP_PKEY_get_base_id(cached_->leaf_key) == EVP_PKEY_EC
               ? 400
               : 30;
  }
  const size_t holder = step == 0                     ? 0
                        : step < certificates_.size() ? step
                                                      : step - 1;
  if (holder >= certificates_.size()) return 0;
  const bool ec =
      absl::StrContains(certificates_[holder]->der, kEcPublicKeyOid);
  return (ec ? 400 : 30) + 200;
}

void SignerCheck::Run(size_t step) {
  if (step > 0) {
    const size_t i = step - 1;
    const size_t issuer_index = i + 1 < certificates_.size() ? i + 1 : i;
    X509* cert = certificates_[i]->Parsed(i);
    X509* issuer = certificates_[issuer_index]->Parsed(issuer_index);
    EVP_PKEY* issuer_key =
        issuer == nullptr ? nullptr : X509_get0_pubkey(issuer);
    certificates_[i]->info.signature_ok = cert != nullptr &&
                                          issuer_key != nullptr &&
                                          X509_verify(cert, issuer_key) == 1;
    return;
  }
  SignerVerdict& verdict = verdict_;
  EVP_PKEY* key = nullptr;
  if (cached_ != nullptr) {
    key = cached_->leaf_key;
    verdict.attestation = cached_->attestation;
  } else if (!certificates_.empty()) {
    if (X509* leaf = certificates_.front()->Parsed(0); leaf != nullptr) {
      key = X509_get0_pubkey(leaf);
      verdict.attestation = AttestationFields(X509_get_subject_name(leaf));
    }
  }
  if (key == nullptr) {
    verdict.signature_problem = "no attestation certificate to verify with";
    return;
  }
  const int type = EVP_PKEY_get_base_id(key);
  if (type == EVP_PKEY_RSA || type == EVP_PKEY_RSA_PSS) {
    if (signer_.signature.size() !=
        static_cast<size_t>(EVP_PKEY_get_size(key))) {
      verdict.signature_problem = absl::StrCat(
          "signature is ", signer_.signature.size(), " bytes, the ",
          KeyText(key), " key needs ", EVP_PKEY_get_size(key));
      return;
    }
    // The padding tells the scheme apart even when the digest is wrong.
    const std::string block = RsaRecover(key, signer_.signature);
    if (auto payload = Pkcs1Payload(block)) {
      verdict.scheme = SignatureScheme::kRsaPkcs1Hmac;
      auto field = [&](const char* name) -> uint64_t {
        auto it = verdict.attestation.find(name);
        return it == verdict.attestation.end() ? 0 : it->second;
      };
      verdict.signature_ok =
          *payload ==
          HmacLikeDigest(field("SW_ID"), field("HW_ID"), signed_region_);
    } else if (!block.empty() && static_cast<uint8_t>(block.back()) == 0xbc) {
      verdict.scheme = SignatureScheme::kRsaPss;
      verdict.signature_ok = DigestVerify(key, EVP_sha256(), /*pss=*/true,
                                          signer_.signature, signed_region_);
    } else {
      verdict.signature_problem =
          "the RSA signature block has neither PKCS#1 v1.5 nor PSS padding";
      return;
    }
  } else if (type == EVP_PKEY_EC) {
    verdict.scheme = SignatureScheme::kEcdsaP384;
    if (KeyText(key) != "EC P-384") {
      verdict.signature_problem =
          absl::StrCat("expected an EC P-384 key, found ", KeyText(key));
      return;
    }
    const size_t length = DerSequenceLength(signer_.signature);
    verdict.signature_ok =
        length != 0 &&
        DigestVerify(key, EVP_sha384(), /*pss=*/false,
                     signer_.signature.substr(0, length), signed_region_);
  } else {
    verdict.signature_problem =
        absl::StrCat("unsupported attestation key: ", KeyText(key));
    return;
  }
  if (!verdict.signature_ok) {
    verdict.signature_problem =
        absl::StrCat(SchemeName(verdict.scheme),
                     " signature does not match the hash segment");
  }
}

SignerVerdict SignerCheck::Finish() {
  if (cached_ == nullptr) {
    auto checked = std::make_shared<CheckedChain>();
    checked->error = chain_error_;
    for (size_t i = 0; i < certificates_.size(); ++i) {
      Certificate& cert = *certificates_[i];
      cert.Parsed(i);  // every certificate is reported, even unchecked ones
      if (checked->error.empty() && !cert.error.empty()) {
        checked->error = cert.error;
      }
      checked->certificates.push_back(cert.info);
    }
    checked->attestation = verdict_.attestation;
    if (!certificates_.empty() && certificates_.front()->x509 != nullptr) {
      EVP_PKEY* key = X509_get0_pubkey(certificates_.front()->x509.get());
      if (key != nullptr && EVP_PKEY_up_ref(key) == 1) checked->leaf_key = key;
    }
    cached_ = checked;
    CheckedChainCache::Get().Put(chain_key_, std::move(checked));
  }
  SignerVerdict verdict = std::move(verdict_);
  verdict.chain = cached_->certificates;
  for (size_t i = 0; i < verdict.chain.size(); ++i) {
    if (!verdict.chain[i].signature_ok && verdict.broken_certificate < 0) {
      verdict.broken_certificate = static_cast<int>(i);
    }
  }
  if (!cached_->error.empty()) {
    verdict.chain_problem = cached_->error;
    verdict.chain_unparsable = true;
  } else if (verdict.broken_certificate >= 0) {
    const size_t i = static_cast<size_t>(verdict.broken_certificate);
    verdict.chain_problem =
        i + 1 < verdict.chain.size()
            ? absl::StrCat("certificate ", i, " (", verdict.chain[i].subject,
                           ") is not signed by certificate ", i + 1, " (",
                           verdict.chain[i + 1].subject, ")")
            : absl::StrCat("root certificate ", i, " (",
                           verdict.chain[i].subject,
                           ") is not signed by itself");
  }
  verdict.chain_ok = !verdict.chain.empty() && verdict.chain_problem.empty();
  if (!verdict.chain.empty()) verdict.root_sha256 = verdict.chain.back().sha256;
  return verdict;
}

SignerVerdict VerifySigner(const SignerBlobs& signer,
                           absl::string_view signed_region) {
  SignerCheck check(signer, signed_region);
  for (size_t step = 0; step < check.steps(); ++step) check.Run(step);
  return check.Finish();
}

}  // namespace pil::image
