#include "server/engine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error.h"

namespace pil::server {

LifecycleEngine::LifecycleEngine(
    const devicetree::Board& board,
    const std::map<std::string, State>& initial_states) {
  const absl::Time now = absl::Now();
  for (const devicetree::CoprocessorNode& node : board.coprocessors) {
    if (!node.enabled()) continue;
    CoprocessorStatus status;
    status.node = node;
    auto it = initial_states.find(node.path);
    status.state = it == initial_states.end() ? State::kOffline : it->second;
    status.state_since = now;
    coprocessors_.push_back(std::move(status));
  }
}

std::vector<CoprocessorStatus> LifecycleEngine::List() const {
  absl::MutexLock lock(&mu_);
  return coprocessors_;
}

absl::StatusOr<CoprocessorStatus> LifecycleEngine::Get(
    absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const CoprocessorStatus& c : coprocessors_) {
    if (c.node.name == name) return c;
    names.push_back(c.node.name);
  }
  return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
               absl::StrCat("no coprocessor named '", name,
                            "'; known: ", absl::StrJoin(names, ", ")),
               {{"coprocessor", std::string(name)}});
}

}  // namespace pil::server
