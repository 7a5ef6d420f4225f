#include "common/endpoint.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace pil {

std::string DefaultEndpoint() {
  if (const char* socket = std::getenv("PILD_SOCKET");
      socket != nullptr && *socket != '\0') {
    return absl::StrCat("unix:", socket);
  }
  if (::geteuid() == 0) return "unix:/run/pild/pild.sock";
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR");
      runtime != nullptr && *runtime != '\0') {
    return absl::StrCat("unix:", runtime, "/pild/pild.sock");
  }
  return absl::StrCat("unix:/tmp/pild-", ::geteuid(), "/pild.sock");
}

}  // namespace pil
