#include "platform/image/hash_segment.h"

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "platform/image/bytes.h"

namespace pil::image {
namespace {

constexpr size_t kMetadataV6Size = 120;
constexpr size_t kCommonMetadataV7Size = 24;
constexpr size_t kOemMetadataV7Size = 224;

absl::Status Invalid(absl::string_view reason, std::string message,
                     ErrorMetadata metadata = {}) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message,
               std::move(metadata));
}

absl::Status SizeMismatch(uint32_t version, uint64_t expected, uint64_t found,
                          absl::string_view what) {
  return Invalid(
      "HASH_SEGMENT_SIZE_MISMATCH",
      absl::StrCat("hash segment v", version, ": ", what, " is ", expected,
                   " bytes, more than the ", found, " there are"),
      {{"expected", absl::StrCat(expected)}, {"found", absl::StrCat(found)}});
}

MetadataV6 ParseMetadataV6(absl::string_view b) {
  MetadataV6 m;
  m.major = Le32(b, 0);
  m.minor = Le32(b, 4);
  m.sw_id = Le32(b, 8);
  m.hw_id = Le32(b, 12);
  m.oem_id = Le32(b, 16);
  m.model_id = Le32(b, 20);
  m.app_id = Le32(b, 24);
  m.flags = Le32(b, 28);
  m.anti_rollback_version = Le32(b, 116);
  return m;
}

CommonMetadataV7 ParseCommonMetadataV7(absl::string_view b) {
  CommonMetadataV7 m;
  m.major = Le32(b, 0);
  m.minor = Le32(b, 4);
  m.software_id = Le32(b, 8);
  m.secondary_software_id = Le32(b, 12);
  m.hash_table_algorithm = Le32(b, 16);
  m.measurement_register_target = Le32(b, 20);
  return m;
}

OemMetadataV7 ParseOemMetadataV7(absl::string_view b) {
  OemMetadataV7 m;
  m.major = Le32(b, 0);
  m.minor = Le32(b, 4);
  m.anti_rollback_version = Le32(b, 8);
  m.mrc_index = Le32(b, 12);
  m.soc_feature_id = Le32(b, 64);
  m.jtag_id = Le32(b, 68);
  m.oem_id = Le32(b, 136);
  m.oem_product_id = Le32(b, 140);
  m.flags = Le32(b, 220);
  return m;
}

// Cuts consecutive regions of the given sizes from `bytes` at `offset`.
struct Cursor {
  absl::string_view bytes;
  uint64_t offset;
  absl::string_view Take(uint64_t size) {
    absl::string_view region =
        bytes.substr(static_cast<size_t>(offset), static_cast<size_t>(size));
    offset += size;
    return region;
  }
};

}  // namespace

size_t DigestSize(HashAlgorithm algorithm) {
  return algorithm == HashAlgorithm::kSha384 ? 48 : 32;
}

const char* HashAlgorithmName(HashAlgorithm algorithm) {
  return algorithm == HashAlgorithm::kSha384 ? "sha384" : "sha256";
}

absl::string_view HashSegment::Entry(size_t i) const {
  const size_t size = DigestSize(algorithm);
  return hash_table.substr(i * size, size);
}

