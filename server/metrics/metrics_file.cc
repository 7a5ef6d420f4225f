#include "server/metrics/metrics_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"

namespace pil::server::metrics {
namespace {

absl::Status BadPath(const std::string& path, absl::string_view found) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
               absl::StrCat("--metrics-file must name a file ending in .prom "
                            "in an existing directory (the node exporter's "
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

absl::Status CheckMetricsPath(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string name = p.filename().string();
  if (!absl::EndsWith(name, ".prom") || name == ".prom") {
    return BadPath(path, "its name does not end in .prom");
  }
  const std::filesystem::path dir =
      p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (!std::filesystem::exists(status)) {
    return BadPath(path,
                   absl::StrCat("directory ", dir.string(), " does not exist"));
  }
  if (!std::filesystem::is_directory(status)) {
    return BadPath(path, absl::StrCat(dir.string(), " is not a directory"));
  }
  if (std::filesystem::is_directory(p, ec)) {
    return BadPath(path, "it is a directory");
  }
  return absl::OkStatus();
}

absl::Status WriteAtomically(const std::string& path,
                             absl::string_view contents) {
  const std::filesystem::path p(path);
  const std::string temp =
      (p.parent_path() / ("." + p.filename().string() + ".tmp")).string();
  // A leftover (or anything planted there) is removed, never followed.
  ::unlink(temp.c_str());
  const int fd = ::open(
      temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return WriteFailed(path, absl::StrCat("creating ", temp), errno);
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return WriteFailed(path, what, err);
  };
  // Whatever pild's umask: the node exporter runs as another user.
  if (::fchmod(fd, 0644) != 0) return fail("fchmod");
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n =
        ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(absl::StrCat("writing ", temp));
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return WriteFailed(path, absl::StrCat("closing ", temp), err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return WriteFailed(path, absl::StrCat("renaming ", temp), err);
  }
  return absl::OkStatus();
}

MetricsFile::MetricsFile(std::string path, Collect collect,
                         MetricsFileOptions options)
    : path_(std::move(path)), collect_(std::move(collect)), options_(options) {}

MetricsFile::~MetricsFile() { Halt(); }

absl::Status MetricsFile::Write() { return Update(/*force=*/true); }

absl::Status MetricsFile::Update(bool force) {
  Snapshot snapshot = collect_();
  absl::MutexLock lock(&write_mu_);
  snapshot.write_failures = failures_.load();
  std::string body = Format(snapshot);
  const absl::Time now = absl::Now();
  if (!force && body == last_body_ && now - last_write_ < options_.refresh) {
    return absl::OkStatus();
  }
  absl::Status written = WriteAtomically(path_, body + FormatWritten(now));
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
