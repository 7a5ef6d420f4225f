// Starting pilsim when none answers, so that `pild --platform=sim` works on
// its own. The started pilsim runs in its own session and outlives the
// process that started it (it is the hardware); stop it with SIGTERM (its
// pid is in SOCKET.pid).
#ifndef PILD_PLATFORM_SIM_LAUNCHER_H_
#define PILD_PLATFORM_SIM_LAUNCHER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pil::sim {

struct LaunchOptions {
  // Where pilsim listens ("unix:PATH").
  std::string address;
  // pilsim's own flags besides --listen (--board, --dtb, --profile).
  std::vector<std::string> flags;
  // The pilsim binary; empty: found beside the running executable.
  std::string binary;
  absl::Duration timeout = absl::Seconds(10);
};

// OK when pilsim answers at `options.address`, starting it first when
// nothing does. Its output goes to PATH.log. Returns whether it started one
// in `started`.
absl::Status EnsurePilsim(const LaunchOptions& options, bool* started);

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_LAUNCHER_H_
