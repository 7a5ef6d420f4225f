#include "platform/verify.h"

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "platform/image/inspect.h"
#include "platform/image/layout.h"
#include "platform/image/signature.h"

namespace pil::platform {

absl::StatusOr<Verification> VerifyForCarveout(
    const image::FirmwareImage& image,
    const devicetree::CarveoutRange& carveout, int threads,
    const PlaceSegment& place, const ZeroSpan& zero, bool copy_if_verified) {
  auto layout = image::ComputeLayout(image.segments());
  if (!layout.ok()) return Annotate(layout.status(), image.name());
  if (absl::Status fits = image::CheckFitsCarveout(
          *layout, image.segments(), carveout.base, carveout.size);
      !fits.ok()) {
    return Annotate(fits, image.name());
  }
  const uint64_t reloc = image::RelocationBase(*layout, carveout.base);
  Verification out;
  out.machine = image.header().machine;
  out.relocatable = layout->relocatable;
  out.span = layout->span();
  for (size_t i : layout->loadable) {
    const image::ProgramHeader& ph = image.segments()[i];
    out.placed.push_back({i, carveout.base + (ph.paddr - reloc), ph.memsz});
  }
  image::InspectOptions options;
  options.threads = threads;
  options.zero = zero;
  options.copy_if_verified = copy_if_verified;
  options.carveout = std::make_pair(carveout.base, carveout.size);
  // Unchanged images are not verified again (checks alone), and a verified
  // copy makes the next check of the same image free.
  options.cache = &image::ReportCache::Shared();
  if (place) {
    options.destination = [&](size_t i) {
      const image::ProgramHeader& ph = image.segments()[i];
      return place(carveout.base + (ph.paddr - reloc), ph.memsz);
    };
  }
  // When the secure world re-hashes the copy, checking first (signatures
  // and segment hashes on every thread at once) and then copying an image
  // that passed is faster than hashing each copy as it lands once the
  // signatures have been checked: the copy is a cheap second pass.
  bool just_verified = false;
  if (place && copy_if_verified && !image::ReportKey(image, options).empty()) {
    image::InspectOptions check = options;
    check.destination = nullptr;
    const image::ImageReport verified = image::Inspect(image, check);
    if (!verified.ok()) return image::ReportStatus(verified);
    just_verified = !verified.from_cache;
  }
  const image::ImageReport report = image::Inspect(image, options);
  if (!report.ok()) return image::ReportStatus(report);
  out.image.metadata_sha256 = report.metadata_sha256;
  out.image.version = report.image_version;
  out.image.hash_table_version = report.version;
  out.image.sw_id = report.identity.image_type();
  out.image.anti_rollback_version = report.identity.anti_rollback_version;
  out.summary = absl::StrCat(
      "hash table v", report.version, " ",
      image::HashAlgorithmName(report.algorithm), ": every segment matches; ",
      report.signers.empty()
          ? ""
          : absl::StrCat(image::SchemeName(report.signers[0].scheme),
                         " signature and chain verify (root ",
                         report.signers[0].root_sha256.substr(0, 16), "…); "),
      layout->loadable.size(), " segments ", place ? "copied to " : "fit ",
      Hex(carveout.base), " (span ", Hex(layout->span()), ")",
      report.from_cache && !just_verified
          ? place ? "; verified before and unchanged since: copied, not "
                    "hashed again (the secure world hashes the copy)"
                  : "; verified before and unchanged since"
          : "");
  return out;
}

}  // namespace pil::platform
