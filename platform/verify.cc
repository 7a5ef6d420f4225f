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
    const PlaceSegment& place) {
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
  options.carveout = std::make_pair(carveout.base, carveout.size);
  if (place) {
    options.destination = [&](size_t i) {
      const image::ProgramHeader& ph = image.segments()[i];
      return place(carveout.base + (ph.paddr - reloc), ph.memsz);
    };
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
      Hex(carveout.base), " (span ", Hex(layout->span()), ")");
  return out;
}

}  // namespace pil::platform
