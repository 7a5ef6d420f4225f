// The hash segment of a signed image: the MBN header (versions 3, 5, 6,
// 7), the signed metadata, the hash table, and each signer's signature and
// certificate chain.
//
//   absl::StatusOr<HashSegment> hs = ParseHashSegment(bytes, phnum);
//   hs->Entry(3)  // expected digest of program header 3's file bytes
//
// Layouts (all fields little-endian u32):
//   v3 (40-byte header): hashes, signature, chain.
//   v5 (40): hashes, QTI signature, QTI chain, OEM signature, OEM chain.
//   v6 (48): QTI metadata, OEM metadata, hashes, OEM signature, OEM chain,
//       QTI signature, QTI chain (total_size excludes the metadata).
//   v7 (40): common metadata, QTI metadata, OEM metadata, hashes, QTI
//       signature, QTI chain, OEM signature, OEM chain.
// v3/v5/v6 total_size must equal hashes + signatures + chains. The regions
// must fit the segment; trailing padding after them is allowed (shipped v6
// images carry some).
// The hash table has one entry per program header: SHA-256 for v3/v5,
// SHA-384 for v6/v7. What is signed is the segment from its first byte to
// the end of the hash table. The returned views point into `bytes`.
#ifndef PILD_PLATFORM_IMAGE_HASH_SEGMENT_H_
#define PILD_PLATFORM_IMAGE_HASH_SEGMENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::image {

enum class HashAlgorithm { kSha256, kSha384 };

size_t DigestSize(HashAlgorithm algorithm);
// "sha256" or "sha384".
const char* HashAlgorithmName(HashAlgorithm algorithm);

// One signer's material: "qti" or "oem".
struct SignerBlobs {
  std::string role;
  absl::string_view signature;
  absl::string_view chain;
};

// Version 6 metadata block (120 bytes; QTI and OEM each have one).
struct MetadataV6 {
  uint32_t major = 0, minor = 0;
  uint32_t sw_id = 0, hw_id = 0, oem_id = 0, model_id = 0, app_id = 0;
  uint32_t flags = 0;  // bits 8-9: debug
  uint32_t anti_rollback_version = 0;
};

// Version 7 common metadata (24 bytes).
struct CommonMetadataV7 {
  uint32_t major = 0, minor = 0;
  uint32_t software_id = 0, secondary_software_id = 0;
  uint32_t hash_table_algorithm = 0;  // 3 = SHA-384
  uint32_t measurement_register_target = 0;
};

// Version 7 OEM metadata 2.0 (224 bytes).
struct OemMetadataV7 {
  uint32_t major = 0, minor = 0;
  uint32_t anti_rollback_version = 0;
  uint32_t mrc_index = 0;
  uint32_t soc_feature_id = 0;
  uint32_t jtag_id = 0;
  uint32_t oem_id = 0;
  uint32_t oem_product_id = 0;
  uint32_t flags = 0;
};

struct HashSegment {
  uint32_t version = 0;
  HashAlgorithm algorithm = HashAlgorithm::kSha256;
  uint32_t image_id = 0;
  // Header, metadata and hash table: what the signatures cover.
  absl::string_view signed_region;
  absl::string_view hash_table;
  size_t entry_count = 0;
  // Signers with a non-empty signature, in body order.
  std::vector<SignerBlobs> signers;
  std::optional<MetadataV6> qti_metadata_v6;
  std::optional<MetadataV6> oem_metadata_v6;
  std::optional<CommonMetadataV7> common_metadata_v7;
  std::optional<OemMetadataV7> oem_metadata_v7;

  // Expected digest of program header `i`'s file bytes (all zero for the
  // hash segment and for segments without file data).
  absl::string_view Entry(size_t i) const;
};

// Parses the hash segment of an image with `phnum` program headers.
// INVALID_ARGUMENT with reason HASH_SEGMENT_TOO_SHORT,
// HASH_VERSION_UNSUPPORTED, HASH_SEGMENT_SIZE_MISMATCH or
// HASH_TABLE_SIZE_MISMATCH, naming expected and found sizes.
absl::StatusOr<HashSegment> ParseHashSegment(absl::string_view bytes,
                                             size_t phnum);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_HASH_SEGMENT_H_
