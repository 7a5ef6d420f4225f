#include "platform/linux/staging.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"
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

absl::Status Refused(const std::string& path, const std::string& why) {
  return Error(absl::StatusCode::kFailedPrecondition, "STAGING_FAILED",
               absl::StrCat("refusing to stage firmware in ", path, ": ", why),
               {{"path", path}});
}

// "<64 hex>.mbn", or a temporary "<64 hex>.mbn.tmp.*": names pild stages.
bool StagedName(absl::string_view name) {
  if (name.size() < 68) return false;
  for (char c : name.substr(0, 64)) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  const absl::string_view rest = name.substr(64);
  return rest == ".mbn" || absl::StartsWith(rest, ".mbn.tmp.");
}

// An fd that closes itself.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string KernelFirmwareRoot(absl::string_view sysfs_root,
                               absl::string_view override) {
  if (!override.empty()) return std::string(override);
  auto param = ReadAttribute(
      absl::StrCat(sysfs_root, "/module/firmware_class/parameters"), "path");
  if (param.ok() && !param->empty()) return *param;
  return "/lib/firmware";
}

FirmwareStaging::FirmwareStaging(std::string kernel_root)
    : root_(std::move(kernel_root)),
      dir_(absl::StrCat(root_, "/", kSubdirectory)) {}

absl::StatusOr<int> FirmwareStaging::OpenDirectory(bool create) const {
  // The kernel's directory: not writable by anyone but pild's uid, or the
  // staging directory inside it could be swapped under the kernel.
  struct stat root;
  if (::stat(root_.c_str(), &root) != 0) return Failed("stat", root_, errno);
  if (!S_ISDIR(root.st_mode)) return Refused(root_, "not a directory");
  if (root.st_uid != ::geteuid() || (root.st_mode & 022) != 0) {
    return Refused(root_, "writable by others than pild's uid");
  }
  if (create && ::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Failed("create", dir_, errno);
  }
  // pild's own: a real directory (not a link), owned by pild, mode 0700.
  const int fd =
      ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Failed("open", dir_, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Failed("stat", dir_, err);
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return Refused(dir_, absl::StrCat("owned by uid ", st.st_uid,
                                      ", not by pild (uid ", ::geteuid(), ")"));
  }
  if ((st.st_mode & 07777) != 0700 && ::fchmod(fd, 0700) != 0) {
    const int err = errno;
    ::close(fd);
    return Failed("secure", dir_, err);
  }
  return fd;
}

absl::StatusOr<std::string> FirmwareStaging::Stage(
    const image::FirmwareImage& image, absl::string_view digest) const {
  const std::string file = absl::StrCat(digest, ".mbn");
  const std::string name = absl::StrCat(kSubdirectory, "/", file);
  auto opened = OpenDirectory(/*create=*/true);
  if (!opened.ok()) return opened.status();
  const Fd dir(*opened);
  std::string squashed;
  absl::string_view bytes = image.main_file();
  if (image.split()) {
    auto whole = image.Squash();
    if (!whole.ok()) return whole.status();
    squashed = std::move(*whole);
    bytes = squashed;
  }
  struct stat st;
  if (::fstatat(dir.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
      static_cast<uint64_t>(st.st_size) == bytes.size()) {
    return name;  // the same digest names the same content
  }
  // A name of its own per attempt: two stagings of one image never share
  // a temporary file.
  static std::atomic<uint64_t> attempts{0};
  const std::string temporary =
      absl::StrCat(file, ".tmp.", ::getpid(), ".", attempts++);
  const int fd =
      ::openat(dir.get(), temporary.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (fd < 0) return Failed("create", dir_ + "/" + temporary, errno);
  if (!WriteAll(fd, bytes) || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlinkat(dir.get(), temporary.c_str(), 0);
    return Failed("write", dir_ + "/" + temporary, err);
  }
  ::close(fd);
  if (::renameat(dir.get(), temporary.c_str(), dir.get(), file.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir.get(), temporary.c_str(), 0);
    return Failed("rename", dir_ + "/" + file, err);
  }
  (void)::fsync(dir.get());
  return name;
}

void FirmwareStaging::Prune(const std::vector<std::string>& keep) const {
  auto opened = OpenDirectory(/*create=*/false);
  if (!opened.ok()) return;  // nothing of pild's there to prune
  DIR* listing = ::fdopendir(*opened);
  if (listing == nullptr) {
    ::close(*opened);
    return;
  }
  const int dir = ::dirfd(listing);
  std::vector<std::string> stale;
  while (dirent* entry = ::readdir(listing)) {
    const std::string file = entry->d_name;
    if (!StagedName(file)) continue;  // only what pild stages is pruned
    const std::string name = absl::StrCat(kSubdirectory, "/", file);
    if (std::find(keep.begin(), keep.end(), name) == keep.end()) {
      stale.push_back(file);
    }
  }
  for (const std::string& file : stale) ::unlinkat(dir, file.c_str(), 0);
  ::closedir(listing);
}

}  // namespace pil::linux_platform
