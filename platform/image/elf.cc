#include "platform/image/elf.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "platform/image/bytes.h"

namespace pil::image {
namespace {

absl::Status Invalid(absl::string_view reason, std::string message,
                     ErrorMetadata metadata = {}) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message,
               std::move(metadata));
}

}  // namespace

absl::StatusOr<ElfHeaders> ParseElfHeaders(absl::string_view file) {
  constexpr size_t kIdentSize = 16;
  if (file.size() < ElfHeaderSize(32)) {
    return Invalid("IMAGE_TOO_SHORT",
                   absl::StrCat("image is ", file.size(),
                                " bytes, smaller than an ELF header (52)"),
                   {{"expected", "52"}, {"found", absl::StrCat(file.size())}});
  }
  if (file.substr(0, 4) != absl::string_view("\x7f"
                                             "ELF",
                                             4)) {
    return Invalid("ELF_BAD_MAGIC",
                   absl::StrCat("expected ELF magic 7f 45 4c 46, found ",
                                absl::BytesToHexString(file.substr(0, 4))));
  }
  const uint8_t elf_class = static_cast<uint8_t>(file[4]);
  const uint8_t data = static_cast<uint8_t>(file[5]);
  const uint8_t version = static_cast<uint8_t>(file[6]);
  if (elf_class != 1 && elf_class != 2) {
    return Invalid("ELF_UNSUPPORTED",
                   absl::StrCat("expected ELF class 1 (32-bit) or 2 (64-bit), "
                                "found ",
                                elf_class));
  }
  if (data != 1) {
    return Invalid(
        "ELF_UNSUPPORTED",
        absl::StrCat("expected little-endian data (1), found ", data));
  }
  if (version != 1) {
    return Invalid("ELF_UNSUPPORTED",
                   absl::StrCat("expected ELF version 1, found ", version));
  }

  ElfHeaders out;
  ElfHeader& h = out.header;
  h.elf_class = elf_class == 2 ? 64 : 32;
  if (file.size() < ElfHeaderSize(h.elf_class)) {
    return Invalid("IMAGE_TOO_SHORT",
                   absl::StrCat("image is ", file.size(),
                                " bytes, smaller than an ELF64 header (64)"));
  }
  h.type = Le16(file, kIdentSize);
  h.machine = Le16(file, kIdentSize + 2);
  if (h.elf_class == 32) {
    h.entry = Le32(file, 24);
    h.phoff = Le32(file, 28);
    h.shoff = Le32(file, 32);
    h.flags = Le32(file, 36);
    h.ehsize = Le16(file, 40);
    h.phentsize = Le16(file, 42);
    h.phnum = Le16(file, 44);
    h.shentsize = Le16(file, 46);
    h.shnum = Le16(file, 48);
  } else {
    h.entry = Le64(file, 24);
    h.phoff = Le64(file, 32);
    h.shoff = Le64(file, 40);
    h.flags = Le32(file, 48);
    h.ehsize = Le16(file, 52);
    h.phentsize = Le16(file, 54);
    h.phnum = Le16(file, 56);
    h.shentsize = Le16(file, 58);
    h.shnum = Le16(file, 60);
  }

  const size_t phdr_size = PhdrSize(h.elf_class);
  if (h.phnum > 0 && h.phentsize != phdr_size) {
    return Invalid("PHDR_SIZE_INVALID",
                   absl::StrCat("expected e_phentsize ", phdr_size, " for ELF",
                                h.elf_class, ", found ", h.phentsize),
                   {{"expected", absl::StrCat(phdr_size)},
                    {"found", absl::StrCat(h.phentsize)}});
  }
  uint64_t table_size = uint64_t{h.phnum} * phdr_size;
  uint64_t table_end = 0;
  if (AddOverflows(h.phoff, table_size, &table_end) ||
      table_end > file.size()) {
    return Invalid("PHDR_TABLE_OUT_OF_FILE",
                   absl::StrCat("program-header table [", Hex(h.phoff), ", +",
                                Hex(table_size), ") ends beyond the file size ",
                                Hex(file.size())),
                   {{"phoff", Hex(h.phoff)}, {"file_size", Hex(file.size())}});
  }
  out.phdr_table_end = table_end;

  if (h.shentsize != 0 || h.shnum != 0) {
    const size_t shdr_size = h.elf_class == 64 ? 64 : 40;
    if (h.shentsize != shdr_size) {
      return Invalid(
          "SHDR_TABLE_INVALID",
          absl::StrCat("expected e_shentsize ", shdr_size, " for ELF",
                       h.elf_class, ", found ", h.shentsize));
    }
    uint64_t shdr_end = 0;
    if (AddOverflows(h.shoff, uint64_t{h.shnum} * shdr_size, &shdr_end) ||
        shdr_end > file.size()) {
      return Invalid(
          "SHDR_TABLE_INVALID",
          absl::StrCat("section-header table at ", Hex(h.shoff), " with ",
                       h.shnum, " entries ends beyond the file size ",
                       Hex(file.size())));
    }
  }

  out.phdrs.reserve(h.phnum);
  for (size_t i = 0; i < h.phnum; ++i) {
    const size_t at = static_cast<size_t>(h.phoff) + i * phdr_size;
    ProgramHeader p;
    p.type = Le32(file, at);
    if (h.elf_class == 32) {
      p.offset = Le32(file, at + 4);
      p.vaddr = Le32(file, at + 8);
      p.paddr = Le32(file, at + 12);
      p.filesz = Le32(file, at + 16);
      p.memsz = Le32(file, at + 20);
      p.flags = Le32(file, at + 24);
      p.align = Le32(file, at + 28);
    } else {
      p.flags = Le32(file, at + 4);
      p.offset = Le64(file, at + 8);
      p.vaddr = Le64(file, at + 16);
      p.paddr = Le64(file, at + 24);
      p.filesz = Le64(file, at + 32);
      p.memsz = Le64(file, at + 40);
      p.align = Le64(file, at + 48);
    }
    out.phdrs.push_back(p);
  }
  return out;
}

