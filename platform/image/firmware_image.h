// A firmware image as the secure world sees it: ELF headers, program
// headers and the file bytes of every segment, whether it came as one .mbn
// or as an .mdt with .bNN parts beside it.
//
//   auto image = FirmwareImage::LoadFile("/lib/firmware/qcom/sm8550/adsp.mdt");
//   absl::string_view hash = image->segment_data(image->hash_index());
//
// Loading enforces the image rules that do not need the hash table:
// ELF headers (elf.h); at least two program headers, the first not PT_LOAD
// and covering the ELF and program headers; exactly one usable hash segment
// (the first with segment type 2 at index >= 1) whose bytes resolve;
// p_filesz <= p_memsz for loadable segments; for monolithic images every
// segment's file data inside the file; for split images the name rule, at
// most 100 program headers, and each .bNN exactly p_filesz bytes. Split
// detection follows the Linux loader: the image is split when any segment
// with file data ends beyond the file.
#ifndef PILD_PLATFORM_IMAGE_FIRMWARE_IMAGE_H_
#define PILD_PLATFORM_IMAGE_FIRMWARE_IMAGE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/shared_bytes.h"
#include "platform/image/elf.h"

namespace pil::image {

// Reads the part `name`: the image's own name with its last three
// characters replaced ("qcom/sdm845/adsp.mdt" -> "qcom/sdm845/adsp.b05"),
// to be resolved exactly as the image's name was. NOT_FOUND when it does
// not exist. `max_size` bounds what it may return.
using FileReader = std::function<absl::StatusOr<SharedBytes>(
    absl::string_view name, size_t max_size)>;

class FirmwareImage {
 public:
  // Largest image file (and .bNN part) accepted.
  static constexpr size_t kMaxFileSize = size_t{512} << 20;

  // An image whose main file (.mbn or .mdt) is `bytes`, named `name` (used
  // for .bNN names and messages); parts are read with `read`.
  static absl::StatusOr<FirmwareImage> Load(std::string name, SharedBytes bytes,
                                            const FileReader& read);

  // A monolithic image held in memory (uploads); it may not be split.
  static absl::StatusOr<FirmwareImage> FromBytes(std::string name,
                                                 std::string bytes);

  // FromBytes() without a copy: the image shares `bytes` (an upload kept by
  // the store is loaded any number of times at no cost).
  static absl::StatusOr<FirmwareImage> FromShared(std::string name,
                                                  SharedBytes bytes);

  // Maps (or reads) `path` and, for a split image, the .bNN files beside
  // it, as MapFileBeneath() does.
  static absl::StatusOr<FirmwareImage> LoadFile(absl::string_view path);

  FirmwareImage(FirmwareImage&&) = default;
  FirmwareImage& operator=(FirmwareImage&&) = default;

  const std::string& name() const { return name_; }
  const ElfHeader& header() const { return elf_.header; }
  const std::vector<ProgramHeader>& segments() const { return elf_.phdrs; }
  const ElfHeaders& elf() const { return elf_; }
  size_t hash_index() const { return hash_index_; }
  bool split() const { return split_; }

  // The bytes of the .mbn, or of the .mdt of a split image.
  absl::string_view main_file() const { return main_.view(); }

  // Names the content of every file the image came from while it is
  // unchanged (SharedBytes::identity()); empty when any file has none.
  std::string identity() const;

  // The ELF header and program headers: bytes [0, phdr[0].p_filesz).
  absl::string_view headers() const;
  // The file bytes of segment `i` (empty when it has none).
  absl::string_view segment_data(size_t i) const;
  // The .bNN name of segment `i` for this image's name.
  std::string PartName(size_t i) const;

  // What PAS init_image receives: headers followed by the hash segment.
  std::string Metadata() const;

  // The image as one .mbn: every segment's data at its p_offset.
  // INVALID_ARGUMENT (IMAGE_TOO_LARGE) when that would exceed kMaxFileSize.
  absl::StatusOr<std::string> Squash() const;

  // The split form: {name.mdt bytes (headers + hash segment), {part name,
  // bytes} for every other segment with data}.
  struct SplitFiles {
    std::string mdt;
    std::vector<std::pair<std::string, std::string>> parts;
  };
  absl::StatusOr<SplitFiles> Split() const;

  // Total size of the files it came from.
  uint64_t file_size() const;

 private:
  FirmwareImage() = default;
  static absl::StatusOr<FirmwareImage> Build(std::string name,
                                             SharedBytes bytes,
                                             const FileReader* read);

  // Where a segment's file data is: in main_ or in parts_[i].
  struct Location {
    bool in_part = false;
    uint64_t offset = 0;
    uint64_t size = 0;
  };

  std::string name_;
  // The .mbn or .mdt bytes, immutable, shared or mapped.
  SharedBytes main_;
  std::vector<SharedBytes> parts_;   // per phdr: .bNN contents, else empty
  std::vector<Location> locations_;  // per phdr
  ElfHeaders elf_;
  size_t hash_index_ = 0;
  bool split_ = false;
};

// The .bNN sibling of `name` for program header `index`: the last three
// characters replaced by "bNN". INVALID_ARGUMENT for names shorter than 4
// characters or indexes above 99.
absl::StatusOr<std::string> SplitPartName(absl::string_view name, size_t index);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_FIRMWARE_IMAGE_H_
