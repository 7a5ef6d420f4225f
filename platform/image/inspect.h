// Complete validation of a firmware image before any secure-world call:
// layout, hash table, signatures, certificate chains, identity.
//
//   auto image = FirmwareImage::LoadFile(path);
//   ImageReport report = Inspect(*image, {.threads = 2});
//   if (!report.ok()) return ReportStatus(report);
//
// Segments are hashed in parallel on `threads` threads, largest first.
#ifndef PILD_PLATFORM_IMAGE_INSPECT_H_
#define PILD_PLATFORM_IMAGE_INSPECT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "platform/image/firmware_image.h"
#include "platform/image/hash_segment.h"
#include "platform/image/layout.h"
#include "platform/image/report_cache.h"
#include "platform/image/signature.h"

namespace pil::image {

struct SegmentReport {
  size_t index = 0;
  ProgramHeader phdr;
  // "headers", "hash", "load" or "other".
  std::string role;
  // The hash-table entry matches (zero entries where they must be zero).
  bool hash_ok = false;
  // The .bNN file holding it, for split images.
  std::string file;
};

// The signed identity of an image: from the attestation certificate's OU
// fields (v3, v5) or the signed metadata (v6: OEM block, else QTI; v7:
// common and OEM blocks).
struct ImageIdentity {
  bool present = false;
  uint64_t sw_id = 0;  // low 32 bits: image type
  uint64_t hw_id = 0;
  uint32_t oem_id = 0;
  uint32_t model_id = 0;
  uint32_t anti_rollback_version = 0;
  uint32_t debug = 0;  // as signed: v3/v5 DEBUG field, v6 flags bits 8-9
  uint32_t image_type() const { return static_cast<uint32_t>(sw_id); }
};

struct Problem {
  std::string reason;
  std::string message;
  int segment = -1;
  // Certificate index for CHAIN_BROKEN, -1 otherwise.
  int certificate = -1;
  std::string signer;  // "oem" / "qti" for signature problems
};

struct ImageReport {
  std::string name;
  uint64_t size = 0;  // bytes of all files read
  ElfHeader header;
  bool split = false;
  std::optional<LoadLayout> layout;
  uint32_t version = 0;  // hash-table version, 0 when unparsed
  HashAlgorithm algorithm = HashAlgorithm::kSha256;
  std::vector<SegmentReport> segments;
  bool hash_ok = false;
  std::vector<SignerVerdict> signers;
  ImageIdentity identity;
  // QC_IMAGE_VERSION_STRING, empty when absent.
  std::string image_version;
  // SHA-256 (hex) of the metadata (headers + hash segment): the same for
  // the .mbn and the split form, and it commits to every segment.
  std::string metadata_sha256;
  // SHA-256 (hex) of the main file, when InspectOptions::file_digest.
  std::string file_sha256;
  std::vector<Problem> problems;
  // Answered from a ReportCache: the image was verified before, unchanged.
  bool from_cache = false;

  bool ok() const { return problems.empty(); }
};

struct InspectOptions {
  // Threads hashing segments (the caller's thread included).
  int threads = 2;
  // Also check that the image fits this carveout.
  std::optional<std::pair<uint64_t, uint64_t>> carveout;  // base, size
  // Also compute the SHA-256 of the main file (one more pass over it).
  bool file_digest = false;
  // When set, every loadable segment is also copied, in the pass that
  // hashes it, to the span this returns for its program-header index: p_memsz
  // bytes, the tail past p_filesz zeroed; the copy is what is hashed. The
  // signatures and chains are checked first: nothing is copied unless they
  // verify. A failure to place becomes a problem.
  std::function<absl::StatusOr<absl::Span<uint8_t>>(size_t index)> destination;
  // Sets part of a destination to zero (BSS); memset when unset.
  std::function<void(absl::Span<uint8_t>)> zero;
  // When set: without a destination, an image already inspected with the
  // same identity and options is answered from here; a report computed
  // without a destination, or with one and no problem, is kept.
  ReportCache* cache = nullptr;
  // With a destination and a cache: an image verified before without
  // problem and unchanged since is copied without hashing it again. Only
  // for a caller after whom something else verifies the copy (the secure
  // world's auth_and_reset).
  bool copy_if_verified = false;
};

ImageReport Inspect(const FirmwareImage& image,
                    const InspectOptions& options = {});

// The key of `image` inspected with `options` in a ReportCache; empty when
// the image has no identity.
std::string ReportKey(const FirmwareImage& image,
                      const InspectOptions& options);

// The signed identity of an image from its hash segment and its signers'
// verdicts (see ImageIdentity).
ImageIdentity IdentityOf(const HashSegment& hash_segment,
                         const std::vector<SignerVerdict>& signers);

// OK for a report without problems; else the first problem as a status:
// INVALID_ARGUMENT for structural problems, PERMISSION_DENIED for
// signature and chain problems, with reason and metadata (segment,
// certificate, signer).
absl::Status ReportStatus(const ImageReport& report);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_INSPECT_H_
