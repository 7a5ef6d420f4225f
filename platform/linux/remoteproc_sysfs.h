// What the kernel's remoteproc framework reports, from sysfs.
#ifndef PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_
#define PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pil::linux_platform {

// One /sys/class/remoteproc/remoteprocN entry.
struct RemoteprocEntry {
  std::string sysfs_name;  // "remoteproc0"
  std::string name;        // the "name" attribute, e.g. "adsp"
  std::string state;       // offline, running, crashed, attached, ...
  std::string firmware;    // the "firmware" attribute
};

// Every remoteproc under `sysfs_root` (normally "/sys") whose device has a
// device-tree node, keyed by that node's path ("/soc@0/remoteproc@6800000").
// Entries without an of_node are skipped. An absent class directory gives an
// empty map (no remoteproc support in the kernel).
absl::StatusOr<std::map<std::string, RemoteprocEntry>> ReadRemoteprocs(
    absl::string_view sysfs_root);

}  // namespace pil::linux_platform

#endif  // PILD_PLATFORM_LINUX_REMOTEPROC_SYSFS_H_
