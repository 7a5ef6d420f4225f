// The image checks both backend tiers run before anything reaches the
// secure world or the kernel: the image fits the carveout, its hash table
// matches every segment, its signatures and chains verify.
//
//   auto verified = VerifyForCarveout(image, node.carveouts[0], 2, place);
//   steps.Note(verified->summary);
#ifndef PILD_PLATFORM_VERIFY_H_
#define PILD_PLATFORM_VERIFY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/image/firmware_image.h"

namespace pil::platform {

// A loadable segment's place in physical memory.
struct PlacedSegment {
  size_t index = 0;  // program header
  uint64_t address = 0;
  uint64_t size = 0;  // p_memsz
};

struct Verification {
  VerifiedImage image;
  std::vector<PlacedSegment> placed;
  uint16_t machine = 0;  // e_machine
  bool relocatable = false;
  uint64_t span = 0;  // 4 KiB-aligned span of the loadable segments
  // One line for a step's detail: hash table, signature, segments.
  std::string summary;
};

// Where a segment's bytes go while they are hashed: p_memsz bytes at
// `address` (the BSS tail is zeroed).
using PlaceSegment = std::function<absl::StatusOr<absl::Span<uint8_t>>(
    uint64_t address, uint64_t size)>;
// Zeroes part of a placed segment (memset when null).
using ZeroSpan = std::function<void(absl::Span<uint8_t>)>;

// Verifies `image` for `carveout` on `threads` threads; with `place`, each
// loadable segment is copied where it belongs, only once the whole image
// is known to fit and its signatures and chains verify, in the same pass
// that hashes it (the copy is what is hashed) unless `copy_if_verified`.
// Without `place`, an image verified before and unchanged since is not verified
// again (image::ReportCache::Shared()); with `place` and `copy_if_verified`
// (the secure world verifies the copy after pild) such an image is copied
// without hashing it again, and an image with an identity is verified in
// full before its copy rather than while copying. The image's own errors
// (IMAGE_TOO_LARGE, SEGMENT_OUTSIDE_CARVEOUT, HASH_MISMATCH, ...) name the
// image.
absl::StatusOr<Verification> VerifyForCarveout(
    const image::FirmwareImage& image,
    const devicetree::CarveoutRange& carveout, int threads,
    const PlaceSegment& place, const ZeroSpan& zero = nullptr,
    bool copy_if_verified = false);

}  // namespace pil::platform

#endif  // PILD_PLATFORM_VERIFY_H_
