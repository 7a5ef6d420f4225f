#include "server/access/caller.h"

#include "absl/strings/str_cat.h"

namespace pil::access {

std::string Caller::Describe() const {
  if (!certificate.empty()) return absl::StrCat("certificate ", certificate);
  if (uid < 0) return peer;
  return absl::StrCat("uid ", uid, " pid ", pid);
}

std::string Caller::Key() const {
  if (!certificate.empty()) return absl::StrCat("cert:", certificate);
  if (uid == 0) return "";
  if (uid < 0) return peer;
  return absl::StrCat("uid:", uid);
}

}  // namespace pil::access
