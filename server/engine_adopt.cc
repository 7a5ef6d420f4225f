// LifecycleEngine::Adopt: what the hardware runs when pild starts.
#include "absl/strings/str_cat.h"
#include "server/engine_internal.h"

namespace pil::server {

absl::StatusOr<std::vector<std::string>> LifecycleEngine::Adopt() {
  std::vector<std::string> actions;
  for (const auto& owned : slots_) {
    Slot& slot = *owned;
    if (slot.ops == nullptr) continue;
    CallContext ctx;
    ctx.caller.peer = "adopt";
    Transaction tx(this, &slot, ctx);
    auto adoption = slot.ops->Adopt(tx);
    if (!adoption.ok()) return adoption.status();
    for (const Step& step : tx.steps()) {
      actions.push_back(
          absl::StrCat(slot.node.name, ": ", step.name, " ", step.detail));
    }
    actions.insert(actions.end(), adoption->actions.begin(),
                   adoption->actions.end());
    if (adoption->found == platform::Adoption::Found::kOffline) continue;
    absl::MutexLock lock(&mu_);
    LoadedImage adopted;
    adopted.source = "(adopted: running when pild started)";
    slot.image = adopted;
    SetState(slot,
             adoption->found == platform::Adoption::Found::kRunning
                 ? State::kRunning
                 : State::kCrashed,
             "adopted");
  }
  return actions;
}

}  // namespace pil::server
