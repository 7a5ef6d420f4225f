// The hardware the PAS tier drives (platform/pas): the secure world, the
// IOMMU, the physical memory of carveouts, the coprocessors' signals and
// the video wrapper of codecs booted without the secure world.
// One small interface each, implemented by every backend where pild runs
// the secure-world flow itself (the sim, platform/sim; a backend with
// direct SCM access). The kernel tier (platform/linux) has none of these:
// the kernel holds them.
//
//   pas::Hardware& hw = ...;
//   RETURN_IF_ERROR(hw.secure_world().PasInitImage(pas_id, metadata));
//   auto domain = hw.iommu().Attach(sid, mask);
//   hw.iommu().Map(*domain, iova, pa, size, kIommuRead | kIommuWrite);
//
// Failures are absl::Status with a stable reason (common/error.h); a
// secure-world call that the secure world rejects carries its SCM status
// in metadata "scm_status". All methods are thread-safe.
#ifndef PILD_PLATFORM_PAS_HARDWARE_H_
#define PILD_PLATFORM_PAS_HARDWARE_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "platform/backend.h"

namespace pil::pas {

using platform::AccessType;
using platform::FaultKind;
using platform::MappingOwner;
using platform::SmmuFault;

// The secure world's peripheral authentication service (SCM PAS calls) and
// its SHM bridge registry.
class SecureWorld {
 public:
  virtual ~SecureWorld() = default;

  // PAS_IS_SUPPORTED: whether `pas_id` names a peripheral of this SoC.
  virtual absl::StatusOr<bool> PasIsSupported(uint32_t pas_id) = 0;
  // PAS_INIT_IMAGE with the image's metadata (ELF and program headers
  // followed by the hash segment). The secure world validates it and keeps
  // it until ReleaseMetadata.
  virtual absl::Status PasInitImage(uint32_t pas_id,
                                    absl::string_view metadata) = 0;
  // PAS_MEM_SETUP: where a relocatable image was placed and its span.
  virtual absl::Status PasMemSetup(uint32_t pas_id, uint64_t address,
                                   uint64_t size) = 0;
  // PAS_AUTH_AND_RESET: authenticates the loaded segments and releases
  // the peripheral from reset.
  virtual absl::Status PasAuthAndReset(uint32_t pas_id) = 0;
  // PAS_SHUTDOWN: stops the peripheral and unlocks its memory.
  virtual absl::Status PasShutdown(uint32_t pas_id) = 0;
  // Frees the metadata buffer of the last PasInitImage. Idempotent.
  virtual absl::Status ReleaseMetadata(uint32_t pas_id) = 0;
  // PAS_GET_RSCTABLE: the resource table the peripheral's memory needs
  // mapped when Linux owns the IOMMU (`input`: the firmware's own table,
  // may be empty).
  virtual absl::StatusOr<std::string> PasGetResourceTable(
      uint32_t pas_id, absl::string_view input) = 0;
  // SHM bridges: memory the secure world may use. Overlapping bridges are
  // refused. Returns the bridge handle.
  virtual absl::StatusOr<uint64_t> ShmBridgeCreate(uint64_t base,
                                                   uint64_t size) = 0;
  virtual absl::Status ShmBridgeDelete(uint64_t handle) = 0;
};

// The SMMU as the OS programs it: stream-match entries that route a stream
// ID to a translation context ("domain"), and 4 KiB-granular mappings.
class Iommu {
 public:
  virtual ~Iommu() = default;

  // Routes stream (sid, mask) to a new translation context and returns its
  // id. A stream-match entry that partly overlaps an existing one is
  // refused (SMR_CONFLICT).
  virtual absl::StatusOr<uint32_t> Attach(uint32_t sid, uint32_t mask) = 0;
  // Removes the stream routing and every mapping left in the context.
  virtual absl::Status Detach(uint32_t domain) = 0;
  // Maps [iova, iova + size) to physical [pa, pa + size). All three 4 KiB
  // aligned (MISALIGNED); ALREADY_EXISTS (MAPPING_EXISTS) when any page is
  // mapped already; nothing changes on failure.
  virtual absl::Status Map(uint32_t domain, uint64_t iova, uint64_t pa,
                           uint64_t size, uint32_t prot) = 0;
  // Unmaps what is mapped in [iova, iova + size); returns the bytes that
  // were.
  virtual absl::StatusOr<uint64_t> Unmap(uint32_t domain, uint64_t iova,
                                         uint64_t size) = 0;
};

// The physical memory of the carveouts, as the OS maps it.
class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;
  // A writable view of [address, address + size), which must lie inside one
  // carveout (OUTSIDE_CARVEOUT otherwise). Valid while the platform lives.
  virtual absl::StatusOr<absl::Span<uint8_t>> Map(uint64_t address,
                                                  uint64_t size) = 0;
  // Sets `span` (from Map()) to zero; memory that can release whole pages
  // instead of writing them overrides this.
  virtual void Zero(absl::Span<uint8_t> span) {
    std::memset(span.data(), 0, span.size());
  }
};

