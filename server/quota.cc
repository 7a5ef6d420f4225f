#include "server/quota.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

Quota::Quota(std::string what, std::string reason, uint64_t total,
             uint64_t per_caller)
    : what_(std::move(what)),
      reason_(std::move(reason)),
      total_(total),
      per_caller_(per_caller),
      state_(std::make_shared<Ticket::State>()) {}

Quota::Ticket& Quota::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    state_ = std::move(other.state_);
    key_ = std::move(other.key_);
    amount_ = other.amount_;
    other.amount_ = 0;
  }
  return *this;
}

void Quota::Ticket::Release() {
  if (state_ == nullptr) return;
  {
    absl::MutexLock lock(&state_->mu);
    state_->used -= amount_;
    auto it = state_->by_key.find(key_);
    if (it != state_->by_key.end() && (it->second -= amount_) == 0) {
      state_->by_key.erase(it);
    }
  }
  state_ = nullptr;
  amount_ = 0;
}

absl::StatusOr<Quota::Ticket> Quota::Take(const std::string& key,
                                          uint64_t amount) {
  absl::MutexLock lock(&state_->mu);
  const uint64_t mine =
      state_->by_key.count(key) ? state_->by_key.at(key) : uint64_t{0};
  auto refuse = [&](absl::string_view scope, uint64_t limit, uint64_t used) {
    return Error(
        absl::StatusCode::kResourceExhausted, reason_,
        absl::StrCat(scope, " holds ", used, " of at most ", limit, " ", what_,
                     "; ", amount, " more asked; retry once some are released"),
        {{"limit", absl::StrCat(limit)},
         {"in_use", absl::StrCat(used)},
         {"asked", absl::StrCat(amount)}});
  };
  if (!key.empty() && amount > per_caller_ - std::min(mine, per_caller_)) {
    return refuse(absl::StrCat("this caller (", key, ")"), per_caller_, mine);
  }
  if (amount > total_ - std::min(state_->used, total_)) {
    return refuse("pild", total_, state_->used);
  }
  state_->used += amount;
  state_->by_key[key] += amount;
  Ticket ticket;
  ticket.state_ = state_;
  ticket.key_ = key;
  ticket.amount_ = amount;
  return ticket;
}

uint64_t Quota::in_use() const {
  absl::MutexLock lock(&state_->mu);
  return state_->used;
}

}  // namespace pil::server
