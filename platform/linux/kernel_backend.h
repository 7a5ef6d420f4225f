// The kernel tier as a backend: the device tree's coprocessors joined with
// the kernel's remoteprocs (by the device's of_node, else by name), one
// KernelCoprocessor each, and a watcher that reports the kernel's `state`
// changes as events.
//
// State changes: the watcher poll(2)s every `state` attribute for
// POLLPRI/POLLERR, which wakes it at once on kernels that notify the
// attribute, and re-reads them all every `poll_interval` either way (the
// remoteproc core does not notify `state` in the kernels we know of).
//
//   auto backend = OpenKernelBackend(board, {.sysfs_root = "/sys"});
#ifndef PILD_PLATFORM_LINUX_KERNEL_BACKEND_H_
#define PILD_PLATFORM_LINUX_KERNEL_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"

namespace pil::linux_platform {

struct KernelOptions {
  // Where sysfs is mounted (tests mount a fake kernel elsewhere).
  std::string sysfs_root = "/sys";
  // A directory the kernel searches for firmware, where pild stages images
  // in "pild/"; empty: firmware_class.path when set, else /lib/firmware.
  std::string firmware_root;
  absl::Duration poll_interval = absl::Milliseconds(250);
  int verify_threads = 2;
};

absl::StatusOr<std::unique_ptr<platform::Backend>> OpenKernelBackend(
    const devicetree::Board& board, const KernelOptions& options);

}  // namespace pil::linux_platform

#endif  // PILD_PLATFORM_LINUX_KERNEL_BACKEND_H_
