#include "common/file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil {
namespace {

absl::Status ErrnoError(absl::string_view what, absl::string_view path,
                        int err) {
  const std::string message =
      absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(err));
  // (A path through a file, or a loop of links, leads to no file either.)
  if (err == ENOENT || err == ENOTDIR || err == ELOOP) {
    return Error(absl::StatusCode::kNotFound, "FILE_NOT_FOUND", message,
                 {{"path", std::string(path)}});
  }
  return Error(absl::StatusCode::kFailedPrecondition, "FILE_UNREADABLE",
               message, {{"path", std::string(path)}});
}

// Reads the open `fd` (closed here) named `path` in messages.
absl::StatusOr<std::string> ReadOpen(int fd, absl::string_view path,
                                     size_t max_size) {
  const std::string p(path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoError("stat", path, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error(absl::StatusCode::kNotFound, "FILE_NOT_FOUND",
                 absl::StrCat(path, " is a directory; expected a file"),
                 {{"path", p}});
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(absl::StatusCode::kFailedPrecondition, "FILE_UNREADABLE",
                 absl::StrCat(path, " is not a regular file"), {{"path", p}});
  }
  // Some pseudo files (sysfs) report size 0; read until EOF either way.
  std::string data;
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    ::close(fd);
    return Error(absl::StatusCode::kFailedPrecondition, "FILE_TOO_LARGE",
                 absl::StrCat(path, " is ", st.st_size, " bytes; the limit is ",
                              max_size),
                 {{"path", p}});
  }
  // Read straight into the string: once for regular files, in steps for
  // files whose size is not known in advance.
  size_t used = 0;
  data.resize(std::min(
      max_size, std::max<size_t>(static_cast<size_t>(st.st_size), 1 << 16)));
  while (true) {
    if (used == data.size()) {
      if (data.size() >= max_size) {
        char probe;
        ssize_t extra = ::read(fd, &probe, 1);
        if (extra == 0) break;
        ::close(fd);
        return Error(absl::StatusCode::kFailedPrecondition, "FILE_TOO_LARGE",
                     absl::StrCat(path, " is larger than the limit of ",
                                  max_size, " bytes"),
                     {{"path", p}});
      }
      data.resize(std::min(max_size, data.size() * 2));
    }
    ssize_t n = ::read(fd, data.data() + used, data.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError("read", path, err);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  data.resize(used);
  ::close(fd);
  return data;
}

// Opens `name` beneath `dir_fd` read-only, never blocking (see
// ReadFileBeneath); the caller closes the descriptor.
absl::StatusOr<int> OpenBeneath(int dir_fd, absl::string_view name,
                                absl::string_view display) {
  const std::string n(name);
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = -1;
  // EAGAIN: a rename raced the lookup; a few retries, then an error.
  for (int attempt = 0; attempt < 4; ++attempt) {
    fd = static_cast<int>(
        ::syscall(SYS_openat2, dir_fd, n.c_str(), &how, sizeof(how)));
    if (fd >= 0 || errno != EAGAIN) break;
  }
  if (fd < 0 && errno == EXDEV) {
    return Error(absl::StatusCode::kPermissionDenied, "FILE_OUTSIDE_DIRECTORY",
                 absl::StrCat(display,
                              " resolves outside its directory (a symbolic "
                              "link leaving it); expected a file beneath it"),
                 {{"path", std::string(display)}});
  }
  if (fd < 0 && errno == ENOSYS) {
    return Error(absl::StatusCode::kFailedPrecondition,
                 "FILE_RESOLUTION_UNSUPPORTED",
                 absl::StrCat("cannot read ", display,
                              ": reading beneath a directory needs openat2 "
                              "(Linux 5.6 or later), which this kernel lacks"),
                 {{"path", std::string(display)}});
  }
  if (fd < 0) return ErrnoError("open", display, errno);
  return fd;
}

// Maps or reads the open `fd` (closed here), as MapFileBeneath() says.
absl::StatusOr<SharedBytes> MapOpen(int fd, absl::string_view display,
                                    size_t max_size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("stat", display, err);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  const bool trusted = (st.st_uid == 0 || st.st_uid == ::geteuid()) &&
                       (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  const bool mappable =
      S_ISREG(st.st_mode) && trusted && size > 0 && size <= max_size;
  // A read lease makes whoever opens the file to write or truncate it wait
  // until the mapping is gone (or the kernel's lease-break-time passes), so
  // a tool replacing it in place cannot shrink it under the copy. The
  // break notice is SIGURG, whose default is to be ignored.
  void* at = MAP_FAILED;
  if (mappable && ::fcntl(fd, F_SETSIG, SIGURG) == 0 &&
      ::fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    at = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  if (at == MAP_FAILED) {
    // Read, without identity: ReadOpen names what is wrong with the file,
    // or reads one others could change, one without a lease (open for
    // writing elsewhere, a filesystem without leases) or not mapped.
    if (mappable) (void)::fcntl(fd, F_SETLEASE, F_UNLCK);
    auto bytes = ReadOpen(fd, display, max_size);
    if (!bytes.ok()) return bytes.status();
    return SharedBytes(std::move(*bytes));
  }
  // The descriptor holds the lease: closed after the mapping goes.
  std::shared_ptr<const void> owner(at, [size, fd](const void* p) {
    ::munmap(const_cast<void*>(p), size);
    ::close(fd);
  });
  return SharedBytes(
      std::move(owner),
      absl::string_view(static_cast<const char*>(at),
                        static_cast<size_t>(size)),
      absl::StrCat("file:", st.st_dev, ":", st.st_ino, ":", size, ":",
                   st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
                   st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec),
      /*mapped=*/true);
}

}  // namespace

absl::StatusOr<std::string> ReadFile(absl::string_view path, size_t max_size) {
  const std::string p(path);
  // Non-blocking: a FIFO in place of a file is refused, not waited on.
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError("open", path, errno);
  return ReadOpen(fd, path, max_size);
}

absl::StatusOr<std::string> ReadFileBeneath(int dir_fd, absl::string_view name,
                                            absl::string_view display,
                                            size_t max_size) {
  auto fd = OpenBeneath(dir_fd, name, display);
  if (!fd.ok()) return fd.status();
  return ReadOpen(*fd, display, max_size);
}

absl::StatusOr<SharedBytes> MapFileBeneath(int dir_fd, absl::string_view name,
                                           absl::string_view display,
                                           size_t max_size) {
  auto fd = OpenBeneath(dir_fd, name, display);
  if (!fd.ok()) return fd.status();
  return MapOpen(*fd, display, max_size);
}

absl::StatusOr<SharedBytes> MapFile(absl::string_view path, size_t max_size) {
  const std::string p(path);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError("open", path, errno);
  return MapOpen(fd, path, max_size);
}

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

absl::Status WriteFile(absl::string_view path, absl::string_view data) {
  const std::string p(path);
  auto failed = [&](int err) {
    return Error(absl::StatusCode::kFailedPrecondition, "FILE_UNWRITABLE",
                 absl::StrCat("cannot write ", path, ": ", std::strerror(err)),
                 {{"path", p}});
  };
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return failed(errno);
  if (!WriteAll(fd, data)) {
    const int err = errno;
    ::close(fd);
    return failed(err);
  }
  if (::close(fd) != 0) return failed(errno);
  return absl::OkStatus();
}

}  // namespace pil
