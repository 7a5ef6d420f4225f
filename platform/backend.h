// The lifecycle engine's view of a backend: a small operations table per
// coprocessor, in the spirit of the kernel's struct rproc_ops, and a stream
// of events. Two tiers implement it, and the engine cannot tell them apart:
//
// * PAS tier (platform/pas): pild runs the secure-world flow itself over
//   SCM, SMMU, memory and signal interfaces (the sim; any backend with
//   direct SCM access). Authenticate, Map and Reset are separate steps.
// * Kernel tier (platform/linux): the kernel's remoteproc runs the flow;
//   pild validates the image, stages it where the kernel finds firmware,
//   starts and stops the core and supervises it. Start and Stop only.
//
//   CoprocessorOps* ops = *backend.Ops(node);
//   if (ops->capabilities().separate_steps) { ops->Authenticate(...); ... }
//   else { ops->Start(images, ready_timeout, steps); }
//
// Every operation reports its steps through `Steps` and fails with an
// absl::Status carrying a stable reason (common/error.h). A failed operation
// leaves what it acquired registered, and Rollback() releases it. Operations
// of one coprocessor are never called concurrently (the engine serializes
// them); different coprocessors may run in parallel.
#ifndef PILD_PLATFORM_BACKEND_H_
#define PILD_PLATFORM_BACKEND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/image/firmware_image.h"

