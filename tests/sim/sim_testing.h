// Helpers for sim tests: boards, signed images, and the OS side of a boot
// done step by step (as the lifecycle engine does it).
#ifndef PILD_TESTS_SIM_SIM_TESTING_H_
#define PILD_TESTS_SIM_SIM_TESTING_H_

#include <deque>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signer.h"
#include "platform/sim/soc.h"

namespace pil::sim::testing {

// A bundled board's DTB ("sm8550-el2-sim", "sm8550-hyp-sim").
std::string BundledDtb(const std::string& board);

// A SimSoc on `dtb` (aborts on failure).
std::unique_ptr<SimSoc> MakeSoc(const std::string& dtb,
                                const v1::Profile& profile = {});

// A test-signed image for a carveout: relocatable code/data/BSS at `base`
// spanning `size`, hash-table `version`, image type `sw_id`.
image::FirmwareImage SignedFor(uint64_t base, uint64_t size, uint32_t sw_id,
                               int version = 6,
                               uint32_t anti_rollback_version = 0,
                               bool relocatable = true);

// Collects the signals of a SimSoc.
class SignalLog {
 public:
  explicit SignalLog(pas::CoprocessorSignals& signals);
  ~SignalLog();
  // The next signal for `coprocessor` (a node path), or DEADLINE_EXCEEDED.
  absl::StatusOr<pas::Signal> Next(const std::string& coprocessor,
                                   absl::Duration timeout = absl::Seconds(5));

 private:
  pas::CoprocessorSignals& signals_;
  absl::Mutex mu_;
  std::deque<pas::Signal> queue_ ABSL_GUARDED_BY(mu_);
};

// The OS side of a boot, one step at a time.
struct Boot {
  pas::Hardware& platform;
  uint32_t pas_id;
  uint64_t carveout_base;
  uint64_t carveout_size;

  absl::Status Init(const image::FirmwareImage& image);  // init + mem_setup
  absl::Status Copy(const image::FirmwareImage& image);  // segments + BSS
  absl::StatusOr<uint32_t> MapStream(uint32_t sid, uint32_t mask, bool video);
  absl::Status AuthWithBridge();  // bridge, auth_and_reset, bridge removed
};

}  // namespace pil::sim::testing

#endif  // PILD_TESTS_SIM_SIM_TESTING_H_
