#include "platform/linux/remoteproc_sysfs.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"

namespace pil::linux_platform {
namespace {

namespace fs = std::filesystem;

std::string Attribute(const fs::path& dir, const char* name) {
  auto value = ReadFile((dir / name).string(), 4096);
  if (!value.ok()) return "";
  return std::string(absl::StripAsciiWhitespace(*value));
}

}  // namespace

absl::StatusOr<std::map<std::string, RemoteprocEntry>> ReadRemoteprocs(
    absl::string_view sysfs_root) {
  std::map<std::string, RemoteprocEntry> entries;
  const fs::path root(std::string{sysfs_root});
  const fs::path class_dir = root / "class" / "remoteproc";
  std::error_code ec;
  if (!fs::exists(class_dir, ec)) return entries;
  std::error_code canonical_ec;
  const fs::path base =
      fs::canonical(root / "firmware" / "devicetree" / "base", canonical_ec);
  if (canonical_ec) {
    return Error(absl::StatusCode::kFailedPrecondition, "SYSFS_UNREADABLE",
                 absl::StrCat("cannot resolve ",
                              (root / "firmware/devicetree/base").string(),
                              ": ", canonical_ec.message()));
  }
  for (const fs::directory_entry& entry :
       fs::directory_iterator(class_dir, ec)) {
    const fs::path dir = entry.path();
    std::error_code node_ec;
    const fs::path node = fs::canonical(dir / "device" / "of_node", node_ec);
    if (node_ec) continue;
    const std::string node_path = node.string();
    if (!absl::StartsWith(node_path, base.string())) continue;
    std::string dt_path = node_path.substr(base.string().size());
    if (dt_path.empty()) dt_path = "/";
    RemoteprocEntry out;
    out.sysfs_name = dir.filename().string();
    out.name = Attribute(dir, "name");
    out.state = Attribute(dir, "state");
    out.firmware = Attribute(dir, "firmware");
    entries[dt_path] = std::move(out);
  }
  if (ec) {
    return Error(
        absl::StatusCode::kFailedPrecondition, "SYSFS_UNREADABLE",
        absl::StrCat("cannot list ", class_dir.string(), ": ", ec.message()));
  }
  return entries;
}

}  // namespace pil::linux_platform
