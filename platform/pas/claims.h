// What the PAS tier holds on the hardware for one coprocessor: every
// resource it acquired (held metadata, a released reset, a translation
// context, a mapping, an SHM bridge), in the order it acquired them, each
// with the step that gives it back.
//
//   claims.Add({Claim::Kind::kBridge, ...}, "shm_bridge_delete", detail,
//              [&] { return secure_world.ShmBridgeDelete(handle); });
//   claims.Release(steps, [](const Claim& c) { return c.kind == kBridge; });
//   claims.Rollback(steps);  // everything, newest first
//
// A claim leaves the list only when its release succeeds: what cannot be
// given back stays, shows in View(), and is tried again by the next
// release or rollback. When a released reset cannot be taken back (PAS
// shutdown fails) the release stops there: the core may still run, so
// what it was given before (mappings, bridges, metadata) stays too; a
// translation context whose mapping could not be removed stays with it.
// Thread-safe.
#ifndef PILD_PLATFORM_PAS_CLAIMS_H_
#define PILD_PLATFORM_PAS_CLAIMS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "platform/backend.h"

namespace pil::pas {

struct Claim {
  enum class Kind {
    kMetadata,  // PAS metadata held by the secure world (pas_id)
    kRunning,   // out of reset: needs PAS shutdown (pas_id)
    kDomain,    // an OS translation context for the firmware stream
    kMapping,   // an SMMU mapping in `domain`
    kBridge,    // an SHM bridge over a carveout
  };
  Kind kind = Kind::kMetadata;
  uint32_t pas_id = 0;
  uint32_t domain = 0;
  uint32_t sid = 0, mask = 0;  // kDomain, kMapping
  uint64_t iova = 0;           // kMapping
  uint64_t address = 0;        // kMapping: physical; kBridge: base
  uint64_t size = 0;
  uint32_t prot = 0;
  uint64_t handle = 0;  // kBridge
};

class Claims {
 public:
  using Undo = std::function<absl::Status()>;
  using Filter = std::function<bool(const Claim&)>;

  // Registers `claim`, released by the step `undo_step` (with `detail`).
  void Add(const Claim& claim, std::string undo_step, std::string detail,
           Undo undo);
  // Releases the claims `filter` selects, newest first, each as a step run
  // even if the caller gave up; returns the first failure (and stops at a
  // failed kRunning release).
  absl::Status Release(platform::Steps& steps, const Filter& filter);
  // Releases everything, newest first, trying every undo.
  void Rollback(platform::Steps& steps);

  bool Holds(const Filter& filter) const;
  bool empty() const;
  // The claims as the engine shows them (metadata held, bridges, mappings).
  platform::HardwareView View() const;

 private:
  struct Entry {
    uint64_t id = 0;
    Claim claim;
    std::string step, detail;
    Undo undo;
  };
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);  // oldest first
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_CLAIMS_H_