std::string SerializeElfHeaders(const ElfHeaders& elf, size_t size) {
  std::string out(size, '\0');
  const ElfHeader& h = elf.header;
  const bool is64 = h.elf_class == 64;
  out.replace(0, 4,
              "\x7f"
              "ELF");
  out[4] = is64 ? 2 : 1;
  out[5] = 1;
  out[6] = 1;
  StoreLe(out, 16, h.type, 2);
  StoreLe(out, 18, h.machine, 2);
  StoreLe(out, 20, 1, 4);  // e_version
  if (!is64) {
    StoreLe(out, 24, h.entry, 4);
    StoreLe(out, 28, h.phoff, 4);
    StoreLe(out, 32, h.shoff, 4);
    StoreLe(out, 36, h.flags, 4);
    StoreLe(out, 40, h.ehsize, 2);
    StoreLe(out, 42, h.phentsize, 2);
    StoreLe(out, 44, h.phnum, 2);
    StoreLe(out, 46, h.shentsize, 2);
    StoreLe(out, 48, h.shnum, 2);
  } else {
    StoreLe(out, 24, h.entry, 8);
    StoreLe(out, 32, h.phoff, 8);
    StoreLe(out, 40, h.shoff, 8);
    StoreLe(out, 48, h.flags, 4);
    StoreLe(out, 52, h.ehsize, 2);
    StoreLe(out, 54, h.phentsize, 2);
    StoreLe(out, 56, h.phnum, 2);
    StoreLe(out, 58, h.shentsize, 2);
    StoreLe(out, 60, h.shnum, 2);
  }
  const size_t phdr_size = PhdrSize(h.elf_class);
  for (size_t i = 0; i < elf.phdrs.size(); ++i) {
    const ProgramHeader& p = elf.phdrs[i];
    const size_t at = static_cast<size_t>(h.phoff) + i * phdr_size;
    StoreLe(out, at, p.type, 4);
    if (!is64) {
      StoreLe(out, at + 4, p.offset, 4);
      StoreLe(out, at + 8, p.vaddr, 4);
      StoreLe(out, at + 12, p.paddr, 4);
      StoreLe(out, at + 16, p.filesz, 4);
      StoreLe(out, at + 20, p.memsz, 4);
      StoreLe(out, at + 24, p.flags, 4);
      StoreLe(out, at + 28, p.align, 4);
    } else {
      StoreLe(out, at + 4, p.flags, 4);
      StoreLe(out, at + 8, p.offset, 8);
      StoreLe(out, at + 16, p.vaddr, 8);
      StoreLe(out, at + 24, p.paddr, 8);
      StoreLe(out, at + 32, p.filesz, 8);
      StoreLe(out, at + 40, p.memsz, 8);
      StoreLe(out, at + 48, p.align, 8);
    }
  }
  return out;
}

}  // namespace pil::image
