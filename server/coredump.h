// Coredumps of crashed coprocessors: an ELF core file of the carveout
// memory the firmware occupied, captured before recovery restarts it.
#ifndef PILD_SERVER_COREDUMP_H_
#define PILD_SERVER_COREDUMP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/platform.h"

namespace pil::server {

struct CoredumpSegment {
  uint64_t address = 0;  // physical address in the carveout
  uint64_t size = 0;
};

// An ELF core file (ET_CORE) for `machine`: a PT_NOTE (owner "PILD",
// type 1) holding `note`, then one PT_LOAD per segment (p_paddr = p_vaddr =
// its physical address) with the bytes read from `memory`. ELF32, or ELF64
// when an address or offset needs more than 32 bits.
absl::StatusOr<std::string> WriteCoredump(
    platform::PhysicalMemory& memory, uint16_t machine,
    const std::vector<CoredumpSegment>& segments, const std::string& note);

struct Coredump {
  uint64_t crash_id = 0;
  std::string coprocessor;  // name
  std::string reason;
  absl::Time time;
  std::string bytes;
  std::string sha256;
};

}  // namespace pil::server

#endif  // PILD_SERVER_COREDUMP_H_
