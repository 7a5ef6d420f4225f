#include "server/metrics/metrics_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/file.h"
#include "common/log.h"

namespace pil::server::metrics {
namespace {

absl::Status BadPath(const std::string& path, absl::string_view found) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
               absl::StrCat("--metrics-file must name a file ending in .prom "
                            "in an existing directory that pild can write "
                            "and no other user can (the node exporter's "
                            "--collector.textfile.directory); got '",
                            path, "': ", found),
               {{"path", path}});
}

absl::Status WriteFailed(const std::string& path, absl::string_view what,
                         int err) {
  return Error(absl::StatusCode::kFailedPrecondition, "METRICS_WRITE_FAILED",
               absl::StrCat("cannot write the metrics file ", path, ": ", what,
                            ": ", std::strerror(err)),
               {{"path", path}});
}

}  // namespace

MetricsPath::MetricsPath(std::string path, std::string name, int dir)
    : path_(std::move(path)),
      name_(std::move(name)),
      temp_("." + name_ + ".tmp"),
      dir_(dir) {}

MetricsPath::~MetricsPath() { ::close(dir_); }

absl::StatusOr<std::unique_ptr<MetricsPath>> MetricsPath::Open(
    const std::string& path) {
  const std::filesystem::path p(path);
  const std::string name = p.filename().string();
  if (!absl::EndsWith(name, ".prom") || name == ".prom") {
    return BadPath(path, "its name does not end in .prom");
  }
  const std::string dir =
      p.has_parent_path() ? p.parent_path().string() : std::string(".");
  const int fd =
      ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return BadPath(path, absl::StrCat("directory ", dir, " does not exist"));
    }
    struct stat st {};
    if (err == ELOOP || (err == ENOTDIR && ::lstat(dir.c_str(), &st) == 0 &&
                         S_ISLNK(st.st_mode))) {
      return BadPath(path, absl::StrCat(dir,
                                        " is a symbolic link; expected the "
                                        "directory itself"));
    }
    if (err == ENOTDIR) {
      return BadPath(path, absl::StrCat(dir, " is not a directory"));
    }
    return BadPath(path, absl::StrCat("cannot open directory ", dir, ": ",
                                      std::strerror(err)));
  }
  std::unique_ptr<MetricsPath> opened(new MetricsPath(path, name, fd));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return BadPath(path, absl::StrCat("cannot stat directory ", dir, ": ",
                                      std::strerror(errno)));
  }
  const uid_t euid = ::geteuid();
  if (st.st_uid != 0 && st.st_uid != euid) {
    return BadPath(
        path, absl::StrCat("directory ", dir, " is owned by uid ", st.st_uid,
                           "; expected root (uid 0) or "
                           "pild's user (uid ",
                           euid, ")"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return BadPath(
        path,
        absl::StrFormat("directory %s has mode %04o: writable by %s; "
                        "expected writable by its owner only",
                        dir, st.st_mode & 07777,
                        (st.st_mode & S_IWOTH) != 0 ? "others" : "its group"));
  }
  struct stat target {};
  if (::fstatat(fd, name.c_str(), &target, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISDIR(target.st_mode)) {
    return BadPath(path, "it is a directory");
  }
  // Once now: a file system that is read-only (ProtectSystem=strict without
  // ReadWritePaths) would otherwise fail every write, with no file to alert.
  const std::string temp = opened->temp_;
  ::unlinkat(fd, temp.c_str(), 0);
  const int probe =
      ::openat(fd, temp.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (probe < 0) {
    return BadPath(path, absl::StrCat("cannot create ", dir, "/", temp, ": ",
                                      std::strerror(errno)));
  }
  ::close(probe);
  ::unlinkat(fd, temp.c_str(), 0);
  return opened;
}

absl::Status MetricsPath::Replace(absl::string_view contents) const {
  // A leftover (or anything planted there) is removed, never followed.
  ::unlinkat(dir_, temp_.c_str(), 0);
  const int fd =
      ::openat(dir_, temp_.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    return WriteFailed(path_, absl::StrCat("creating ", temp_), errno);
  }
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    ::close(fd);
    ::unlinkat(dir_, temp_.c_str(), 0);
    return WriteFailed(path_, what, err);
  };
  // Whatever pild's umask: the node exporter runs as another user.
  if (::fchmod(fd, 0644) != 0) return fail("fchmod");
  if (!WriteAll(fd, contents)) return fail(absl::StrCat("writing ", temp_));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlinkat(dir_, temp_.c_str(), 0);
    return WriteFailed(path_, absl::StrCat("closing ", temp_), err);
  }
  if (::renameat(dir_, temp_.c_str(), dir_, name_.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_, temp_.c_str(), 0);
    return WriteFailed(path_, absl::StrCat("renaming ", temp_), err);
  }
  return absl::OkStatus();
}

MetricsFile::MetricsFile(const MetricsPath* path, Collect collect,
                         MetricsFileOptions options)
    : path_(path), collect_(std::move(collect)), options_(options) {}

MetricsFile::~MetricsFile() { Halt(); }

absl::Status MetricsFile::Write() { return Update(/*force=*/true); }

absl::Status MetricsFile::Update(bool force) {
  Snapshot snapshot = collect_();
  absl::MutexLock lock(&write_mu_);
  snapshot.write_failures = failures_.load();
  snapshot.metrics_interval = options_.refresh;
  std::string body = Format(snapshot);
  const absl::Time now = absl::Now();
  if (!force && body == last_body_ && now - last_write_ < options_.refresh) {
    return absl::OkStatus();
  }
  absl::Status written = path_->Replace(body + FormatWritten(now));
  if (written.ok()) {
    last_body_ = std::move(body);
    last_write_ = now;
    return written;
  }
  ++failures_;
  ++unlogged_;
  if (now - last_log_ >= absl::Minutes(1)) {
    PILD_LOG(WARNING) << written.message() << " (" << unlogged_
                      << " failed writes since the last report)";
    last_log_ = now;
    unlogged_ = 0;
  }
  return written;
}

void MetricsFile::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void MetricsFile::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.check);
      if (stopping_) return;
    }
    Update(/*force=*/false).IgnoreError();
  }
}

bool MetricsFile::Halt() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  return true;
}

void MetricsFile::Stop() {
  if (Halt()) Write().IgnoreError();
}

}  // namespace pil::server::metrics
