// LifecycleEngine::DryRunStart: a Start's checks, short of the secure world.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "platform/verify.h"
#include "server/engine.h"
#include "server/engine_internal.h"

namespace pil::server {

absl::StatusOr<TransitionResult> LifecycleEngine::DryRunStart(
    absl::string_view name, const FirmwareSource& requested) {
  Slot* slot = Find(name);
  if (slot == nullptr) return UnknownCoprocessor(name);
  const devicetree::CoprocessorNode& node = slot->node;
  if (absl::Status s = Drivable(*slot); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    if (slot->busy) {
      return Error(
          absl::StatusCode::kFailedPrecondition, "BUSY",
          absl::StrCat("another transition of ", node.name,
                       " is in progress (state ", StateName(slot->state), ")"),
          {{"coprocessor", node.name}});
    }
    if (slot->state != State::kOffline) {
      return WrongState("start", node.name, slot->state, {State::kOffline});
    }
  }
  auto resolved = SourceFor(node, requested);
  if (!resolved.ok()) return resolved.status();
  const FirmwareSource& source = *resolved;
  TransitionResult out;
  out.dry_run = true;
  // Loads `from` and verifies it for carveout `index`, as two steps.
  auto check = [&](const FirmwareSource& from, size_t index,
                   const std::string& suffix) -> absl::Status {
    absl::Time begin = absl::Now();
    auto image = firmware_->Load(from);
    if (!image.ok()) return image.status();
    out.steps.push_back(
        {"load" + suffix, LoadDetail(from, *image), absl::Now() - begin});
    begin = absl::Now();
    auto verified = platform::VerifyForCarveout(
        *image, node.carveouts[index], options_.verify_threads, nullptr);
    if (!verified.ok()) return verified.status();
    out.steps.push_back(
        {"verify" + suffix, verified->summary, absl::Now() - begin});
    return absl::OkStatus();
  };
  if (absl::Status s = check(source, 0, ""); !s.ok()) return s;
  if (LoadsDtb(node)) {
    if (absl::Status s =
            check(FirmwareSource::Named(node.firmware_names[1]), 1, "_dtb");
        !s.ok()) {
      return s;
    }
  }
  auto status = Get(name);
  if (!status.ok()) return status.status();
  out.status = std::move(*status);
  out.note = absl::StrCat(
      "dry run: ", source.Describe(),
      " passed every check short of the secure world; nothing was loaded, "
      "mapped or started");
  return out;
}

}  // namespace pil::server
