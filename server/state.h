// Lifecycle states of a coprocessor.
#ifndef PILD_SERVER_STATE_H_
#define PILD_SERVER_STATE_H_

#include <optional>

namespace pil::server {

enum class State {
  kOffline,
  kAuthenticated,
  kMapped,
  kRunning,
  kStopping,
  kCrashed,
  kRecovering,
};

// "offline", "authenticated", ...
const char* StateName(State state);
// The inverse of StateName; nullopt for any other text.
std::optional<State> StateFromName(const char* name);

}  // namespace pil::server

#endif  // PILD_SERVER_STATE_H_
