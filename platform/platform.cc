#include "platform/platform.h"

namespace pil::platform {

std::string IommuPermissions(uint32_t prot) {
  std::string out;
  if (prot & kIommuRead) out += 'r';
  if (prot & kIommuWrite) out += 'w';
  if (!(prot & kIommuNoExec)) out += 'x';
  if (prot & kIommuPriv) out += 'p';
  return out;
}

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
