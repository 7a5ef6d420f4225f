#include "platform/linux/staging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "platform/linux/remoteproc_sysfs.h"

namespace pil::linux_platform {
namespace {

constexpr char kSubdirectory[] = "pild";

absl::Status Failed(const std::string& what, const std::string& path, int err) {
  return Error(
      absl::StatusCode::kFailedPrecondition, "STAGING_FAILED",
      absl::StrCat("cannot ", what, " ", path,
                   " to stage firmware for the kernel: ", std::strerror(err)),
      {{"path", path}});
}

// Writes all of `data` to `fd`.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string KernelFirmwareRoot(absl::string_view sysfs_root,
                               absl::string_view override) {
  if (!override.empty()) return std::string(override);
  auto param = ReadAttribute(
      absl::StrCat(sysfs_root, "/module/firmware_class/parameters"), "path");
  if (param.ok() && !param->empty()) return *param;
  return "/lib/firmware";
}

absl::Status FirmwareStaging::OwnDirectory() const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Failed("create", dir_, errno);
  }
  // pild's own: a real directory (not a link), owned by pild, mode 0700.
  const int fd =
      ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Failed("open", dir_, errno);
  struct stat st;
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return Error(absl::StatusCode::kFailedPrecondition, "STAGING_FAILED",
                 absl::StrCat(dir_, " is owned by uid ", st.st_uid,
                              ", not by pild (uid ", ::geteuid(),
                              "); refusing to stage firmware there"),
                 {{"path", dir_}});
  } else if ((st.st_mode & 07777) != 0700 && ::fchmod(fd, 0700) != 0) {
    err = errno;
  }
  ::close(fd);
  return err == 0 ? absl::OkStatus() : Failed("secure", dir_, err);
}

FirmwareStaging::FirmwareStaging(std::string kernel_root)
    : root_(std::move(kernel_root)),
      dir_(absl::StrCat(root_, "/", kSubdirectory)) {}

absl::StatusOr<std::string> FirmwareStaging::Stage(
    const image::FirmwareImage& image, absl::string_view digest) const {
  const std::string name = absl::StrCat(kSubdirectory, "/", digest, ".mbn");
  const std::string path = absl::StrCat(root_, "/", name);
  if (absl::Status s = OwnDirectory(); !s.ok()) return s;
  std::string squashed;
  absl::string_view bytes = image.main_file();
  if (image.split()) {
    auto whole = image.Squash();
    if (!whole.ok()) return whole.status();
    squashed = std::move(*whole);
    bytes = squashed;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) == bytes.size()) {
    return name;  // the same digest names the same content
  }
  const std::string temporary = absl::StrCat(path, ".tmp");
  const int fd =
      ::open(temporary.c_str(),
             O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) return Failed("create", temporary, errno);
  if (!WriteAll(fd, bytes) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    return Failed("write", temporary, err);
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    return Failed("rename", path, err);
  }
  return name;
}

void FirmwareStaging::Prune(const std::vector<std::string>& keep) const {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name =
        absl::StrCat(kSubdirectory, "/", entry.path().filename().string());
    if (std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace pil::linux_platform
