// Where firmware comes from: the configured firmware directories and the
// store of uploaded images. Client-supplied paths are never opened: a name
// is resolved inside a firmware directory, an upload by its SHA-256.
//
//   FirmwareStore store({"/lib/firmware"});
//   auto image = store.Load(FirmwareSource::Named("qcom/sm8550/adsp.mbn"));
#ifndef PILD_SERVER_FIRMWARE_STORE_H_
#define PILD_SERVER_FIRMWARE_STORE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "platform/image/firmware_image.h"

namespace pil::server {

struct FirmwareSource {
  enum class Kind { kDefault, kName, kUpload };
  Kind kind = Kind::kDefault;
  std::string value;  // the name, or the upload's SHA-256 (hex)

  static FirmwareSource Named(std::string name) {
    return {Kind::kName, std::move(name)};
  }
  static FirmwareSource Upload(std::string sha256) {
    return {Kind::kUpload, std::move(sha256)};
  }
  // "qcom/sm8550/adsp.mbn" or "upload:<sha256>".
  std::string Describe() const;
};

class FirmwareStore {
 public:
  // `directories` are searched in order; `upload_capacity` bounds the bytes
  // of uploads kept (oldest evicted first).
  explicit FirmwareStore(std::vector<std::string> directories,
                         uint64_t upload_capacity = uint64_t{1} << 30);

  // The image for a name (a file, or an .mdt with .bNN parts beside it) or
  // an upload. As the kernel's loader, a name is looked for in every
  // directory, then NAME.zst in every directory, then NAME.xz; each .bNN
  // part is the first of its name, .zst and .xz in the image's directory.
  // Names are resolved beneath each directory (symbolic links only within
  // it: FILE_OUTSIDE_DIRECTORY otherwise) and every file must be a regular
  // file (a FIFO or device is refused without blocking). Files, compressed
  // or decompressed, are bounded by FirmwareImage::kMaxFileSize
  // (FILE_TOO_LARGE naming the file and the limit). A file found but not
  // readable or not decompressible (FIRMWARE_DECOMPRESS_FAILED) is an
  // error, not a reason to look further. INVALID_ARGUMENT
  // (FIRMWARE_NAME_INVALID) for absolute names or ones with "..", NOT_FOUND
  // (FIRMWARE_NOT_FOUND naming the directories searched, UPLOAD_NOT_FOUND)
  // when absent; image errors as the image library reports them.
  absl::StatusOr<image::FirmwareImage> Load(const FirmwareSource& source) const;

  // An upload kept.
  struct UploadInfo {
    std::string sha256;
    uint64_t size = 0;
    std::string name;  // as the uploader gave it
    absl::Time time;   // when it was (last) uploaded
  };

  // Keeps an uploaded image (already validated) under its SHA-256 (hex);
  // loads of it share these bytes.
  void AddUpload(const std::string& sha256,
                 std::shared_ptr<const std::string> bytes,
                 const std::string& name = "");
  void AddUpload(const std::string& sha256, std::string bytes) {
    AddUpload(sha256, std::make_shared<const std::string>(std::move(bytes)));
  }
  // The uploads kept, newest first.
  std::vector<UploadInfo> Uploads() const;
  // Forgets an upload; false when none has that SHA-256.
  bool RemoveUpload(const std::string& sha256);

  const std::vector<std::string>& directories() const { return directories_; }

 private:
  std::vector<std::string> directories_;
  uint64_t upload_capacity_;
  mutable absl::Mutex mu_;
  struct Kept {
    UploadInfo info;
    std::shared_ptr<const std::string> bytes;
  };
  // Newest last.
  std::list<Kept> uploads_ ABSL_GUARDED_BY(mu_);
  uint64_t upload_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// OK for a relative name of at most 256 characters, of non-empty components
// without "." or "..", and without control characters (NUL among them).
absl::Status CheckFirmwareName(absl::string_view name);

}  // namespace pil::server

#endif  // PILD_SERVER_FIRMWARE_STORE_H_
