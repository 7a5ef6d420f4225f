#include "platform/linux/remoteproc_sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/file.h"

namespace pil::linux_platform {
namespace {

namespace fs = std::filesystem;

constexpr size_t kAttributeMax = 4096;

std::string Quiet(const fs::path& dir, const char* name) {
  auto value = ReadAttribute(dir.string(), name);
  return value.ok() ? *value : "";
}

}  // namespace

std::string KernelName(absl::string_view node_name) {
  if (node_name == "mpss") return "modem";
  return std::string(node_name);
}

absl::StatusOr<std::string> ReadAttribute(absl::string_view dir,
                                          absl::string_view attribute) {
  const std::string path = absl::StrCat(dir, "/", attribute);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error(err == ENOENT ? absl::StatusCode::kNotFound
                               : absl::StatusCode::kFailedPrecondition,
                 err == ENOENT ? "SYSFS_ATTRIBUTE_MISSING" : "SYSFS_UNREADABLE",
                 absl::StrCat("cannot open ", path, ": ", std::strerror(err)),
                 {{"path", path}});
  }
  std::string value(kAttributeMax, '\0');
  const ssize_t n = ::pread(fd, value.data(), value.size(), 0);
  const int err = errno;
  ::close(fd);
  if (n < 0) {
    return Error(absl::StatusCode::kFailedPrecondition, "SYSFS_UNREADABLE",
                 absl::StrCat("cannot read ", path, ": ", std::strerror(err)),
                 {{"path", path}});
  }
  value.resize(static_cast<size_t>(n));
  return std::string(absl::StripTrailingAsciiWhitespace(value));
}

absl::Status WriteAttribute(absl::string_view dir, absl::string_view attribute,
                            absl::string_view value) {
  const std::string path = absl::StrCat(dir, "/", attribute);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error(err == ENOENT ? absl::StatusCode::kNotFound
                               : absl::StatusCode::kFailedPrecondition,
                 err == ENOENT ? "SYSFS_ATTRIBUTE_MISSING" : "SYSFS_UNWRITABLE",
                 absl::StrCat("cannot open ", path,
                              " for writing: ", std::strerror(err)),
                 {{"path", path}});
  }
  int err = 0;
  if (::write(fd, value.data(), value.size()) < 0) err = errno;
  ::close(fd);
  if (err == 0) return absl::OkStatus();
  const char* reason = "KERNEL_ERROR";
  switch (err) {
    case EBUSY:
      reason = "KERNEL_BUSY";
      break;
    case EINVAL:
    case EPERM:
    case EACCES:
      reason = "KERNEL_REFUSED";
      break;
    case ENOENT:
      reason = "FIRMWARE_NOT_FOUND";
      break;
    case ETIMEDOUT:
      reason = "READY_TIMEOUT";
      break;
    default:
      break;
  }
  return Error(absl::StatusCode::kFailedPrecondition, reason,
               absl::StrCat("the kernel refused '", value, "' written to ",
                            path, ": ", std::strerror(err)),
               {{"path", path},
                {"value", std::string(value)},
                {"errno", absl::StrCat(err)}});
}

absl::StatusOr<std::vector<RemoteprocEntry>> ReadRemoteprocs(
    absl::string_view sysfs_root) {
  std::vector<RemoteprocEntry> entries;
  const fs::path root(std::string{sysfs_root});
  const fs::path class_dir = root / "class" / "remoteproc";
  std::error_code ec;
  if (!fs::exists(class_dir, ec)) return entries;
  std::error_code base_ec;
  const fs::path base =
      fs::canonical(root / "firmware" / "devicetree" / "base", base_ec);
  for (const fs::directory_entry& entry :
       fs::directory_iterator(class_dir, ec)) {
    const fs::path dir = entry.path();
    RemoteprocEntry out;
    out.sysfs_name = dir.filename().string();
    out.dir = dir.string();
    out.name = Quiet(dir, "name");
    out.state = Quiet(dir, "state");
    out.firmware = Quiet(dir, "firmware");
    std::error_code node_ec;
    const fs::path node = fs::canonical(dir / "device" / "of_node", node_ec);
    if (!node_ec && !base_ec &&
        absl::StartsWith(node.string(), base.string())) {
      out.of_node = node.string().substr(base.string().size());
      if (out.of_node.empty()) out.of_node = "/";
    }
    entries.push_back(std::move(out));
  }
  if (ec) {
    return Error(
        absl::StatusCode::kFailedPrecondition, "SYSFS_UNREADABLE",
        absl::StrCat("cannot list ", class_dir.string(), ": ", ec.message()));
  }
  std::sort(entries.begin(), entries.end(),
            [](const RemoteprocEntry& a, const RemoteprocEntry& b) {
              return a.sysfs_name < b.sysfs_name;
            });
  return entries;
}

std::optional<std::string> FindDevcoredump(absl::string_view sysfs_root,
                                           absl::string_view dir) {
  const fs::path class_dir =
      fs::path(std::string{sysfs_root}) / "class" / "devcoredump";
  std::error_code ec;
  const fs::path device = fs::canonical(std::string{dir}, ec);
  if (ec) return std::nullopt;
  std::optional<std::string> newest;
  uint64_t newest_index = 0;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(class_dir, ec)) {
    std::error_code link_ec;
    const fs::path failing =
        fs::canonical(entry.path() / "failing_device", link_ec);
    if (link_ec || failing != device) continue;
    const std::string name = entry.path().filename().string();  // devcdN
    uint64_t index = 0;
    if (!absl::StartsWith(name, "devcd") ||
        !absl::SimpleAtoi(name.substr(5), &index)) {
      continue;
    }
    if (!newest || index > newest_index) {
      newest = entry.path().string();
      newest_index = index;
    }
  }
  return newest;
}

absl::StatusOr<std::string> TakeDevcoredump(absl::string_view devcd,
                                            size_t max_size) {
  const std::string path = absl::StrCat(devcd, "/data");
  auto data = ReadFile(path, max_size);
  if (!data.ok()) return data.status();
  // Writing anything to `data` frees the dump.
  (void)WriteAttribute(devcd, "data", "1");
  return data;
}

}  // namespace pil::linux_platform
