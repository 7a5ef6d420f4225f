#include "server/state.h"

#include <cstring>

namespace pil::server {

const char* StateName(State state) {
  switch (state) {
    case State::kOffline:
      return "offline";
    case State::kAuthenticated:
      return "authenticated";
    case State::kMapped:
      return "mapped";
    case State::kRunning:
      return "running";
    case State::kStopping:
      return "stopping";
    case State::kCrashed:
      return "crashed";
    case State::kRecovering:
      return "recovering";
  }
  return "unknown";
}

std::optional<State> StateFromName(const char* name) {
  for (State state :
       {State::kOffline, State::kAuthenticated, State::kMapped, State::kRunning,
        State::kStopping, State::kCrashed, State::kRecovering}) {
    if (std::strcmp(name, StateName(state)) == 0) return state;
  }
  return std::nullopt;
}

}  // namespace pil::server