namespace pil::platform {

// Who programmed an SMMU stream-match entry or mapping.
enum class MappingOwner { kOs, kHypervisor };
// Why the SMMU refused an access.
enum class FaultKind { kTranslation, kPermission, kUnmatchedStream };
enum class AccessType { kRead, kWrite, kExecute };
// How a coprocessor crashed; kUnspecified where the backend cannot tell.
enum class CrashKind { kWatchdog, kFatal, kSmmuFault, kUnspecified };

// "os"/"hypervisor"; "translation"/"permission"/"unmatched stream";
// "read"/"write"/"execute"; "WATCHDOG"/"FATAL_ERROR"/"SMMU_FAULT"/"CRASHED".
const char* MappingOwnerName(MappingOwner owner);
const char* FaultKindName(FaultKind kind);
const char* AccessTypeName(AccessType access);
const char* CrashReason(CrashKind kind);

// Mapping permissions, with Linux's IOMMU_* values.
enum IommuProt : uint32_t {
  kIommuRead = 1u << 0,
  kIommuWrite = 1u << 1,
  kIommuNoExec = 1u << 3,
  kIommuPriv = 1u << 5,
};
// "r", "w", "x" (unless kIommuNoExec), "p": e.g. "rwp".
std::string IommuPermissions(uint32_t prot);

struct SmmuFault {
  uint32_t sid = 0;
  uint64_t iova = 0;
  AccessType access = AccessType::kRead;
  FaultKind kind = FaultKind::kTranslation;
};

// What the hardware holds for one coprocessor. A backend leaves empty what
// it cannot see: the PAS tier fills the secure-world and SMMU fields and
// leaves `remoteproc` empty; the kernel tier (where the kernel holds
// metadata, bridges and mappings out of sight) fills only `remoteproc`.
struct HardwareView {
  struct Bridge {
    uint64_t handle = 0, base = 0, size = 0;
  };
  struct Mapping {
    uint32_t domain = 0;
    uint32_t sid = 0, mask = 0;
    uint64_t iova = 0, pa = 0, size = 0;
    uint32_t prot = 0;
    MappingOwner owner = MappingOwner::kOs;
  };
  struct Remoteproc {
    std::string device;    // "remoteproc0"
    std::string state;     // the kernel's word: "running", "offline", ...
    std::string firmware;  // the `firmware` attribute
  };
  bool metadata_held = false;
  std::vector<Bridge> bridges;
  std::vector<Mapping> mappings;
  std::optional<Remoteproc> remoteproc;
};

// Something a coprocessor did, as the backend saw it.
struct Event {
  enum class Kind {
    kReady,    // booted (PAS: the ready signal; kernel: state "running")
    kStopAck,  // acknowledged a stop request
    kStopped,  // the backend saw it stop (kernel: state "offline")
    kCrash,
  };
  Kind kind = Kind::kReady;
  // True when the event reports the state the backend itself keeps (kernel
  // tier: a read of the `state` attribute) rather than a signal: the engine
  // then follows it even when it did not ask for the change (a core
  // started or stopped outside pild).
  bool state_report = false;
  CrashKind crash = CrashKind::kUnspecified;  // for kCrash
  std::string detail;                         // crash reason in words
  std::optional<SmmuFault> fault;             // for CrashKind::kSmmuFault
  absl::Time time;
};

// The error a crash event makes of `coprocessor`'s boot or run:
// FAILED_PRECONDITION SMMU_FAULT with stream, IOVA, fault kind and access;
// otherwise ABORTED with CrashReason(kind).
absl::Status CrashError(absl::string_view coprocessor, const Event& event);

// What the engine offers an operation in progress: step records,
// cancellation and the coprocessor's events.
class Steps {
 public:
  virtual ~Steps() = default;
  // Runs `fn` as the step `name` unless the caller gave up (then returns
  // why, without running it), recording its detail, outcome and duration.
  // Undo steps pass `even_if_interrupted`.
  virtual absl::Status Step(
      absl::string_view name,
      const std::function<absl::Status(std::string* detail)>& fn,
      bool even_if_interrupted = false) = 0;
  // OK, or why the caller gave up: CANCELLED, DEADLINE_EXCEEDED, or
  // SHUTTING_DOWN when pild stops.
  virtual absl::Status Interrupted() const = 0;
  // The next event of this coprocessor that arrived since the operation
  // began, waiting until `until`; nullopt when none came by then or the
  // caller gave up (Interrupted() says which).
  virtual std::optional<Event> NextEvent(absl::Time until) = 0;
  // Drops the events queued so far (before a step that awaits a new one).
  virtual void DropEvents() = 0;
  // A remark for the caller, e.g. that a hypervisor maps the firmware.
  virtual void Note(absl::string_view note) = 0;
  // The caller's deadline (InfiniteFuture when none).
  virtual absl::Time deadline() const = 0;
};

// What a coprocessor's backend can do.
struct Capabilities {
  // Authenticate, Map and Reset can be driven one at a time. When false
  // only Start and Stop are, and `one_step_reason` says why.
  bool separate_steps = true;
  std::string one_step_reason;
};

// FAILED_PRECONDITION (STEP_NOT_SUPPORTED) for `verb` ("authenticate",
// "map", "reset") on a backend without separate steps.
absl::Status StepNotSupported(const Capabilities& capabilities,
                              absl::string_view verb);

// The images of one boot, loaded and parsed (not yet verified): the main
// image and, for coprocessors that load one, the DTB image.
struct BootImages {
  const image::FirmwareImage* main = nullptr;
  const image::FirmwareImage* dtb = nullptr;
  std::string main_source;  // for messages: a firmware name or upload:<sha>
};

// What the image verification found, for the engine's record.
struct VerifiedImage {
  std::string metadata_sha256;
  std::string version;
  uint32_t hash_table_version = 0;
  uint32_t sw_id = 0;
  uint32_t anti_rollback_version = 0;
};

// What a previous pild left in flight for a coprocessor, from its intent
// journal, and how long a core may take to finish what it was doing.
struct AdoptRequest {
  // The transition in progress when that pild stopped ("" none, or no
  // journal): "stop" is finished (the core is stopped and everything
  // released); any other is finished where the core was released from reset
  // (its leftovers released, a booting core given `ready_timeout` to come
  // up) and undone otherwise.
  std::string interrupted;
  absl::Duration ready_timeout = absl::Seconds(5);
  absl::Duration stop_ack_timeout = absl::Seconds(5);
};

// What a backend found on the hardware when pild started.
struct Adoption {
  enum class Found { kOffline, kRunning, kCrashed };
  Found found = Found::kOffline;
  std::vector<std::string> actions;  // one line per thing released or kept
};

class CoprocessorOps {
 public:
  virtual ~CoprocessorOps() = default;

