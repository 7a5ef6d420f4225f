#include "platform/image/firmware_image.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error.h"
#include "common/file.h"
#include "common/hex.h"
#include "platform/image/bytes.h"

namespace pil::image {
namespace {

absl::Status Invalid(absl::string_view reason, std::string message,
                     ErrorMetadata metadata = {}) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message,
               std::move(metadata));
}

// [offset, offset + size) inside a buffer of `limit` bytes, without overflow.
bool Within(uint64_t offset, uint64_t size, uint64_t limit) {
  uint64_t end = 0;
  return !AddOverflows(offset, size, &end) && end <= limit;
}

}  // namespace

absl::StatusOr<std::string> SplitPartName(absl::string_view name,
                                          size_t index) {
  if (name.size() < 4) {
    return Invalid("SPLIT_NAME_INVALID",
                   absl::StrCat("split image name '", name,
                                "' is shorter than 4 characters"));
  }
  if (index > 99) {
    return Invalid("TOO_MANY_SEGMENTS",
                   absl::StrCat("split images have at most 100 program "
                                "headers; segment ",
                                index, " has no .bNN name"));
  }
  return absl::StrFormat("%sb%02d", name.substr(0, name.size() - 3), index);
}

absl::StatusOr<FirmwareImage> FirmwareImage::Load(std::string name,
                                                  SharedBytes bytes,
                                                  const FileReader& read) {
  return Build(std::move(name), std::move(bytes), &read);
}

absl::StatusOr<FirmwareImage> FirmwareImage::FromBytes(std::string name,
                                                       std::string bytes) {
  return FromShared(std::move(name), SharedBytes(std::move(bytes)));
}

absl::StatusOr<FirmwareImage> FirmwareImage::FromShared(std::string name,
                                                        SharedBytes bytes) {
  return Build(std::move(name), std::move(bytes), nullptr);
}

absl::StatusOr<FirmwareImage> FirmwareImage::LoadFile(absl::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string dir(
      slash == absl::string_view::npos ? "." : path.substr(0, slash));
  auto bytes = MapFile(path, kMaxFileSize);
  if (!bytes.ok()) return bytes.status();
  FileReader read = [&dir](absl::string_view part, size_t max_size) {
    return MapFile(absl::StrCat(dir, "/", part), max_size);
  };
  const std::string name(
      slash == absl::string_view::npos ? path : path.substr(slash + 1));
  return Load(name, std::move(*bytes), read);
}

absl::StatusOr<FirmwareImage> FirmwareImage::Build(std::string name,
                                                   SharedBytes shared,
                                                   const FileReader* read) {
  const absl::string_view bytes = shared.view();
  auto elf = ParseElfHeaders(bytes);
  if (!elf.ok()) return elf.status();
  const std::vector<ProgramHeader>& phdrs = elf->phdrs;
  const uint64_t size = bytes.size();

  if (phdrs.size() < 2) {
    return Invalid("TOO_FEW_SEGMENTS",
                   absl::StrCat("expected at least 2 program headers (header "
                                "placeholder and hash segment), found ",
                                phdrs.size()));
  }
  const ProgramHeader& first = phdrs[0];
  if (first.type == kPtLoad) {
    return Invalid("HEADER_SEGMENT_INVALID",
                   "program header 0 is PT_LOAD; expected the header "
                   "placeholder (not loadable)",
                   {{"segment", "0"}});
  }
  if (first.offset != 0 || first.filesz > size ||
      first.filesz < elf->phdr_table_end) {
    return Invalid(
        "HEADER_SEGMENT_INVALID",
        absl::StrCat("program header 0 must cover the ELF and program "
                     "headers: expected offset 0 and size in [",
                     Hex(elf->phdr_table_end), ", ", Hex(size), "], found ",
                     Hex(first.offset), "+", Hex(first.filesz)),
        {{"segment", "0"}});
  }

  size_t hash_index = 0;
  for (size_t i = 1; i < phdrs.size(); ++i) {
    if (phdrs[i].is_hash()) {
      hash_index = i;
      break;
    }
  }
  if (hash_index == 0) {
    return Invalid("HASH_SEGMENT_MISSING",
                   "image is not signed: no hash segment (segment type 2 in "
                   "p_flags); PAS requires a signed MBN/MDT");
  }

  for (size_t i = 0; i < phdrs.size(); ++i) {
    const ProgramHeader& p = phdrs[i];
    if (p.loadable() && p.filesz > p.memsz) {
      return Invalid("SEGMENT_FILESZ_EXCEEDS_MEMSZ",
                     absl::StrCat("segment ", i, " has p_filesz ",
                                  Hex(p.filesz), " > p_memsz ", Hex(p.memsz)),
                     {{"segment", absl::StrCat(i)}});
    }
  }

  // Split when any segment with file data ends beyond the file; without a
  // way to read parts that is a truncated image.
  bool split = false;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const ProgramHeader& p = phdrs[i];
    if (p.filesz == 0 || Within(p.offset, p.filesz, size)) continue;
    split = true;
    if (read == nullptr && i != hash_index) {
      return Invalid(
          "SEGMENT_TRUNCATED",
          absl::StrCat("segment ", i, " [", Hex(p.offset), ", +", Hex(p.filesz),
                       ") ends beyond the image size ", Hex(size)),
          {{"segment", absl::StrCat(i)}});
    }
  }

  FirmwareImage image;
  image.name_ = std::move(name);
  image.hash_index_ = hash_index;
  image.split_ = split;
  image.parts_.resize(phdrs.size());
  image.locations_.resize(phdrs.size());
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const ProgramHeader& p = phdrs[i];
    Location& at = image.locations_[i];
    at.size = p.filesz;
    if (p.filesz == 0) continue;
    if (i == 0) {
      at.offset = 0;
      continue;
    }
    if (i == hash_index) {
      // As the Linux loader: packed after the headers in an .mdt, at its
      // offset in an .mbn, else in its own .bNN.
      if (first.filesz + p.filesz == size) {
        at.offset = first.filesz;
        continue;
      }
      if (Within(p.offset, p.filesz, size)) {
        at.offset = p.offset;
        continue;
      }
    } else if (!split) {
      at.offset = p.offset;
      continue;
    }
    if (read == nullptr) {
      return Invalid(
          "SEGMENT_TRUNCATED",
          absl::StrCat("segment ", i, " [", Hex(p.offset), ", +", Hex(p.filesz),
                       ") ends beyond the image "
                       "size ",
                       Hex(size)),
          {{"segment", absl::StrCat(i)}});
    }
    auto part_name = SplitPartName(image.name_, i);
    if (!part_name.ok()) return part_name.status();
    auto part = (*read)(*part_name, kMaxFileSize);
    if (!part.ok()) {
      if (part.status().code() == absl::StatusCode::kNotFound) {
        return Error(
            absl::StatusCode::kNotFound, "SPLIT_SEGMENT_MISSING",
            absl::StrCat("segment ", i, " of '", image.name_, "' expected in '",
                         *part_name, "': ", part.status().message()),
            {{"segment", absl::StrCat(i)}, {"file", *part_name}});
      }
      return part.status();
    }
    if (part->size() != p.filesz) {
      return Invalid("SPLIT_SEGMENT_SIZE_MISMATCH",
                     absl::StrCat(*part_name, " is ", part->size(),
                                  " bytes, program header ", i,
                                  " says p_filesz ", p.filesz),
                     {{"segment", absl::StrCat(i)},
                      {"file", *part_name},
                      {"expected", absl::StrCat(p.filesz)},
                      {"found", absl::StrCat(part->size())}});
    }
    image.parts_[i] = std::move(*part);
    at.in_part = true;
  }
  image.main_ = std::move(shared);
  image.elf_ = std::move(*elf);
  return image;
}

