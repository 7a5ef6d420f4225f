#include "client/connection.h"

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error.h"
#include "common/file.h"

namespace pil::client {

std::string NewRequestId() {
  static thread_local std::mt19937_64 random(std::random_device{}());
  const uint64_t hi = random(), lo = random();
  return absl::StrFormat(
      "%08x-%04x-4%03x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xfff,
      0x8000 | ((lo >> 48) & 0x3fff), lo & 0xffffffffffffULL);
}

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const std::string& cert_path,
                                            const std::string& key_path,
                                            const std::string& ca_path) {
  TlsMaterial tls;
  for (auto [path, out] : {std::make_pair(&cert_path, &tls.cert),
                           std::make_pair(&key_path, &tls.key),
                           std::make_pair(&ca_path, &tls.ca)}) {
    auto text = ReadFile(*path, size_t{1} << 20);
    if (!text.ok() || !absl::StrContains(*text, "-----BEGIN ")) {
      return Error(absl::StatusCode::kInvalidArgument, "TLS_MATERIAL_INVALID",
                   absl::StrCat(*path, ": ",
                                text.ok() ? "holds no PEM block"
                                          : text.status().message()),
                   {{"path", *path}});
    }
    *out = std::move(*text);
  }
  return tls;
}

}  // namespace pil::client
