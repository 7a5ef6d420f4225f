// The PAS tier as a backend: one PasCoprocessor per bootable coprocessor of
// the board, over the board's pas::Hardware, and the hardware's signals as
// the engine's events.
//
//   PasBackend backend(&hardware, board, {.name = "sim"});
//   LifecycleEngine engine(&backend, board, ...);
#ifndef PILD_PLATFORM_PAS_PAS_BACKEND_H_
#define PILD_PLATFORM_PAS_PAS_BACKEND_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/pas/hardware.h"
#include "platform/pas/pas_coprocessor.h"

namespace pil::pas {

struct PasOptions {
  std::string name = "sim";
  // Threads verifying one image.
  int verify_threads = 2;
};

class PasBackend : public platform::Backend {
 public:
  // `hardware` outlives the backend.
  PasBackend(Hardware* hardware, const devicetree::Board& board,
             PasOptions options);
  ~PasBackend() override;

  std::string name() const override { return options_.name; }
  absl::StatusOr<platform::CoprocessorOps*> Ops(
      const devicetree::CoprocessorNode& node) override;
  void Subscribe(EventHandler handler) override;

 private:
  void OnSignal(const Signal& signal);

  Hardware& hw_;
  const PasOptions options_;
  // No hypervisor: pild bridges and maps. Assumed when any coprocessor
  // names a firmware stream, until the hardware says otherwise (Adopt).
  std::atomic<bool> os_owns_iommu_{false};
  std::map<std::string, std::unique_ptr<PasCoprocessor>> coprocessors_;

  absl::Mutex mu_;
  EventHandler handler_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_PAS_BACKEND_H_
