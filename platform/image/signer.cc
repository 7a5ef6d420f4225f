#include "platform/image/signer.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error.h"
#include "common/file.h"
#include "common/page.h"
#include "platform/image/bytes.h"
#include "platform/image/hash_segment.h"

namespace pil::image {
namespace {

constexpr size_t kRsaChainField = 6144;  // as shipped images pad chains
constexpr size_t kEcChainField = 3360;
constexpr size_t kEcSignatureField = 104;  // largest DER P-384 signature

absl::Status Invalid(std::string message) {
  return Error(absl::StatusCode::kInvalidArgument, "SIGNING_FAILED",
               std::move(message));
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string Der(X509* cert) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert, &der);
  if (length <= 0) return "";
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

const EVP_MD* CertDigest(SigningChain::Kind kind) {
  return kind == SigningChain::Kind::kEc ? EVP_sha384() : EVP_sha256();
}

// A certificate for `key` with subject `fields` ({"C","US"}, {"OU",...}),
// signed by `issuer_key` (issuer name from `issuer`, or self-signed).
X509* MakeCertificate(
    const std::vector<std::pair<std::string, std::string>>& fields,
    EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, long serial, bool ca,
    const EVP_MD* md) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 20L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  for (const auto& [field, value] : fields) {
    X509_NAME_add_entry_by_txt(
        name, field.c_str(), MBSTRING_UTF8,
        reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(
      cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert, key);
  if (ca) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr,
                   nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(
        nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert, issuer_key, md) <= 0) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

absl::StatusOr<std::string> SignBytes(EVP_PKEY* key, SignatureScheme scheme,
                                      absl::string_view message,
                                      const SignOptions& options) {
  std::string signature;
  if (scheme == SignatureScheme::kRsaPkcs1Hmac) {
    const std::string digest =
        HmacLikeDigest(options.sw_id, options.hw_id, message);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    size_t length = static_cast<size_t>(EVP_PKEY_get_size(key));
    signature.resize(length);
    const bool ok =
        ctx != nullptr && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_PKEY_sign(ctx, reinterpret_cast<unsigned char*>(signature.data()),
                      &length,
                      reinterpret_cast<const unsigned char*>(digest.data()),
                      digest.size()) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return Invalid("RSA PKCS#1 signing failed");
    signature.resize(length);
    return signature;
  }
  const bool pss = scheme == SignatureScheme::kRsaPss;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestSignInit(ctx, &pctx, pss ? EVP_sha256() : EVP_sha384(),
                               nullptr, key) == 1;
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
  }
  size_t length = 0;
  ok = ok &&
       EVP_DigestSign(ctx, nullptr, &length,
                      reinterpret_cast<const unsigned char*>(message.data()),
                      message.size()) == 1;
  signature.resize(length);
  ok = ok &&
       EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()),
                      &length,
                      reinterpret_cast<const unsigned char*>(message.data()),
                      message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return Invalid(absl::StrCat(SchemeName(scheme), " signing failed"));
  signature.resize(length);
  if (!pss) signature.resize(kEcSignatureField, '\0');
  return signature;
}

void Flip(std::string& bytes, size_t at) {
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
}

uint32_t NextRandom(uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

}  // namespace

absl::StatusOr<ElfSpec> ElfSpecFromFile(absl::string_view file) {
  auto elf = ParseElfHeaders(file);
  if (!elf.ok()) return elf.status();
  ElfSpec spec;
  spec.elf_class = elf->header.elf_class;
  spec.machine = elf->header.machine;
  spec.entry = elf->header.entry;
  for (size_t i = 0; i < elf->phdrs.size(); ++i) {
    const ProgramHeader& p = elf->phdrs[i];
    const uint32_t type_bits = p.flags & kSegmentTypeMask;
    if (p.type == kPtNull || type_bits == kSegmentTypeHash ||
        type_bits == kSegmentTypePhdr) {
      continue;
    }
    uint64_t end = 0;
    if (p.filesz != 0 &&
        (AddOverflows(p.offset, p.filesz, &end) || end > file.size())) {
      return Error(absl::StatusCode::kInvalidArgument, "SEGMENT_TRUNCATED",
                   absl::StrCat("segment ", i, " ends beyond the file"),
                   {{"segment", absl::StrCat(i)}});
    }
    SegmentSpec segment;
    segment.type = p.type;
    segment.flags = p.flags;
    segment.vaddr = p.vaddr;
    segment.paddr = p.paddr;
    segment.memsz = p.memsz;
    segment.align = p.align;
    segment.data = std::string(file.substr(static_cast<size_t>(p.offset),
                                           static_cast<size_t>(p.filesz)));
    spec.segments.push_back(std::move(segment));
  }
  return spec;
}

ElfSpec SyntheticFirmware(const SyntheticOptions& options) {
  ElfSpec spec;
  spec.elf_class = options.elf_class;
  spec.entry = options.base;
  const int count = std::max(options.segments, 1);
  const uint64_t pages = std::max<uint64_t>(options.size / kPageSize, count);
  uint32_t state = options.seed * 2654435761u + 1;
  uint64_t paddr = options.base;
  uint64_t left = pages;
  for (int i = 0; i < count; ++i) {
    const bool last = i == count - 1;
    const uint64_t n = last ? left : std::max<uint64_t>(left / (count - i), 1);
    left -= n;
    SegmentSpec segment;
    segment.paddr = segment.vaddr = paddr;
    segment.memsz = n * kPageSize;
    const bool bss = last && count >= 3;
    segment.flags =
        (i == 0 ? 0x5 : 0x6) | (options.relocatable ? kSegmentRelocatable : 0);
    if (!bss) {
      // Code and data: pseudo-random bytes, a little short of memsz.
      segment.data.resize(static_cast<size_t>(segment.memsz - 0x100));
      for (size_t b = 0; b + 4 <= segment.data.size(); b += 4) {
        StoreLe(segment.data, b, NextRandom(state), 4);
      }
      if (i == 0) {
        const std::string version = absl::StrCat(
            "QC_IMAGE_VERSION_STRING=", options.version, std::string(1, '\0'));
        segment.data.replace(0x40, version.size(), version);
      }
    }
    spec.segments.push_back(std::move(segment));
    paddr += n * kPageSize;
  }
  return spec;
}

SigningChain::SigningChain(SigningChain&& other) noexcept {
  *this = std::move(other);
}

SigningChain& SigningChain::operator=(SigningChain&& other) noexcept {
  std::swap(kind_, other.kind_);
  std::swap(root_, other.root_);
  std::swap(ca_, other.ca_);
  std::swap(ca_key_, other.ca_key_);
  std::swap(attestation_key_, other.attestation_key_);
  return *this;
}

SigningChain::~SigningChain() {
  X509_free(root_);
  X509_free(ca_);
  EVP_PKEY_free(ca_key_);
  EVP_PKEY_free(attestation_key_);
}

std::string SigningChain::root_sha256() const {
  return absl::BytesToHexString(Digest(HashAlgorithm::kSha256, Der(root_)));
}

absl::StatusOr<SigningChain> SigningChain::Load(Kind kind,
                                                absl::string_view dir) {
  const std::string prefix =
      absl::StrCat(dir, "/", kind == Kind::kEc ? "ec" : "rsa", "-");
  SigningChain chain;
  chain.kind_ = kind;
  auto read_pem = [&](const std::string& name, bool key) -> absl::Status {
    auto pem = ReadFile(prefix + name, 1 << 20);
    if (!pem.ok()) return pem.status();
    BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
    bool ok = false;
    if (key) {
      EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
      ok = k != nullptr;
      (name == "ca.key" ? chain.ca_key_ : chain.attestation_key_) = k;
    } else {
      X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      ok = c != nullptr;
      (name == "root.crt" ? chain.root_ : chain.ca_) = c;
    }
    BIO_free(bio);
    if (!ok) return Invalid(absl::StrCat("cannot parse ", prefix, name));
    return absl::OkStatus();
  };
  for (const auto& [name, key] :
       std::vector<std::pair<std::string, bool>>{{"root.crt", false},
                                                 {"ca.crt", false},
                                                 {"ca.key", true},
                                                 {"attestation.key", true}}) {
    if (absl::Status s = read_pem(name, key); !s.ok()) return s;
  }
  return chain;
}

absl::StatusOr<SigningChain> SigningChain::Generate(Kind kind,
                                                    absl::string_view name) {
  auto new_key = [kind]() -> EVP_PKEY* {
    return kind == Kind::kEc ? EVP_EC_gen("P-384") : EVP_RSA_gen(2048);
  };
  SigningChain chain;
  chain.kind_ = kind;
  EVP_PKEY* root_key = new_key();
  chain.ca_key_ = new_key();
  chain.attestation_key_ = new_key();
  if (root_key == nullptr || chain.ca_key_ == nullptr ||
      chain.attestation_key_ == nullptr) {
    EVP_PKEY_free(root_key);
    return Invalid("key generation failed");
  }
  const EVP_MD* md = CertDigest(kind);
  chain.root_ = MakeCertificate({{"O", "pild"}, {"CN", std::string(name)}},
                                root_key, nullptr, root_key, 1, true, md);
  chain.ca_ = MakeCertificate(
      {{"O", "pild"}, {"CN", absl::StrCat(name, " attestation CA")}},
      chain.ca_key_, chain.root_, root_key, 2, true, md);
  EVP_PKEY_free(root_key);
  if (chain.root_ == nullptr || chain.ca_ == nullptr) {
    return Invalid("certificate generation failed");
  }
  return chain;
}

absl::StatusOr<std::string> SignImage(const ElfSpec& elf,
                                      const SigningChain& chain,
                                      const SignOptions& options) {
  const int version = options.version;
  if (version != 3 && version != 5 && version != 6 && version != 7) {
    return Invalid(absl::StrCat("hash-table version ", version,
                                " is not one of 3, 5, 6, 7"));
  }
  const bool ec = chain.kind() == SigningChain::Kind::kEc;
  SignatureScheme scheme = options.scheme;
  if (scheme == SignatureScheme::kUnknown) {
    scheme = ec ? SignatureScheme::kEcdsaP384
                : (version == 3 ? SignatureScheme::kRsaPkcs1Hmac
                                : SignatureScheme::kRsaPss);
  }
  if (ec != (scheme == SignatureScheme::kEcdsaP384)) {
    return Invalid(absl::StrCat(SchemeName(scheme), " needs ",
                                ec ? "an RSA" : "an EC", " chain"));
  }
  if (ec && version < 6) {
    return Invalid("ECDSA P-384 signatures need hash-table v6 or v7");
  }
  if (scheme == SignatureScheme::kRsaPkcs1Hmac && version != 3) {
    return Invalid("the PKCS#1 HMAC-like scheme is a v3 scheme");
  }

  const HashAlgorithm algorithm =
      version >= 6 ? HashAlgorithm::kSha384 : HashAlgorithm::kSha256;
  const size_t digest = DigestSize(algorithm);
  const bool is64 = elf.elf_class == 64;
  const size_t phnum = elf.segments.size() + 2;
  const size_t ehsize = ElfHeaderSize(elf.elf_class);
  const size_t phentsize = PhdrSize(elf.elf_class);
  const uint64_t headers_size = ehsize + phnum * phentsize;

  // Sizes of the hash segment's parts.
  const size_t header_size = version == 6 ? 48 : 40;
  const size_t common_md = version == 7 ? 24 : 0;
  const size_t oem_md = version == 6 ? 120 : version == 7 ? 224 : 0;
  const size_t hash_size = phnum * digest;
  const bool sign = !options.unsigned_image;
  const size_t signature_size =
      !sign ? 0
      : ec  ? kEcSignatureField
            : static_cast<size_t>(EVP_PKEY_get_size(chain.attestation_key_));

  // The attestation certificate carries the identity for v3/v5.
  std::vector<std::pair<std::string, std::string>> subject = {
      {"C", "US"}, {"O", "pild"}, {"CN", "pild test attestation"}};
  if (version <= 5) {
    subject.insert(
        subject.end(),
        {{"OU", absl::StrFormat("01 %016X SW_ID", options.sw_id)},
         {"OU", absl::StrFormat("02 %016X HW_ID", options.hw_id)},
         {"OU", absl::StrFormat("03 %016X DEBUG", options.debug)},
         {"OU", absl::StrFormat("04 %04X OEM_ID", options.oem_id)},
         {"OU", absl::StrFormat("05 %08X SW_SIZE", header_size + hash_size)},
         {"OU", absl::StrFormat("06 %04X MODEL_ID", options.model_id)},
         {"OU", "07 0001 SHA256"}});
  }
  std::string chain_blob;
  if (sign) {
    X509* leaf =
        MakeCertificate(subject, chain.attestation_key_, chain.ca_,
                        chain.ca_key_, 3, false, CertDigest(chain.kind()));
    if (leaf == nullptr) return Invalid("attestation certificate failed");
    std::vector<std::string> certs = {Der(leaf), Der(chain.ca_),
                                      Der(chain.root_)};
    X509_free(leaf);
    if (options.corrupt_certificate) {
      if (*options.corrupt_certificate >= certs.size()) {
        return Invalid("corrupt_certificate names no certificate");
      }
      std::string& cert = certs[*options.corrupt_certificate];
      Flip(cert, cert.size() - 1);  // the last byte of its signature
    }
    for (const std::string& cert : certs) chain_blob += cert;
    const size_t field = ec ? kEcChainField : kRsaChainField;
    chain_blob.resize(std::max(field, AlignUp(chain_blob.size(), 16)), '\xff');
  }
  const size_t hash_segment_size = header_size + common_md + oem_md +
                                   hash_size + signature_size +
                                   chain_blob.size();

  // Program headers: placeholder, hash segment, then the image's segments.
  ElfHeaders headers;
  headers.header.elf_class = elf.elf_class;
  headers.header.type = 2;  // ET_EXEC
  headers.header.machine = elf.machine;
  headers.header.entry = elf.entry;
  headers.header.phoff = ehsize;
  headers.header.ehsize = static_cast<uint16_t>(ehsize);
  headers.header.phentsize = static_cast<uint16_t>(phentsize);
  headers.header.phnum = static_cast<uint16_t>(phnum);
  uint64_t image_end = 0;
  for (const SegmentSpec& s : elf.segments) {
    if (s.data.size() > s.memsz && s.type == kPtLoad) {
      return Invalid("a segment's data is larger than its memsz");
    }
    image_end = std::max(image_end, AlignUp(s.paddr + s.memsz, kPageSize));
  }
  ProgramHeader placeholder;
  placeholder.type = kPtNull;
  placeholder.flags = kSegmentTypePhdr;
  placeholder.filesz = headers_size;
  ProgramHeader hash;
  hash.type = kPtNull;
  hash.flags = kSegmentTypeHash | 0x00200000;  // hash segment, read-only
  hash.offset = AlignUp(headers_size, kPageSize);
  hash.vaddr = hash.paddr = image_end;
  hash.filesz = hash_segment_size;
  hash.memsz = AlignUp(hash_segment_size, kPageSize);
  hash.align = kPageSize;
  headers.phdrs = {placeholder, hash};
  uint64_t offset = AlignUp(hash.offset + hash.filesz, kPageSize);
  for (const SegmentSpec& s : elf.segments) {
    ProgramHeader p;
    p.type = s.type;
    p.flags = s.flags;
    p.vaddr = s.vaddr;
    p.paddr = s.paddr;
    p.memsz = s.memsz;
    p.align = s.align;
    p.filesz = s.data.size();
    if (!s.data.empty()) offset = AlignUp(offset, kPageSize);
    p.offset = offset;
    offset += s.data.size();
    headers.phdrs.push_back(p);
  }
  headers.phdr_table_end = headers_size;
  (void)is64;

  std::string image(static_cast<size_t>(offset), '\0');
  const std::string header_bytes =
      SerializeElfHeaders(headers, static_cast<size_t>(headers_size));
  image.replace(0, header_bytes.size(), header_bytes);
  for (size_t i = 0; i < elf.segments.size(); ++i) {
    const std::string& data = elf.segments[i].data;
    image.replace(static_cast<size_t>(headers.phdrs[i + 2].offset), data.size(),
                  data);
  }

  // The hash table: headers, zero for the hash segment, each segment.
  std::string table;
  table += Digest(algorithm, header_bytes);
  table += std::string(digest, '\0');
  for (const SegmentSpec& s : elf.segments) {
    table +=
        s.data.empty() ? std::string(digest, '\0') : Digest(algorithm, s.data);
  }
  if (options.corrupt_hash_entry) {
    if (*options.corrupt_hash_entry >= phnum) {
      return Invalid("corrupt_hash_entry names no program header");
    }
    Flip(table, *options.corrupt_hash_entry * digest);
  }

  std::string segment(header_size, '\0');
  const uint64_t dest = hash.paddr + header_size + common_md + oem_md;
  StoreLe(segment, 4, static_cast<uint32_t>(version), 4);
  if (version == 7) {
    StoreLe(segment, 0x08, common_md, 4);
    StoreLe(segment, 0x0c, 0, 4);
    StoreLe(segment, 0x10, oem_md, 4);
    StoreLe(segment, 0x14, hash_size, 4);
    StoreLe(segment, 0x20, signature_size, 4);
    StoreLe(segment, 0x24, chain_blob.size(), 4);
    std::string common(common_md, '\0');
    StoreLe(common, 8, static_cast<uint32_t>(options.sw_id), 4);
    StoreLe(common, 16, 3, 4);  // SHA-384
    std::string oem(oem_md, '\0');
    StoreLe(oem, 0, 2, 4);  // metadata 2.0
    StoreLe(oem, 8, options.anti_rollback_version, 4);
    StoreLe(oem, 68, static_cast<uint32_t>(options.hw_id), 4);
    StoreLe(oem, 136, options.oem_id, 4);
    StoreLe(oem, 140, options.model_id, 4);
    segment += common + oem;
  } else {
    StoreLe(segment, 0x10, hash_size + signature_size + chain_blob.size(), 4);
    StoreLe(segment, 0x14, hash_size, 4);
    StoreLe(segment, 0x1c, signature_size, 4);
    StoreLe(segment, 0x24, chain_blob.size(), 4);
    if (version == 3) {
      StoreLe(segment, 0x0c, dest, 4);
      StoreLe(segment, 0x18, dest + hash_size, 4);
      StoreLe(segment, 0x20, dest + hash_size + signature_size, 4);
    } else {
      StoreLe(segment, 0x18, 0xffffffffu, 4);
      StoreLe(segment, 0x20, 0xffffffffu, 4);
    }
    if (version == 6) {
      StoreLe(segment, 0x2c, oem_md, 4);
      std::string md(oem_md, '\0');
      StoreLe(md, 8, static_cast<uint32_t>(options.sw_id), 4);
      StoreLe(md, 12, static_cast<uint32_t>(options.hw_id), 4);
      StoreLe(md, 16, options.oem_id, 4);
      StoreLe(md, 20, options.model_id, 4);
      StoreLe(md, 28, (options.debug & 3) << 8, 4);
      StoreLe(md, 116, options.anti_rollback_version, 4);
      segment += md;
    }
  }
  segment += table;  // the signed region ends here
  if (sign) {
    auto signature =
        SignBytes(chain.attestation_key_, scheme, segment, options);
    if (!signature.ok()) return signature.status();
    if (options.corrupt_signature) Flip(*signature, signature->size() / 2);
    segment += *signature + chain_blob;
  }
  image.replace(static_cast<size_t>(hash.offset), segment.size(), segment);
  return image;
}

}  // namespace pil::image
