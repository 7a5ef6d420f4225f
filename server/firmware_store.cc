#include "server/firmware_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error.h"
#include "common/file.h"
#include "platform/image/decompress.h"

namespace pil::server {

std::string FirmwareSource::Describe() const {
  switch (kind) {
    case Kind::kUpload:
      return absl::StrCat("upload:", value);
    case Kind::kName:
      return value;
    case Kind::kDefault:
      break;
  }
  return "(device-tree default)";
}

namespace {

// How a file may be stored: as named, or compressed under a suffix.
struct Stored {
  const char* suffix;
  std::optional<image::Compression> compression;
};
constexpr Stored kStored[] = {{"", std::nullopt},
                              {".zst", image::Compression::kZstd},
                              {".xz", image::Compression::kXz}};

// The contents of `name` stored as `stored` beneath `dir_fd` (`dir`),
// decompressed, at most FirmwareImage::kMaxFileSize bytes either way.
// NOT_FOUND when there is no such file.
absl::StatusOr<SharedBytes> ReadStored(int dir_fd, const std::string& dir,
                                       absl::string_view name,
                                       const Stored& stored) {
  const std::string file = absl::StrCat(name, stored.suffix);
  const std::string display = absl::StrCat(dir, "/", file);
  auto bytes =
      MapFileBeneath(dir_fd, file, display, image::FirmwareImage::kMaxFileSize);
  if (!bytes.ok() || !stored.compression.has_value()) return bytes;
  auto plain = image::Decompress(*stored.compression, bytes->view(),
                                 image::FirmwareImage::kMaxFileSize);
  if (!plain.ok()) {
    return WithMetadata(Annotate(plain.status(), display), "path", display);
  }
  // The compressed file names the decompressed content as well.
  return SharedBytes(std::move(*plain), bytes->identity());
}

// A split part beside its image: the first of NAME, NAME.zst and NAME.xz
// in the same directory.
absl::StatusOr<SharedBytes> ReadPart(int dir_fd, const std::string& dir,
                                     absl::string_view name) {
  for (const Stored& stored : kStored) {
    auto bytes = ReadStored(dir_fd, dir, name, stored);
    if (bytes.ok() || bytes.status().code() != absl::StatusCode::kNotFound) {
      return bytes;
    }
  }
  return Error(
      absl::StatusCode::kNotFound, "FILE_NOT_FOUND",
      absl::StrCat(dir, "/", name, " does not exist (nor as .zst or .xz)"),
      {{"path", absl::StrCat(dir, "/", name)}});
}

}  // namespace

absl::Status CheckFirmwareName(absl::string_view name) {
  auto invalid = [&](absl::string_view why) {
    return Error(absl::StatusCode::kInvalidArgument, "FIRMWARE_NAME_INVALID",
                 absl::StrCat("firmware name '", name, "' ", why,
                              "; expected a path relative to a firmware "
                              "directory, such as qcom/sm8550/adsp.mbn"),
                 {{"name", std::string(name)}});
  };
  if (name.empty()) return invalid("is empty");
  if (name.size() > 256) return invalid("is longer than 256 characters");
  if (name.front() == '/') return invalid("is absolute");
  for (const char c : name) {
    // Control characters would reach logs and the audit trail.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return invalid("contains a control character");
    }
  }
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return invalid("has an empty, '.' or '..' component");
    }
  }
  return absl::OkStatus();
}

FirmwareStore::FirmwareStore(std::vector<std::string> directories,
                             uint64_t upload_capacity)
    : directories_(std::move(directories)), upload_capacity_(upload_capacity) {}

absl::StatusOr<image::FirmwareImage> FirmwareStore::Load(
    const FirmwareSource& source) const {
  if (source.kind == FirmwareSource::Kind::kUpload) {
    std::shared_ptr<const std::string> bytes;
    {
      absl::MutexLock lock(&mu_);
      for (const Kept& kept : uploads_) {
        if (kept.info.sha256 == source.value) bytes = kept.bytes;
      }
    }
    if (bytes == nullptr) {
      return Error(absl::StatusCode::kNotFound, "UPLOAD_NOT_FOUND",
                   absl::StrCat("no uploaded image has SHA-256 ", source.value),
                   {{"sha256", source.value}});
    }
    // An upload is named by its content.
    return image::FirmwareImage::FromShared(
        source.Describe(),
        SharedBytes(std::move(bytes), absl::StrCat("upload:", source.value)));
  }
  if (absl::Status s = CheckFirmwareName(source.value); !s.ok()) return s;
  // As the kernel's loader: the name in every directory, then NAME.zst in
  // every directory, then NAME.xz.
  for (const Stored& stored : kStored) {
    for (const std::string& dir : directories_) {
      // Everything is read beneath the directory: links inside a firmware
      // tree work, links out of it do not.
      const int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd < 0) continue;
      auto bytes = ReadStored(dir_fd, dir, source.value, stored);
      if (!bytes.ok() && bytes.status().code() == absl::StatusCode::kNotFound) {
        ::close(dir_fd);
        continue;
      }
      if (!bytes.ok()) {
        ::close(dir_fd);
        return bytes.status();
      }
      // Parts are named like the image, relative to the same directory,
      // each stored plain or compressed.
      auto read_part = [&](absl::string_view name, size_t) {
        return ReadPart(dir_fd, dir, name);
      };
      auto image = image::FirmwareImage::Load(source.value, std::move(*bytes),
                                              image::FileReader(read_part));
      ::close(dir_fd);
      return image;
    }
  }
  return Error(
      absl::StatusCode::kNotFound, "FIRMWARE_NOT_FOUND",
      absl::StrCat("firmware '", source.value, "' is in none of ",
                   directories_.empty()
                       ? std::string("the firmware directories (none "
                                     "configured)")
                       : absl::StrJoin(directories_, ", ")),
      {{"name", source.value}, {"searched", absl::StrJoin(directories_, ":")}});
}

void FirmwareStore::AddUpload(const std::string& sha256,
                              std::shared_ptr<const std::string> bytes,
                              const std::string& name) {
  absl::MutexLock lock(&mu_);
  for (auto it = uploads_.begin(); it != uploads_.end(); ++it) {
    if (it->info.sha256 == sha256) {
      it->info.time = absl::Now();
      if (!name.empty()) it->info.name = name;
      uploads_.splice(uploads_.end(), uploads_, it);
      return;
    }
  }
  upload_bytes_ += bytes->size();
  uploads_.push_back(
      {{sha256, bytes->size(), name, absl::Now()}, std::move(bytes)});
  while (upload_bytes_ > upload_capacity_ && uploads_.size() > 1) {
    upload_bytes_ -= uploads_.front().bytes->size();
    uploads_.pop_front();
  }
}

std::vector<FirmwareStore::UploadInfo> FirmwareStore::Uploads() const {
  absl::MutexLock lock(&mu_);
  std::vector<UploadInfo> out;
  for (auto it = uploads_.rbegin(); it != uploads_.rend(); ++it) {
    out.push_back(it->info);
  }
  return out;
}

bool FirmwareStore::RemoveUpload(const std::string& sha256) {
  absl::MutexLock lock(&mu_);
  for (auto it = uploads_.begin(); it != uploads_.end(); ++it) {
    if (it->info.sha256 == sha256) {
      upload_bytes_ -= it->bytes->size();
      uploads_.erase(it);
      return true;
    }
  }
  return false;
}

}  // namespace pil::server