  virtual Capabilities capabilities() const = 0;

  // OFFLINE -> AUTHENTICATED: verify the images against the carveouts,
  // place them and hand their metadata to the secure world.
  // Only where capabilities().separate_steps.
  virtual absl::StatusOr<VerifiedImage> Authenticate(const BootImages& images,
                                                     Steps& steps);
  // AUTHENTICATED -> MAPPED. Only where separate_steps.
  virtual absl::Status Map(Steps& steps);
  // MAPPED -> RUNNING: release reset and wait for ready (`ready_timeout`).
  // Only where separate_steps.
  virtual absl::Status Reset(absl::Duration ready_timeout, Steps& steps);
  // OFFLINE -> RUNNING in one operation. Only where !separate_steps.
  virtual absl::StatusOr<VerifiedImage> Start(const BootImages& images,
                                              absl::Duration ready_timeout,
                                              Steps& steps);

  // Any state -> OFFLINE: when `running`, ask the core to stop and wait
  // for its acknowledgement (`stop_ack_timeout`; it stops anyway after),
  // then release everything. Fails only when something could not be
  // released (it stays registered for a later Rollback).
  virtual absl::Status Stop(bool running, absl::Duration stop_ack_timeout,
                            Steps& steps) = 0;
  // Releases everything acquired, newest first, trying every undo; what
  // cannot be released stays registered (and in Held()).
  virtual void Rollback(Steps& steps) = 0;
  // After a crash: boot `images` (what it last ran) again.
  virtual absl::Status Restart(const BootImages& images,
                               absl::Duration ready_timeout, Steps& steps) = 0;
  // The memory of the crashed coprocessor as an ELF core file, or
  // NOT_FOUND (NO_COREDUMP) when the backend has none (yet): the PAS tier
  // reads the carveout until the next boot; the kernel tier returns the
  // kernel's devcoredump, which the kernel writes while it restarts a core.
  virtual absl::StatusOr<std::string> Coredump(absl::string_view note) = 0;

  // What pild holds for it, from its own record (no hardware access).
  virtual HardwareView Held() const = 0;
  // Whether something it acquired could not be given back (after a
  // Rollback): the core may still run, so nothing may boot over it until a
  // Stop succeeds.
  virtual bool Stuck() const { return false; }
  // Asks the backend to report this coprocessor's own state as an event
  // (state_report) once more, changed or not; backends without a state of
  // their own ignore it. The engine asks after every transition, having
  // dropped the reports that came while it ran.
  virtual void ReportState() {}
  // What the hardware reports now.
  virtual absl::StatusOr<HardwareView> Observe() = 0;
  // After pild starts: a core the hardware runs is kept; the transition a
  // previous pild left half-done is finished or undone (AdoptRequest).
  virtual absl::StatusOr<Adoption> Adopt(const AdoptRequest& request,
                                         Steps& steps) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "sim", "linux", ...
  virtual std::string name() const = 0;
  // The operations for `node`, owned by the backend; UNIMPLEMENTED
  // (NOT_SUPPORTED, saying why) when this backend cannot drive it.
  virtual absl::StatusOr<CoprocessorOps*> Ops(
      const devicetree::CoprocessorNode& node) = 0;
  // Delivers every event from now on, in order, on a backend thread, with
  // the device-tree path of its coprocessor. Replaces the previous handler;
  // a null handler unsubscribes (and waits for a delivery in progress).
  using EventHandler =
      std::function<void(const std::string& node_path, const Event& event)>;
  virtual void Subscribe(EventHandler handler) = 0;
};

}  // namespace pil::platform

#endif  // PILD_PLATFORM_BACKEND_H_
