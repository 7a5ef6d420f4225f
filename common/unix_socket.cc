#include "common/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/error.h"

namespace pil {

std::string UnixSocketPath(absl::string_view address) {
  if (!absl::ConsumePrefix(&address, "unix:")) return "";
  if (absl::StartsWith(address, "//")) address.remove_prefix(2);
  return std::string(address);
}

bool UnixSocketAnswers(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool answers =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return answers;
}

absl::Status PrepareUnixSocket(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("socket path ", path, " is longer than ",
                              sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::error_code ec;
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return Error(absl::StatusCode::kFailedPrecondition, "ADDRESS_IN_USE",
                 absl::StrCat(path, " exists and is not a socket"));
  }
  if (UnixSocketAnswers(path)) {
    return Error(absl::StatusCode::kFailedPrecondition, "ADDRESS_IN_USE",
                 absl::StrCat("another server is listening on ", path));
  }
  ::unlink(path.c_str());
  return absl::OkStatus();
}

}  // namespace pil
