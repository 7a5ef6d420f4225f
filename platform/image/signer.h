// Test signing: builds signed MBN images — every hash-table version and
// signature scheme — with a chain of our own (TEST ONLY; see testkeys/).
//
//   auto chain = SigningChain::Load(SigningChain::Kind::kEc,
//   "platform/image/testkeys"); ElfSpec elf = SyntheticFirmware({.base =
//   0x9bb00000, .size = 0x200000}); SignOptions options; options.version = 7;
//   options.sw_id = 0x0e;  // video
//   absl::StatusOr<std::string> mbn = SignImage(elf, *chain, options);
//
// The layout follows Qualcomm's signing tools: program header 0 is the
// header placeholder, 1 the hash segment (at file offset 0x1000, loaded at
// the 4 KiB-aligned end of the image), then the image's segments, each at
// a 4 KiB-aligned file offset.
#ifndef PILD_PLATFORM_IMAGE_SIGNER_H_
#define PILD_PLATFORM_IMAGE_SIGNER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/image/elf.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signature.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace pil::image {

// One segment of an image to build.
struct SegmentSpec {
  uint32_t type = kPtLoad;
  uint32_t flags = 0x5;  // R+X; add kSegmentRelocatable to relocate
  uint64_t vaddr = 0;
  uint64_t paddr = 0;
  uint64_t memsz = 0;  // >= data.size()
  uint64_t align = 0x1000;
  std::string data;
};

struct ElfSpec {
  int elf_class = 32;
  uint16_t machine = 164;  // Hexagon
  uint64_t entry = 0;
  std::vector<SegmentSpec> segments;
};

// The segments of an existing ELF (an unsigned build, or a signed image to
// re-sign): every program header except PT_NULL headers, the header
// placeholder and the hash segment, with its file data.
absl::StatusOr<ElfSpec> ElfSpecFromFile(absl::string_view elf);

struct SyntheticOptions {
  uint64_t base = 0;         // p_paddr of the first segment
  uint64_t size = 0x100000;  // total memory size (4 KiB multiple)
  int segments = 3;          // code, data, BSS
  bool relocatable = true;
  std::string version = "PILD.TEST.1.0";  // QC_IMAGE_VERSION_STRING
  uint32_t seed = 1;                      // content
  int elf_class = 32;
};

// Deterministic firmware-like content: code and data segments filled from
// `seed` (with the version string in the first), and a trailing BSS.
ElfSpec SyntheticFirmware(const SyntheticOptions& options);

struct SignOptions {
  int version = 6;  // 3, 5, 6 or 7
  // kUnknown: PKCS#1-HMAC for v3 with RSA, PSS for other RSA, ECDSA for EC.
  SignatureScheme scheme = SignatureScheme::kUnknown;
  uint64_t sw_id = 0;  // low 32 bits: image type; v3/v5: high 32 bits are
                       // the anti-rollback version
  uint64_t hw_id = 0;
  uint32_t oem_id = 0;
  uint32_t model_id = 0;
  uint32_t anti_rollback_version = 0;  // v6/v7 metadata
  uint32_t debug = 2;                  // 2 = disabled

  // Deliberate defects, for negative tests.
  std::optional<size_t> corrupt_hash_entry;   // flip a byte of entry N
  bool corrupt_signature = false;             // flip a byte of the signature
  std::optional<size_t> corrupt_certificate;  // break cert N's signature
  bool unsigned_image = false;                // no signature, no chain
};

class SigningChain {
 public:
  enum class Kind { kRsa, kEc };

  // Loads KIND-root.crt, KIND-ca.crt, KIND-ca.key and
  // KIND-attestation.key ("rsa" or "ec") from `dir`.
  static absl::StatusOr<SigningChain> Load(Kind kind, absl::string_view dir);

  // A fresh chain (new keys, self-signed root named `name`), for images a
  // simulated SoC must not trust.
  static absl::StatusOr<SigningChain> Generate(Kind kind,
                                               absl::string_view name);

  SigningChain(SigningChain&&) noexcept;
  SigningChain& operator=(SigningChain&&) noexcept;
  ~SigningChain();

  Kind kind() const { return kind_; }
  // SHA-256 (hex) of the root certificate's DER.
  std::string root_sha256() const;

 private:
  friend absl::StatusOr<std::string> SignImage(const ElfSpec&,
                                               const SigningChain&,
                                               const SignOptions&);
  SigningChain() = default;

  Kind kind_ = Kind::kRsa;
  X509* root_ = nullptr;
  X509* ca_ = nullptr;
  EVP_PKEY* ca_key_ = nullptr;
  EVP_PKEY* attestation_key_ = nullptr;
};

// Builds and signs an image. INVALID_ARGUMENT for an unsupported version,
// a scheme the chain's key cannot make, or segments that do not fit.
absl::StatusOr<std::string> SignImage(const ElfSpec& elf,
                                      const SigningChain& chain,
                                      const SignOptions& options);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_SIGNER_H_