// What a coprocessor signals to the OS.
enum class SignalKind {
  kReady,      // booted
  kHandover,   // proxy resources may be released
  kStopAck,    // acknowledged a stop request
  kWatchdog,   // crash: watchdog bite
  kFatal,      // crash: fatal error
  kSmmuFault,  // crash: its SMMU faulted
};

const char* SignalName(SignalKind kind);

struct Signal {
  uint64_t sequence = 0;    // increases with every signal of the platform
  std::string coprocessor;  // device-tree node path
  SignalKind kind = SignalKind::kReady;
  std::string detail;              // crash reason, fault description
  std::optional<SmmuFault> fault;  // for kSmmuFault
  absl::Time time;
};

class CoprocessorSignals {
 public:
  virtual ~CoprocessorSignals() = default;
  // Raises the stop request of `coprocessor` (its "stop" SMP2P bit).
  virtual absl::Status RequestStop(absl::string_view coprocessor) = 0;
  // Delivers every signal from now on, in order, on a platform thread.
  // Replaces the previous handler; a null handler unsubscribes.
  virtual void Subscribe(std::function<void(const Signal&)> handler) = 0;
};

// The video codec's wrapper registers, where the OS boots the codec
// without the secure world (devicetree::BootMethod::kVideoWrapper). Offsets
// are from the wrapper's base (the codec's register block + 0xe0000 on
// VPU v1-v5); the registers this tier writes are below.
class VideoWrapper {
 public:
  virtual ~VideoWrapper() = default;
  // Writes a 32-bit register of `coprocessor`'s (node path) wrapper.
  // NOT_FOUND for a codec without one, INVALID_ARGUMENT (BAD_REGISTER) for
  // an offset that names no register.
  virtual absl::Status WrapperWrite(absl::string_view coprocessor,
                                    uint32_t offset, uint32_t value) = 0;
  virtual absl::StatusOr<uint32_t> WrapperRead(absl::string_view coprocessor,
                                               uint32_t offset) = 0;
};

// Wrapper registers (VPU v1-v5) and the reset bit.
inline constexpr uint32_t kWrapperCpaStart = 0x1020;
inline constexpr uint32_t kWrapperCpaEnd = 0x1024;
inline constexpr uint32_t kWrapperFwStart = 0x1028;
inline constexpr uint32_t kWrapperFwEnd = 0x102c;
inline constexpr uint32_t kWrapperNonpixStart = 0x1030;
inline constexpr uint32_t kWrapperNonpixEnd = 0x1034;
inline constexpr uint32_t kWrapperCpuClockConfig = 0x2000;
inline constexpr uint32_t kWrapperCpuCgcDis = 0x2010;
inline constexpr uint32_t kWrapperA9ssSwReset = 0x3000;
inline constexpr uint32_t kWrapperA9ssResetBit = 1u << 4;

// A peripheral's state in the secure world.
enum class PasState { kIdle, kInitialized, kRunning };
// A core's state as the hardware runs it.
enum class CoreState {
  kOff,
  kBooting,
  kRunning,
  kStopping,
  kStopped,
  kCrashed
};
const char* PasStateName(PasState state);    // "idle", "initialized", "running"
const char* CoreStateName(CoreState state);  // "off", "booting", ...

// What the hardware holds right now, for status replies, adoption and
// tests. Every backend of this tier fills every field.
struct HardwareState {
  using Bridge = platform::HardwareView::Bridge;
  using Mapping = platform::HardwareView::Mapping;
  // A stream-match entry routing a stream to a translation context.
  struct Stream {
    uint32_t domain = 0;
    uint32_t sid = 0, mask = 0;
    MappingOwner owner = MappingOwner::kOs;
  };
  struct Fault {
    SmmuFault fault;
    std::string coprocessor;  // node path
    absl::Time time;
  };
  struct Peripheral {
    uint32_t pas_id = 0;
    PasState state = PasState::kIdle;
    bool metadata_held = false;
  };
  struct Core {
    std::string coprocessor;  // node path
    CoreState state = CoreState::kOff;
  };
  struct Call {
    std::string call;  // "pas_init_image", ...
    uint32_t pas_id = 0;
    std::string detail;
    int64_t status = 0;  // SCM status, 0 = success
    absl::Time time;
  };
  bool hypervisor = false;
  std::vector<Bridge> bridges;
  std::vector<Stream> streams;
  std::vector<Mapping> mappings;
  std::vector<Fault> faults;
  std::vector<Peripheral> peripherals;
  std::vector<Core> cores;
  std::vector<Call> calls;  // the most recent secure-world calls, oldest first
};

// Everything the PAS tier drives, for one board.
class Hardware {
 public:
  virtual ~Hardware() = default;
  virtual SecureWorld& secure_world() = 0;
  virtual Iommu& iommu() = 0;
  virtual PhysicalMemory& memory() = 0;
  virtual CoprocessorSignals& signals() = 0;
  virtual VideoWrapper& video_wrapper() = 0;
  virtual absl::StatusOr<HardwareState> Observe() = 0;
};

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_HARDWARE_H_
