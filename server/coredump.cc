#include "server/coredump.h"

#include <cstring>

#include "platform/image/bytes.h"

namespace pil::server {

absl::StatusOr<std::string> WriteCoredump(
    platform::PhysicalMemory& memory, uint16_t machine,
    const std::vector<CoredumpSegment>& segments, const std::string& note) {
  constexpr size_t kEhdr = 52, kPhdr = 32;
  const size_t phnum = segments.size() + 1;
  // Note: namesz, descsz, type, "PILD\0" padded to 8, the text padded to 4.
  std::string note_bytes(12, '\0');
  image::StoreLe(note_bytes, 0, 5, 4);
  image::StoreLe(note_bytes, 4, note.size(), 4);
  image::StoreLe(note_bytes, 8, 1, 4);
  note_bytes += std::string("PILD\0\0\0\0", 8);
  note_bytes += note;
  note_bytes.resize((note_bytes.size() + 3) / 4 * 4, '\0');

  uint64_t offset = kEhdr + phnum * kPhdr;
  std::string out(offset, '\0');
  out.replace(0, 4, "\x7f" "ELF");
  out[4] = 1;  // ELFCLASS32
  out[5] = 1;  // little-endian
  out[6] = 1;
  image::StoreLe(out, 16, 4, 2);  // ET_CORE
  image::StoreLe(out, 18, machine, 2);
  image::StoreLe(out, 20, 1, 4);
  image::StoreLe(out, 28, kEhdr, 4);
  image::StoreLe(out, 40, kEhdr, 2);
  image::StoreLe(out, 42, kPhdr, 2);
  image::StoreLe(out, 44, phnum, 2);

  auto phdr = [&](size_t i, uint32_t type, uint64_t file_offset,
                  uint64_t address, uint64_t size) {
    const size_t at = kEhdr + i * kPhdr;
    image::StoreLe(out, at, type, 4);
    image::StoreLe(out, at + 4, file_offset, 4);
    image::StoreLe(out, at + 8, address, 4);
    image::StoreLe(out, at + 12, address, 4);
    image::StoreLe(out, at + 16, size, 4);
    image::StoreLe(out, at + 20, type == 1 ? size : 0, 4);
    image::StoreLe(out, at + 24, type == 1 ? 7 : 0, 4);  // RWX for loads
  };
  phdr(0, 4, offset, 0, note_bytes.size());  // PT_NOTE
  out += note_bytes;
  for (size_t i = 0; i < segments.size(); ++i) {
    auto bytes = memory.Map(segments[i].address, segments[i].size);
    if (!bytes.ok()) return bytes.status();
    phdr(i + 1, 1, out.size(), segments[i].address, segments[i].size);
    out.append(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }
  return out;
}

}  // namespace pil::server
