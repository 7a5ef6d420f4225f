#include "platform/image/elf.h"

#include <string>

#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/bytes.h"

namespace pil::image {
namespace {

using ::testing::HasSubstr;

// A minimal ELF32 with `phnum` program headers right after the header.
std::string Elf32(uint16_t phnum, size_t size = 0x200) {
  ElfHeaders h;
  h.header.elf_class = 32;
  h.header.machine = 164;
  h.header.phoff = 52;
  h.header.ehsize = 52;
  h.header.phentsize = 32;
  h.header.phnum = phnum;
  for (uint16_t i = 0; i < phnum; ++i) {
    ProgramHeader p;
    p.type = kPtLoad;
    p.offset = 0x100;
    p.paddr = 0x1000 * (i + 1);
    p.filesz = 0x10;
    p.memsz = 0x20;
    h.phdrs.push_back(p);
  }
  return SerializeElfHeaders(h, size);
}

std::string Flip(std::string file, size_t at, char value) {
  file[at] = value;
  return file;
}

absl::Status ParseStatus(const std::string& file) {
  return ParseElfHeaders(file).status();
}

TEST(ParseElfHeaders, ReadsElf32) {
  auto elf = ParseElfHeaders(Elf32(3));
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->header.elf_class, 32);
  EXPECT_EQ(elf->header.machine, 164);
  ASSERT_EQ(elf->phdrs.size(), 3u);
  EXPECT_EQ(elf->phdrs[2].paddr, 0x3000u);
  EXPECT_EQ(elf->phdrs[2].memsz, 0x20u);
  EXPECT_EQ(elf->phdr_table_end, 52u + 3 * 32);
}

TEST(ParseElfHeaders, ReadsElf64WithFlagsBeforeOffset) {
  ElfHeaders h;
  h.header.elf_class = 64;
  h.header.phoff = 64;
  h.header.ehsize = 64;
  h.header.phentsize = 56;
  h.header.phnum = 1;
  ProgramHeader p;
  p.type = kPtLoad;
  p.flags = 0x08000005;
  p.offset = 0x1000;
  p.paddr = 0x1'0000'0000ull;
  p.filesz = 8;
  p.memsz = 16;
  h.phdrs.push_back(p);
  auto elf = ParseElfHeaders(SerializeElfHeaders(h, 0x200));
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->header.elf_class, 64);
  EXPECT_EQ(elf->phdrs[0].flags, 0x08000005u);
  EXPECT_TRUE(elf->phdrs[0].relocatable());
  EXPECT_EQ(elf->phdrs[0].paddr, 0x1'0000'0000ull);
}

TEST(ParseElfHeaders, TooShort) {
  absl::Status s = ParseStatus(std::string(51, '\0'));
  EXPECT_EQ(ReasonOf(s), "IMAGE_TOO_SHORT");
  EXPECT_THAT(std::string(s.message()), HasSubstr("51 bytes"));
}

TEST(ParseElfHeaders, BadMagic) {
  std::string file = Elf32(2);
  file[1] = 'X';
  absl::Status s = ParseStatus(file);
  EXPECT_EQ(ReasonOf(s), "ELF_BAD_MAGIC");
  EXPECT_THAT(std::string(s.message()), HasSubstr("found 7f584c46"));
}

TEST(ParseElfHeaders, ClassEndiannessVersion) {
  std::string file = Elf32(2);
  EXPECT_EQ(ReasonOf(ParseStatus(Flip(file, 4, 3))), "ELF_UNSUPPORTED");
  EXPECT_THAT(std::string(ParseStatus(Flip(file, 5, 2)).message()),
              HasSubstr("little-endian"));
  EXPECT_THAT(std::string(ParseStatus(Flip(file, 6, 0)).message()),
              HasSubstr("version 1"));
}

TEST(ParseElfHeaders, PhentsizeMustMatchClass) {
  std::string file = Elf32(2);
  StoreLe(file, 42, 56, 2);
  absl::Status s = ParseStatus(file);
  EXPECT_EQ(ReasonOf(s), "PHDR_SIZE_INVALID");
  EXPECT_EQ(MetadataOf(s).at("expected"), "32");
  EXPECT_EQ(MetadataOf(s).at("found"), "56");
}

TEST(ParseElfHeaders, PhdrTableOutsideTheFile) {
  std::string file = Elf32(2, 0x100);
  StoreLe(file, 28, 0xf0, 4);  // e_phoff: table would end at 0x130
  absl::Status s = ParseStatus(file);
  EXPECT_EQ(ReasonOf(s), "PHDR_TABLE_OUT_OF_FILE");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("beyond the file size 0x100"));
}

TEST(ParseElfHeaders, PhdrTableOffsetDoesNotWrap) {
  ElfHeaders h;
  h.header.elf_class = 64;
  h.header.phoff = 0xffffffffffffffe0ull;  // + 56 wraps around
  h.header.ehsize = 64;
  h.header.phentsize = 56;
  h.header.phnum = 1;
  std::string file = SerializeElfHeaders(h, 0x100);
  EXPECT_EQ(ReasonOf(ParseStatus(file)), "PHDR_TABLE_OUT_OF_FILE");
}

TEST(ParseElfHeaders, HonoursPhoff) {
  std::string file = Elf32(2, 0x400);
  // Move the table to 0x200.
  std::string table = file.substr(52, 64);
  file.replace(0x200, 64, table);
  file.replace(52, 64, std::string(64, '\0'));
  StoreLe(file, 28, 0x200, 4);
  auto elf = ParseElfHeaders(file);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->phdrs[1].paddr, 0x2000u);
  EXPECT_EQ(elf->phdr_table_end, 0x240u);
}

TEST(ParseElfHeaders, SectionHeadersCheckedOnlyWhenPresent) {
  std::string file = Elf32(2);
  EXPECT_TRUE(ParseElfHeaders(file).ok());  // e_shentsize = e_shnum = 0
  StoreLe(file, 48, 3, 2);                  // e_shnum without e_shentsize
  EXPECT_EQ(ReasonOf(ParseStatus(file)), "SHDR_TABLE_INVALID");
  StoreLe(file, 46, 40, 2);
  StoreLe(file, 32, 0x1f0, 4);  // 3 * 40 bytes from 0x1f0 > 0x200
  EXPECT_THAT(std::string(ParseStatus(file).message()),
              HasSubstr("beyond the file size"));
  StoreLe(file, 32, 0x100, 4);
  EXPECT_TRUE(ParseElfHeaders(file).ok());
}

}  // namespace
}  // namespace pil::image
