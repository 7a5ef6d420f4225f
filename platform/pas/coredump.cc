#include "platform/pas/coredump.h"

#include "common/page.h"
#include "platform/image/bytes.h"

namespace pil::pas {

absl::StatusOr<std::string> WriteCoredump(
    PhysicalMemory& memory, uint16_t machine,
    const std::vector<CoredumpSegment>& segments, const std::string& note) {
  // Note: namesz, descsz, type, "PILD\0" padded to 4, the text padded to 4.
  std::string note_bytes(12, '\0');
  image::StoreLe(note_bytes, 0, 5, 4);
  image::StoreLe(note_bytes, 4, note.size(), 4);
  image::StoreLe(note_bytes, 8, 1, 4);
  note_bytes += std::string("PILD\0\0\0\0", 8);
  note_bytes += note;
  note_bytes.resize((note_bytes.size() + 3) / 4 * 4, '\0');

  // ELF32 unless an address or offset needs more than 32 bits.
  const size_t phnum = segments.size() + 1;
  uint64_t end = 64 + phnum * 56 + note_bytes.size();
  bool wide = false;
  for (const CoredumpSegment& s : segments) {
    end += s.size;
    wide |= s.address + s.size > 0xffffffffull;
  }
  wide |= end > 0xffffffffull;
  const size_t ehdr = wide ? 64 : 52, phdr_size = wide ? 56 : 32;
  const size_t word = wide ? 8 : 4;

  std::string out(ehdr + phnum * phdr_size, '\0');
  out.replace(0, 4,
              "\x7f"
              "ELF");
  out[4] = wide ? 2 : 1;          // ELFCLASS32/64
  out[5] = 1;                     // little-endian
  out[6] = 1;                     // EV_CURRENT
  image::StoreLe(out, 16, 4, 2);  // ET_CORE
  image::StoreLe(out, 18, machine, 2);
  image::StoreLe(out, 20, 1, 4);
  // e_phoff follows e_entry; then e_shoff, e_flags, e_ehsize, ...
  image::StoreLe(out, 24 + word, ehdr, word);
  const size_t sizes = 24 + 3 * word + 4;  // e_ehsize
  image::StoreLe(out, sizes, ehdr, 2);
  image::StoreLe(out, sizes + 2, phdr_size, 2);
  image::StoreLe(out, sizes + 4, phnum, 2);

  auto phdr = [&](size_t i, uint32_t type, uint64_t offset, uint64_t address,
                  uint64_t size) {
    const size_t at = ehdr + i * phdr_size;
    const uint32_t flags = type == 1 ? 7 : 4;  // RWX for loads, R for notes
    image::StoreLe(out, at, type, 4);
    if (wide) {
      image::StoreLe(out, at + 4, flags, 4);
      image::StoreLe(out, at + 8, offset, 8);
      image::StoreLe(out, at + 16, address, 8);
      image::StoreLe(out, at + 24, address, 8);
      image::StoreLe(out, at + 32, size, 8);
      image::StoreLe(out, at + 40, size, 8);
      image::StoreLe(out, at + 48, type == 1 ? kPageSize : 4, 8);
    } else {
      image::StoreLe(out, at + 4, offset, 4);
      image::StoreLe(out, at + 8, address, 4);
      image::StoreLe(out, at + 12, address, 4);
      image::StoreLe(out, at + 16, size, 4);
      image::StoreLe(out, at + 20, size, 4);
      image::StoreLe(out, at + 24, flags, 4);
      image::StoreLe(out, at + 28, type == 1 ? kPageSize : 4, 4);
    }
  };
  phdr(0, 4, out.size(), 0, note_bytes.size());  // PT_NOTE
  out += note_bytes;
  for (size_t i = 0; i < segments.size(); ++i) {
    auto bytes = memory.Map(segments[i].address, segments[i].size);
    if (!bytes.ok()) return bytes.status();
    phdr(i + 1, 1, out.size(), segments[i].address, segments[i].size);
    out.append(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  return out;
}

}  // namespace pil::pas
