#include "platform/pas/pas_backend.h"

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::pas {

PasBackend::PasBackend(Hardware* hardware, const devicetree::Board& board,
                       PasOptions options)
    : hw_(*hardware), options_(std::move(options)) {
  for (const devicetree::CoprocessorNode& node : board.coprocessors) {
    const bool wrapper = node.boot == devicetree::BootMethod::kVideoWrapper;
    if (!node.enabled() || node.carveouts.empty() ||
        node.boot == devicetree::BootMethod::kQdsp6Registers ||
        (wrapper ? !node.firmware_stream : !node.pas_id)) {
      continue;
    }
    if (node.iommu_owner == devicetree::IommuOwner::kLinux) {
      os_owns_iommu_ = true;
    }
    coprocessors_[node.path] = std::make_unique<PasCoprocessor>(
        hardware, node, options_.verify_threads, &os_owns_iommu_);
  }
  hw_.signals().Subscribe([this](const Signal& s) { OnSignal(s); });
}

PasBackend::~PasBackend() { hw_.signals().Subscribe(nullptr); }

absl::StatusOr<platform::CoprocessorOps*> PasBackend::Ops(
    const devicetree::CoprocessorNode& node) {
  auto it = coprocessors_.find(node.path);
  if (it == coprocessors_.end()) {
    return Error(absl::StatusCode::kUnimplemented, "NOT_SUPPORTED",
                 absl::StrCat(node.name,
                              node.boot == devicetree::BootMethod::kPas
                                  ? " cannot boot through PAS: its device-tree "
                                    "node names no PAS id or no carveout"
                                  : " boots without PAS in a way pild does "
                                    "not model"),
                 {{"coprocessor", node.name}});
  }
  return it->second.get();
}

void PasBackend::Subscribe(EventHandler handler) {
  // Waits for a delivery in progress (OnSignal holds mu_ while it runs).
  absl::MutexLock lock(&mu_);
  handler_ = std::move(handler);
}

void PasBackend::OnSignal(const Signal& signal) {
  platform::Event event;
  event.time = signal.time;
  event.detail = signal.detail;
  switch (signal.kind) {
    case SignalKind::kReady:
      event.kind = platform::Event::Kind::kReady;
      break;
    case SignalKind::kStopAck:
      event.kind = platform::Event::Kind::kStopAck;
      break;
    case SignalKind::kHandover:
      return;  // proxy votes are the hardware's business here
    case SignalKind::kWatchdog:
      event.kind = platform::Event::Kind::kCrash;
      event.crash = platform::CrashKind::kWatchdog;
      break;
    case SignalKind::kFatal:
      event.kind = platform::Event::Kind::kCrash;
      event.crash = platform::CrashKind::kFatal;
      break;
    case SignalKind::kSmmuFault:
      event.kind = platform::Event::Kind::kCrash;
      event.crash = platform::CrashKind::kSmmuFault;
      event.fault = signal.fault;
      break;
  }
  absl::MutexLock lock(&mu_);
  if (handler_) handler_(signal.coprocessor, event);
}

}  // namespace pil::pas
