// Where the kernel finds the images pild validated: a directory pild owns,
// "pild/" inside a directory the kernel searches for firmware (the
// firmware_class.path module parameter when it is set, else /lib/firmware).
// Images are staged whole (a split image as one .mbn), named by their
// metadata digest, written to a temporary file and renamed into place, so
// the kernel reads exactly the bytes pild checked.
//
//   FirmwareStaging staging("/lib/firmware");
//   auto name = staging.Stage(image, digest);  // "pild/<digest>.mbn"
#ifndef PILD_PLATFORM_LINUX_STAGING_H_
#define PILD_PLATFORM_LINUX_STAGING_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/image/firmware_image.h"

namespace pil::linux_platform {

// The directory the kernel searches that pild stages into: `override` when
// set, else the firmware_class.path parameter under `sysfs_root`, else
// /lib/firmware.
std::string KernelFirmwareRoot(absl::string_view sysfs_root,
                               absl::string_view override);

class FirmwareStaging {
 public:
  explicit FirmwareStaging(std::string kernel_root);

  // Stages `image` (validated, its metadata digest `digest`) and returns
  // the name to write to a remoteproc's `firmware` attribute. Files are
  // written and renamed relative to the opened directory, never through a
  // link; a staged file is mode 0444. FAILED_PRECONDITION (STAGING_FAILED)
  // naming the path otherwise (see OpenDirectory).
  absl::StatusOr<std::string> Stage(const image::FirmwareImage& image,
                                    absl::string_view digest) const;

  // Removes staged images (names of the form pild stages) other than
  // `keep` (names as Stage returns them).
  void Prune(const std::vector<std::string>& keep) const;

  const std::string& directory() const { return dir_; }

 private:
  // The staging directory, opened: the kernel's directory must not be
  // writable by others; the staging directory is created (with `create`)
  // or checked to be pild's (a directory, not a link, owned by pild's
  // uid), and made 0700.
  absl::StatusOr<int> OpenDirectory(bool create) const;

  std::string root_;
  std::string dir_;
};

}  // namespace pil::linux_platform

#endif  // PILD_PLATFORM_LINUX_STAGING_H_
