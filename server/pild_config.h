// pild's configuration: its flags checked and turned into the parts main()
// wires together (where to listen, the device tree, the backend and its
// hardware, the engine's options). Every bad flag is INVALID_ARGUMENT
// (BAD_FLAG) naming it.
#ifndef PILD_SERVER_PILD_CONFIG_H_
#define PILD_SERVER_PILD_CONFIG_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "platform/backend.h"
#include "platform/devicetree/coprocessor_node.h"
#include "platform/linux/kernel_backend.h"
#include "platform/pas/hardware.h"
#include "server/engine.h"
#include "server/metrics/metrics_file.h"

namespace pil::server {

struct Config {
  std::string platform;    // "sim" or "linux"
  std::string dtb_source;  // for logs
  std::string dtb;
  std::vector<std::string> firmware_path;
  std::string listen;  // pild's unix: address ("" when it has none)
  EngineOptions engine;
  int verify_threads = 2;
  std::unique_ptr<pas::Hardware> hardware;  // the sim's hardware
  linux_platform::KernelOptions kernel;
  // Where pild writes its metrics (null for nowhere), its directory opened
  // before anything is started, and at least how often.
  std::unique_ptr<metrics::MetricsPath> metrics_file;
  absl::Duration metrics_interval;
};

// From the flags (where pild listens: pild_access.h). The sim's socket
// goes beside `unix_address`. Connects to (or starts) pilsim for the sim.
absl::StatusOr<Config> LoadConfig(const std::string& unix_address);

// The backend for `config` and `board`.
absl::StatusOr<std::unique_ptr<platform::Backend>> OpenBackend(
    Config& config, const devicetree::Board& board);

}  // namespace pil::server

#endif  // PILD_SERVER_PILD_CONFIG_H_
