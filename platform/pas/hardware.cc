#include "platform/pas/hardware.h"

namespace pil::pas {

const char* SignalName(SignalKind kind) {
  switch (kind) {
    case SignalKind::kReady:
      return "ready";
    case SignalKind::kHandover:
      return "handover";
    case SignalKind::kStopAck:
      return "stop-ack";
    case SignalKind::kWatchdog:
      return "watchdog";
    case SignalKind::kFatal:
      return "fatal";
    case SignalKind::kSmmuFault:
      return "smmu-fault";
  }
  return "unknown";
}

const char* PasStateName(PasState state) {
  switch (state) {
    case PasState::kIdle:
      return "idle";
    case PasState::kInitialized:
      return "initialized";
    case PasState::kRunning:
      return "running";
  }
  return "unknown";
}

const char* CoreStateName(CoreState state) {
  switch (state) {
    case CoreState::kOff:
      return "off";
    case CoreState::kBooting:
      return "booting";
    case CoreState::kRunning:
      return "running";
    case CoreState::kStopping:
      return "stopping";
    case CoreState::kStopped:
      return "stopped";
    case CoreState::kCrashed:
      return "crashed";
  }
  return "unknown";
}

}  // namespace pil::pas
