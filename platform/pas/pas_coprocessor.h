// The PAS tier's operations for one coprocessor: pild itself runs the
// secure-world flow over pas::Hardware. Authenticate verifies each image
// and copies it into its carveout in one pass, then hands its metadata to
// the secure world (init_image, mem_setup); Map attaches the firmware
// stream and maps the carveouts and the resource table's device memory
// where Linux owns the IOMMU; Reset bridges the carveout while the secure
// world authenticates and releases reset, then waits for ready. Everything
// acquired is a Claim, released newest first on failure or stop.
//
// A codec booted without TrustZone (BootMethod::kVideoWrapper) takes the
// same steps with no secure world: Authenticate is pild's own verification
// and copy (wrapper_steps.cc says what it requires), Map the OS mapping of
// the whole carveout at IOVA 0, Reset programs the video wrapper and
// releases the codec's reset; Stop asserts it again, then unmaps.
#ifndef PILD_PLATFORM_PAS_PAS_COPROCESSOR_H_
#define PILD_PLATFORM_PAS_PAS_COPROCESSOR_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/pas/claims.h"
#include "platform/pas/coredump.h"
#include "platform/pas/hardware.h"

namespace pil::pas {

class PasCoprocessor : public platform::CoprocessorOps {
 public:
  // `hardware` and `os_owns_iommu` (no hypervisor: pild bridges and maps;
  // shared by the board, set from the hardware by Adopt)
  // outlive it. `node` has a carveout, and a PAS id unless it boots
  // through its video wrapper (then a firmware stream).
  PasCoprocessor(Hardware* hardware, const devicetree::CoprocessorNode& node,
                 int verify_threads, std::atomic<bool>* os_owns_iommu);

  platform::Capabilities capabilities() const override;
  absl::StatusOr<platform::VerifiedImage> Authenticate(
      const platform::BootImages& images, platform::Steps& steps) override;
  absl::Status Map(platform::Steps& steps) override;
  absl::Status Reset(absl::Duration ready_timeout,
                     platform::Steps& steps) override;
  absl::Status Stop(bool running, absl::Duration stop_ack_timeout,
                    platform::Steps& steps) override;
  void Rollback(platform::Steps& steps) override;
  absl::Status Restart(const platform::BootImages& images,
                       absl::Duration ready_timeout,
                       platform::Steps& steps) override;
  absl::StatusOr<std::string> Coredump(absl::string_view note) override;
  platform::HardwareView Held() const override;
  bool Stuck() const override { return !claims_.empty(); }
  absl::StatusOr<platform::HardwareView> Observe() override;
  absl::StatusOr<platform::Adoption> Adopt(
      const platform::AdoptRequest& request, platform::Steps& steps) override;

 private:
  // The image's main (carveout 0) or DTB (carveout 1) part of a boot.
  absl::Status Place(const image::FirmwareImage& image, bool dtb,
                     platform::Steps& steps,
                     std::optional<platform::VerifiedImage>* verified);
  absl::Status InitImage(const image::FirmwareImage& image, bool dtb,
                         platform::Steps& steps);
  absl::Status MapRange(uint32_t domain, uint64_t iova, uint64_t pa,
                        uint64_t size, uint32_t prot, const std::string& what,
                        platform::Steps& steps);
  absl::Status AuthAndReset(bool dtb, platform::Steps& steps);
  absl::Status WaitReady(absl::Duration timeout, platform::Steps& steps);
  // Registers as claims what `state` holds for this coprocessor, in the
  // order a boot acquires it (so a rollback releases it in reverse);
  // returns whether its main image's reset is released.
  bool ClaimWhatIsHeld(const HardwareState& state);
  CoreState CoreOf(const HardwareState& state) const;
  // Waits (a step) while the core boots, up to `timeout`; its state then.
  CoreState AwaitBoot(absl::Duration timeout, platform::Steps& steps);
  // Maps the resource table's device memory in `domain`.
  absl::Status MapDeviceMemory(uint32_t domain, platform::Steps& steps);
  // This coprocessor's share of what the hardware holds.
  platform::HardwareView ViewOf(const HardwareState& state) const;
  bool InCarveouts(uint64_t base, uint64_t size) const;
  uint32_t pas_id(bool dtb) const;
  // Without TrustZone (wrapper_steps.cc): the bounds the OS's loader
  // enforces, the wrapper's programming and reset release (a claim whose
  // undo asserts reset), and adopting a codec left out of reset.
  absl::Status CheckWrapperSpan(const image::FirmwareImage& image,
                                platform::Steps& steps);
  absl::Status WrapperReset(platform::Steps& steps);
  void ClaimWrapperReset();
  // Whether the codec is out of reset; nullopt when that cannot be read.
  std::optional<bool> WrapperOutOfReset();

  Hardware& hw_;
  const devicetree::CoprocessorNode node_;
  const int verify_threads_;
  std::atomic<bool>& os_owns_iommu_;
  // The DTB image's PAS id, for coprocessors that load one.
  std::optional<uint32_t> dtb_pas_;
  // Booted through the video wrapper, without TrustZone.
  const bool wrapper_;
  Claims claims_;

  mutable absl::Mutex mu_;
  // Where the main image's segments were placed, for coredumps.
  std::vector<CoredumpSegment> placed_ ABSL_GUARDED_BY(mu_);
  uint16_t machine_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pil::pas

#endif  // PILD_PLATFORM_PAS_PAS_COPROCESSOR_H_
