#include "server/gate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

Gate::Gate(History* history, access::Policy policy)
    : history_(history),
      policy_(std::make_shared<const access::Policy>(std::move(policy))) {}

void Gate::SetPolicy(access::Policy policy) {
  auto next = std::make_shared<const access::Policy>(std::move(policy));
  absl::MutexLock lock(&mu_);
  policy_ = std::move(next);
}

std::shared_ptr<const access::Policy> Gate::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

bool Gate::Allows(const Caller& caller, Verb verb,
                  const std::string& coprocessor) const {
  return policy()->Allows(caller, verb, coprocessor);
}

absl::Status Gate::Decide(const Caller& caller, Verb verb,
                          const std::string& coprocessor) const {
  const std::shared_ptr<const access::Policy> policy = this->policy();
  if (policy->Allows(caller, verb, coprocessor)) return absl::OkStatus();
  const std::string who = caller.Describe();
  return Error(absl::StatusCode::kPermissionDenied, "ACCESS_DENIED",
               absl::StrCat(who, " may not ", access::VerbName(verb),
                            coprocessor.empty() ? "" : " ", coprocessor,
                            " (policy: ", policy->Describe(), ")"),
               {{"verb", access::VerbName(verb)},
                {"coprocessor", coprocessor},
                {"caller", who}});
}

namespace {

HistoryEntry DenialRecord(const Caller& caller, Verb verb,
                          const std::string& coprocessor,
                          const std::string& request_id,
                          const absl::Status& denied) {
  HistoryEntry entry;
  entry.time = absl::Now();
  entry.coprocessor = coprocessor;
  entry.operation = access::VerbName(verb);
  entry.request_id = request_id;
  entry.caller = caller;
  entry.result = "ACCESS_DENIED";
  entry.message = std::string(denied.message());
  entry.refused = true;
  return entry;
}

}  // namespace

void Gate::Record(const Caller& caller, Verb verb,
                  const std::string& coprocessor, const std::string& request_id,
                  const absl::Status& denied, std::function<void()> then) {
  ++denials_;
  std::function<void(uint64_t)> done;
  if (then) done = [then](uint64_t) { then(); };
  if (!history_->Submit(
          DenialRecord(caller, verb, coprocessor, request_id, denied), done) &&
      then) {
    then();
  }
}

absl::Status Gate::Check(const Caller& caller, Verb verb,
                         const std::string& coprocessor,
                         const std::string& request_id) {
  absl::Status denied = Decide(caller, verb, coprocessor);
  if (!denied.ok()) {
    ++denials_;
    history_->Add(DenialRecord(caller, verb, coprocessor, request_id, denied));
  }
  return denied;
}

std::optional<std::vector<std::string>> Gate::HistoryScope(
    const Caller& caller) const {
  for (const access::Grant& grant : policy()->GrantsOf(caller)) {
    if (grant.verb != Verb::kHistory) continue;
    if (grant.all_coprocessors) return std::nullopt;
    return grant.coprocessors;
  }
  return std::vector<std::string>{};
}

}  // namespace pil::server
