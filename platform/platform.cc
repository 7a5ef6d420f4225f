#include "platform/platform.h"

namespace pil::platform {

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

}  // namespace pil::platform