absl::StatusOr<HashSegment> ParseHashSegment(absl::string_view bytes,
                                             size_t phnum) {
  if (bytes.size() < 40) {
    return Invalid("HASH_SEGMENT_TOO_SHORT",
                   absl::StrCat("hash segment is ", bytes.size(),
                                " bytes, smaller than an MBN header (40)"));
  }
  HashSegment hs;
  hs.image_id = Le32(bytes, 0);
  hs.version = Le32(bytes, 4);
  const uint64_t size = bytes.size();
  uint64_t header_size = 40;
  uint64_t hash_size = 0;
  // Signer sizes in body order.
  struct Region {
    const char* role;
    uint64_t signature;
    uint64_t chain;
  };
  Region regions[2] = {{"", 0, 0}, {"", 0, 0}};
  size_t region_count = 2;
  uint64_t metadata[3] = {0, 0, 0};  // common (v7), QTI, OEM

  switch (hs.version) {
    case 3:
    case 5:
    case 6: {
      hs.algorithm =
          hs.version == 6 ? HashAlgorithm::kSha384 : HashAlgorithm::kSha256;
      const uint64_t total = Le32(bytes, 0x10);
      hash_size = Le32(bytes, 0x14);
      const uint64_t oem_signature = Le32(bytes, 0x1c);
      const uint64_t oem_chain = Le32(bytes, 0x24);
      uint64_t qti_signature = 0, qti_chain = 0;
      if (hs.version >= 5) {
        qti_signature = Le32(bytes, 0x08);
        qti_chain = Le32(bytes, 0x0c);
      }
      if (hs.version == 6) {
        header_size = 48;
        if (size < header_size) {
          return Invalid("HASH_SEGMENT_TOO_SHORT",
                         absl::StrCat("hash segment v6 is ", size,
                                      " bytes, smaller than its header (48)"));
        }
        metadata[1] = Le32(bytes, 0x28);
        metadata[2] = Le32(bytes, 0x2c);
      }
      const uint64_t expected_size =
          header_size + metadata[1] + metadata[2] + total;
      if (expected_size > size) {
        return SizeMismatch(hs.version, expected_size, size,
                            "header + metadata + total_size");
      }
      const uint64_t body =
          hash_size + oem_signature + oem_chain + qti_signature + qti_chain;
      if (body != total) {
        return Invalid(
            "HASH_SEGMENT_SIZE_MISMATCH",
            absl::StrCat("hash segment v", hs.version, ": total_size is ",
                         total,
                         " bytes, hashes + signatures + chains "
                         "are ",
                         body),
            {{"expected", absl::StrCat(body)}, {"found", absl::StrCat(total)}});
      }
      const Region oem = {"oem", oem_signature, oem_chain};
      const Region qti = {"qti", qti_signature, qti_chain};
      if (hs.version == 6) {
        regions[0] = oem;
        regions[1] = qti;
      } else if (hs.version == 5) {
        regions[0] = qti;
        regions[1] = oem;
      } else {
        regions[0] = oem;
        region_count = 1;
      }
      break;
    }
    case 7: {
      hs.algorithm = HashAlgorithm::kSha384;
      metadata[0] = Le32(bytes, 0x08);
      metadata[1] = Le32(bytes, 0x0c);
      metadata[2] = Le32(bytes, 0x10);
      hash_size = Le32(bytes, 0x14);
      regions[0] = {"qti", Le32(bytes, 0x18), Le32(bytes, 0x1c)};
      regions[1] = {"oem", Le32(bytes, 0x20), Le32(bytes, 0x24)};
      uint64_t expected_size =
          header_size + metadata[0] + metadata[1] + metadata[2] + hash_size;
      for (const Region& r : regions) expected_size += r.signature + r.chain;
      if (expected_size > size) {
        return SizeMismatch(7, expected_size, size,
                            "header + metadata + hashes + signatures + "
                            "chains");
      }
      break;
    }
    default:
      return Invalid("HASH_VERSION_UNSUPPORTED",
                     absl::StrCat("hash segment version ", hs.version,
                                  " is not supported; expected 3, 5, 6 or 7"),
                     {{"found", absl::StrCat(hs.version)}});
  }

  const uint64_t digest = DigestSize(hs.algorithm);
  if (hash_size != phnum * digest) {
    return Invalid("HASH_TABLE_SIZE_MISMATCH",
                   absl::StrCat("hash table is ", hash_size, " bytes; ", phnum,
                                " program headers need ", phnum * digest, " (",
                                digest, "-byte digests)"),
                   {{"expected", absl::StrCat(phnum * digest)},
                    {"found", absl::StrCat(hash_size)}});
  }

  Cursor cursor{bytes, header_size};
  absl::string_view common = cursor.Take(metadata[0]);
  absl::string_view qti_metadata = cursor.Take(metadata[1]);
  absl::string_view oem_metadata = cursor.Take(metadata[2]);
  hs.hash_table = cursor.Take(hash_size);
  hs.entry_count = phnum;
  hs.signed_region = bytes.substr(0, static_cast<size_t>(cursor.offset));
  for (size_t i = 0; i < region_count; ++i) {
    const Region& r = regions[i];
    SignerBlobs signer;
    signer.role = r.role;
    signer.signature = cursor.Take(r.signature);
    signer.chain = cursor.Take(r.chain);
    if (!signer.signature.empty() || !signer.chain.empty()) {
      hs.signers.push_back(signer);
    }
  }

  if (hs.version == 6) {
    if (qti_metadata.size() >= kMetadataV6Size) {
      hs.qti_metadata_v6 = ParseMetadataV6(qti_metadata);
    }
    if (oem_metadata.size() >= kMetadataV6Size) {
      hs.oem_metadata_v6 = ParseMetadataV6(oem_metadata);
    }
  } else if (hs.version == 7) {
    if (common.size() >= kCommonMetadataV7Size) {
      hs.common_metadata_v7 = ParseCommonMetadataV7(common);
    }
    if (oem_metadata.size() >= kOemMetadataV7Size) {
      hs.oem_metadata_v7 = ParseOemMetadataV7(oem_metadata);
    }
  }
  return hs;
}

}  // namespace pil::image
