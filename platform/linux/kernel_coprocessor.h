// The kernel tier's operations for one coprocessor: the kernel's
// remoteproc runs the secure-world flow (init_image, SHM bridge, SMMU
// mappings, auth_and_reset) inside one `start`; pild verifies the image
// first, stages it where the kernel finds firmware, writes `firmware` and
// `state`, and supervises. Writes are made only when the kernel's state
// calls for them: `start` on a running core would pin an extra power
// reference in real kernels, so a core already running its image is left
// alone. The kernel refuses to stop a crashed core (recent kernels accept
// `stop` only while running): Stop recovers it first, then stops it, and
// leaves the devcoredump the recovery wrote for Coredump().
#ifndef PILD_PLATFORM_LINUX_KERNEL_COPROCESSOR_H_
#define PILD_PLATFORM_LINUX_KERNEL_COPROCESSOR_H_

#include <functional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/linux/remoteproc_sysfs.h"
#include "platform/linux/staging.h"

namespace pil::linux_platform {

class KernelCoprocessor : public platform::CoprocessorOps {
 public:
  // `staging` outlives it. `report_state` asks the backend to report the
  // kernel's state as it is now, changed or not.
  KernelCoprocessor(std::string sysfs_root, const RemoteprocEntry& entry,
                    const devicetree::CoprocessorNode& node,
                    const FirmwareStaging* staging, int verify_threads,
                    std::function<void()> report_state);

  platform::Capabilities capabilities() const override;
  absl::StatusOr<platform::VerifiedImage> Start(
      const platform::BootImages& images, absl::Duration ready_timeout,
      platform::Steps& steps) override;
  absl::Status Stop(bool running, absl::Duration stop_ack_timeout,
                    platform::Steps& steps) override;
  void Rollback(platform::Steps& steps) override;
  absl::Status Restart(const platform::BootImages& images,
                       absl::Duration ready_timeout,
                       platform::Steps& steps) override;
  absl::StatusOr<std::string> Coredump(absl::string_view note) override;
  platform::HardwareView Held() const override;
  void ReportState() override { report_state_(); }
  absl::StatusOr<platform::HardwareView> Observe() override;
  absl::StatusOr<platform::Adoption> Adopt(
      const platform::AdoptRequest& request, platform::Steps& steps) override;

  // The `state` attribute, and the last value read there (by an operation
  // or the watcher), for Held().
  std::string state_path() const { return dir_ + "/state"; }
  void Seen(const std::string& state);
  const std::string& node_path() const { return node_.path; }

 private:
  // Verifies the images for the carveouts and stages the main one; returns
  // the name to write to `firmware`.
  absl::StatusOr<std::string> VerifyAndStage(const platform::BootImages& images,
                                             platform::Steps& steps,
                                             platform::VerifiedImage* verified);
  absl::StatusOr<std::string> State(platform::Steps& steps);
  // Reads `state` until it is one of `wanted`, `timeout` passes (TIMEOUT
  // named `what`) or the caller gives up; a crash while waiting for
  // "running" is the coprocessor's crash.
  absl::Status WaitFor(const std::set<std::string>& wanted,
                       absl::Duration timeout, const std::string& what,
                       platform::Steps& steps);
  absl::Status WriteStop(platform::Steps& steps);
  absl::Status WriteRecover(platform::Steps& steps);

  const std::string root_;
  const std::string dir_;
  const std::string sysfs_name_;
  const devicetree::CoprocessorNode node_;
  const FirmwareStaging& staging_;
  const int verify_threads_;
  const std::function<void()> report_state_;

  mutable absl::Mutex mu_;
  std::string seen_state_ ABSL_GUARDED_BY(mu_);
  std::string firmware_ ABSL_GUARDED_BY(mu_);
  // pild wrote `start` in the operation in progress: a rollback stops it.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pil::linux_platform

#endif  // PILD_PLATFORM_LINUX_KERNEL_COPROCESSOR_H_
