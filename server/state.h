// Lifecycle states of a coprocessor.
#ifndef PILD_SERVER_STATE_H_
#define PILD_SERVER_STATE_H_

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

}  // namespace pil::server

#endif  // PILD_SERVER_STATE_H_
