// A lifecycle engine on an in-process simulated SoC, with a temporary
// firmware directory of test-signed images, for engine and service tests.
#ifndef PILD_TESTS_SERVER_ENGINE_TESTING_H_
#define PILD_TESTS_SERVER_ENGINE_TESTING_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "platform/image/firmware_image.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/soc.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/history.h"
#include "server/journal.h"

namespace pil::server::testing {

// The images the bundled sm8550 boards load (names as in their device
// trees), test-signed for their carveouts: adsp, adsp_dtb, cdsp, cdsp_dtb
// and the video codec's vpu30_p4.
inline constexpr char kVideoFirmware[] = "qcom/vpu/vpu30_p4.mbn";

// The names of a transition's steps, in order.
std::vector<std::string> StepNames(const TransitionResult& result);
// The peripheral of `pas_id` in `hw`, or nullptr.
const pas::HardwareState::Peripheral* Peripheral(const pas::HardwareState& hw,
                                                 uint32_t pas_id);
// A profile with one fault for coprocessor `name`, set up by `set`.
sim::v1::Profile WithFault(const std::string& name,
                           const std::function<void(sim::v1::Fault*)>& set);

class SimEngine {
 public:
  // A SoC for `board` (bundled name) with `profile`, firmware written to a
  // fresh directory, and an engine with `options` (fast defaults: ready
  // timeout 2 s, restart backoff 10 ms) that has adopted the hardware.
  explicit SimEngine(const std::string& board = "sm8550-el2-sim",
                     const sim::v1::Profile& profile = {},
                     EngineOptions options = DefaultOptions());
  ~SimEngine();

  static EngineOptions DefaultOptions();

  // Writes `bytes` as firmware `name` (relative to the directory).
  void WriteFirmware(const std::string& name, const std::string& bytes);
  // A test-signed image for a carveout (see sim::testing::SignedFor).
  static std::string Signed(uint64_t base, uint64_t size, uint32_t sw_id,
                            int version = 6);

  // Recreates the engine on the same SoC (a pild restart), with a new
  // connection to the same intent journal (a file in the directory).
  void Restart(EngineOptions options = DefaultOptions());

  // Expects `name` OFFLINE with nothing held on the hardware: no PAS
  // metadata or running peripheral for its PAS ids, no bridge over its
  // carveouts, no OS stream-match entry or mapping for its stream.
  void ExpectClean(const std::string& name);

  sim::SimSoc& soc() { return *soc_; }
  pas::PasBackend& backend() { return *backend_; }
  LifecycleEngine& engine() { return *engine_; }
  History& history() { return history_; }
  Journal& journal() { return *journal_; }
  FirmwareStore& store() { return *store_; }
  const std::string& firmware_dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<sim::SimSoc> soc_;
  std::unique_ptr<pas::PasBackend> backend_;
  std::unique_ptr<FirmwareStore> store_;
  History history_;
  std::unique_ptr<Journal> journal_;
  devicetree::Board board_;
  std::unique_ptr<LifecycleEngine> engine_;
};

}  // namespace pil::server::testing

#endif  // PILD_TESTS_SERVER_ENGINE_TESTING_H_
