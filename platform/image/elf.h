// ELF32/ELF64 headers of Qualcomm firmware images (MDT/MBN), validated.
//
//   absl::StatusOr<ElfHeaders> elf = ParseElfHeaders(file_bytes);
//   for (const ProgramHeader& p : elf->phdrs) ...
//
// Checks, with overflow-safe 64-bit arithmetic: size, magic, class (32 or
// 64), little-endian, version 1; e_phentsize equals the class's program
// header size; the program-header table [e_phoff, e_phoff + e_phnum *
// e_phentsize) lies inside the file; the section-header table, only when
// e_shentsize or e_shnum is set, has the class's entry size and lies inside
// the file. Every failure is INVALID_ARGUMENT with a stable reason and the
// expected and found values.
#ifndef PILD_PLATFORM_IMAGE_ELF_H_
#define PILD_PLATFORM_IMAGE_ELF_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::image {

inline constexpr uint32_t kPtNull = 0;
inline constexpr uint32_t kPtLoad = 1;

// Qualcomm's use of p_flags bits 24-27 (segment type and relocation).
inline constexpr uint32_t kSegmentTypeMask = 7u << 24;
inline constexpr uint32_t kSegmentTypeHash = 2u << 24;
inline constexpr uint32_t kSegmentTypePhdr = 7u << 24;
inline constexpr uint32_t kSegmentRelocatable = 1u << 27;

// A program header, widened to 64 bits whatever the class.
struct ProgramHeader {
  uint32_t type = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t paddr = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
  uint64_t align = 0;

  bool is_hash() const {
    return (flags & kSegmentTypeMask) == kSegmentTypeHash;
  }
  bool relocatable() const { return (flags & kSegmentRelocatable) != 0; }
  // Copied into memory: PT_LOAD, not the hash segment, memsz > 0.
  bool loadable() const { return type == kPtLoad && !is_hash() && memsz != 0; }
};

struct ElfHeader {
  int elf_class = 32;  // 32 or 64
  uint16_t type = 0;
  uint16_t machine = 0;
  uint64_t entry = 0;
  uint64_t phoff = 0;
  uint64_t shoff = 0;
  uint32_t flags = 0;
  uint16_t ehsize = 0;
  uint16_t phentsize = 0;
  uint16_t phnum = 0;
  uint16_t shentsize = 0;
  uint16_t shnum = 0;
};

struct ElfHeaders {
  ElfHeader header;
  std::vector<ProgramHeader> phdrs;
  // End of the program-header table: e_phoff + e_phnum * e_phentsize.
  uint64_t phdr_table_end = 0;
};

// Sizes of the ELF header and of one program header for a class.
inline constexpr size_t ElfHeaderSize(int elf_class) {
  return elf_class == 64 ? 64 : 52;
}
inline constexpr size_t PhdrSize(int elf_class) {
  return elf_class == 64 ? 56 : 32;
}

// Parses and validates the headers at the start of `file`.
absl::StatusOr<ElfHeaders> ParseElfHeaders(absl::string_view file);

// Serializes headers back to bytes (header then program headers at
// e_phoff), as ParseElfHeaders reads them; `size` bytes long, zero-filled.
std::string SerializeElfHeaders(const ElfHeaders& elf, size_t size);

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_ELF_H_
