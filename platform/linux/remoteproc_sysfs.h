// The kernel's remoteproc and devcoredump classes in sysfs (DOMAIN.md §5):
// finding the remoteproc of a device-tree node, and reading and writing its
// attributes as the kernel defines them.
//
//   auto procs = ReadRemoteprocs("/sys");
//   RETURN_IF_ERROR(WriteAttribute(procs->at(path).dir, "state", "start"));
#ifndef PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_
#define PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::linux_platform {

// One /sys/class/remoteproc/remoteprocN entry.
struct RemoteprocEntry {
  std::string sysfs_name;  // "remoteproc0"
  std::string dir;         // its directory: <root>/class/remoteproc/remoteproc0
  std::string name;        // the "name" attribute, e.g. "adsp"
  std::string state;       // offline, running, crashed, attached, ...
  std::string firmware;    // the "firmware" attribute
  std::string of_node;     // device-tree path of its device, may be empty
};

// Every remoteproc under `sysfs_root` (normally "/sys"), with the
// device-tree path of its device where it has one. An absent class
// directory gives none (no remoteproc support in the kernel).
absl::StatusOr<std::vector<RemoteprocEntry>> ReadRemoteprocs(
    absl::string_view sysfs_root);

// The remoteproc name the kernel's Qualcomm drivers give a coprocessor of
// the device tree ("mpss" -> "modem"; others keep their name).
std::string KernelName(absl::string_view node_name);

// An attribute's value without its trailing newline (at most 4 KiB).
// NOT_FOUND (SYSFS_ATTRIBUTE_MISSING), FAILED_PRECONDITION
// (SYSFS_UNREADABLE) naming the attribute.
absl::StatusOr<std::string> ReadAttribute(absl::string_view dir,
                                          absl::string_view attribute);

// Writes `value` to an attribute in one write(2), as `echo` does. NOT_FOUND
// (SYSFS_ATTRIBUTE_MISSING) or FAILED_PRECONDITION (SYSFS_UNWRITABLE) when
// it cannot be opened; the kernel's refusal of the write becomes
// FAILED_PRECONDITION with reason KERNEL_BUSY
// (EBUSY), KERNEL_REFUSED (EINVAL, EPERM, EACCES), FIRMWARE_NOT_FOUND
// (ENOENT), READY_TIMEOUT (ETIMEDOUT) or KERNEL_ERROR, naming the
// attribute, the value and the errno.
absl::Status WriteAttribute(absl::string_view dir, absl::string_view attribute,
                            absl::string_view value);

// The newest devcoredump whose failing device is the remoteproc `dir`:
// its data directory (<root>/class/devcoredump/devcdN), if any.
std::optional<std::string> FindDevcoredump(absl::string_view sysfs_root,
                                           absl::string_view dir);

// Reads a devcoredump's data (at most `max_size` bytes; FILE_TOO_LARGE
// beyond) and then dismisses it, as devcoredump expects of its reader.
absl::StatusOr<std::string> TakeDevcoredump(absl::string_view devcd,
                                            size_t max_size);

}  // namespace pil::linux_platform

#endif  // PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_
