// What both C++ clients of pild (pild_client.h, async_client.h) take to
// reach it and to name an image. No gRPC or generated headers.
#ifndef PILD_CLIENT_CONNECTION_H_
#define PILD_CLIENT_CONNECTION_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace pil::client {

// Which image a transition loads.
struct Firmware {
  enum class Kind { kDefault, kName, kUpload };
  Kind kind = Kind::kDefault;
  std::string value;

  // The coprocessor's device-tree firmware name.
  static Firmware Default() { return {}; }
  // A name relative to pild's firmware directories.
  static Firmware Named(std::string name) {
    return {Kind::kName, std::move(name)};
  }
  // An earlier upload, by the SHA-256 UploadFirmware returned.
  static Firmware Upload(std::string sha256) {
    return {Kind::kUpload, std::move(sha256)};
  }
};

// A random RFC 4122 version-4 UUID.
std::string NewRequestId();

// Mutual-TLS material for a TCP connection to pild, as PEM text.
struct TlsMaterial {
  std::string cert;  // the client's certificate (chain)
  std::string key;   // its private key
  std::string ca;    // the CA(s) that issued pild's certificate
  // The name pild's certificate carries, when it is not the address's.
  std::string server_name;
};

// Reads the three PEM files; INVALID_ARGUMENT (TLS_MATERIAL_INVALID) naming
// a file that cannot be read or holds no PEM block.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const std::string& cert_path,
                                            const std::string& key_path,
                                            const std::string& ca_path);

}  // namespace pil::client

#endif  // PILD_CLIENT_CONNECTION_H_
