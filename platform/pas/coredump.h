// The PAS tier's coredump of a crashed coprocessor: an ELF core file of the
// carveout memory the firmware occupied, read before a restart reloads it.
#ifndef PILD_PLATFORM_PAS_COREDUMP_H_
#define PILD_PLATFORM_PAS_COREDUMP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "platform/pas/hardware.h"

namespace pil::pas {

struct CoredumpSegment {
  uint64_t address = 0;  // physical address in the carveout
  uint64_t size = 0;
};

// An ELF core file (ET_CORE) for `machine`: a PT_NOTE (owner "PILD",
// type 1) holding `note`, then one PT_LOAD per segment (p_paddr = p_vaddr =
// its physical address) with the bytes read from `memory`. ELF32, or ELF64
// when an address or offset needs more than 32 bits.
absl::StatusOr<std::string> WriteCoredump(
    PhysicalMemory& memory, uint16_t machine,
    const std::vector<CoredumpSegment>& segments, const std::string& note);

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_COREDUMP_H_