absl::string_view FirmwareImage::headers() const { return segment_data(0); }

absl::string_view FirmwareImage::segment_data(size_t i) const {
  const Location& at = locations_[i];
  if (at.in_part) return parts_[i].view();
  return main_.view().substr(static_cast<size_t>(at.offset),
                             static_cast<size_t>(at.size));
}

std::string FirmwareImage::PartName(size_t i) const {
  auto name = SplitPartName(name_, i);
  return name.ok() ? *name : "";
}

std::string FirmwareImage::Metadata() const {
  return absl::StrCat(headers(), segment_data(hash_index_));
}

absl::StatusOr<std::string> FirmwareImage::Squash() const {
  uint64_t end = headers().size();
  for (size_t i = 0; i < segments().size(); ++i) {
    const ProgramHeader& p = segments()[i];
    uint64_t segment_end = 0;
    if (p.filesz == 0) continue;
    if (AddOverflows(p.offset, p.filesz, &segment_end) ||
        segment_end > kMaxFileSize) {
      return Invalid(
          "IMAGE_TOO_LARGE",
          absl::StrCat("segment ", i, " ends at offset ", Hex(p.offset), "+",
                       Hex(p.filesz), ", beyond the largest image (",
                       Hex(kMaxFileSize), ")"),
          {{"segment", absl::StrCat(i)}});
    }
    end = std::max(end, segment_end);
  }
  std::string out(static_cast<size_t>(end), '\0');
  for (size_t i = 0; i < segments().size(); ++i) {
    absl::string_view data = segment_data(i);
    if (data.empty()) continue;
    std::memcpy(out.data() + segments()[i].offset, data.data(), data.size());
  }
  return out;
}

absl::StatusOr<FirmwareImage::SplitFiles> FirmwareImage::Split() const {
  SplitFiles files;
  files.mdt = Metadata();
  for (size_t i = 0; i < segments().size(); ++i) {
    absl::string_view data = segment_data(i);
    if (data.empty()) continue;
    auto part = SplitPartName(name_, i);
    if (!part.ok()) return part.status();
    files.parts.emplace_back(*part, std::string(data));
  }
  return files;
}

uint64_t FirmwareImage::file_size() const {
  uint64_t total = main_.size();
  for (const SharedBytes& part : parts_) total += part.size();
  return total;
}

std::string FirmwareImage::identity() const {
  if (main_.identity().empty()) return "";
  std::string out = main_.identity();
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (!locations_[i].in_part) continue;
    if (parts_[i].identity().empty()) return "";
    absl::StrAppend(&out, "+", parts_[i].identity());
  }
  return out;
}

}  // namespace pil::image
