#include "server/leases.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {
namespace {

bool SameHolder(const access::Caller& a, const access::Caller& b) {
  if (!a.certificate.empty() || !b.certificate.empty()) {
    return a.certificate == b.certificate;
  }
  return a.uid >= 0 && a.uid == b.uid && a.pid == b.pid;
}

}  // namespace

std::string Leases::Lease::Describe() const {
  return label.empty() ? holder.Describe()
                       : absl::StrCat(holder.Describe(), " (", label, ")");
}

Leases::Leases(size_t max_total, size_t max_per_caller, Stop stop)
    : max_total_(max_total),
      max_per_caller_(max_per_caller),
      stop_(std::move(stop)),
      stopper_([this] { StopLoop(); }) {}

Leases::~Leases() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  stopper_.join();
}

absl::StatusOr<Leases::Lease> Leases::Acquire(const access::Caller& holder,
                                              std::vector<std::string> names,
                                              std::string label) {
  absl::MutexLock lock(&mu_);
  size_t mine = 0;
  for (const auto& [id, lease] : leases_) {
    if (lease.holder.Key() == holder.Key()) ++mine;
    for (const std::string& name : names) {
      if (std::find(lease.names.begin(), lease.names.end(), name) !=
          lease.names.end()) {
        return Error(absl::StatusCode::kFailedPrecondition, "LEASED",
                     absl::StrCat(name, " is leased by ", lease.Describe()),
                     {{"coprocessor", name}, {"holder", lease.Describe()}});
      }
    }
  }
  if (leases_.size() >= max_total_ ||
      (!holder.Key().empty() && mine >= max_per_caller_)) {
    const bool total = leases_.size() >= max_total_;
    return Error(
        absl::StatusCode::kResourceExhausted, "TOO_MANY_LEASES",
        absl::StrCat(total ? "pild holds " : "this caller holds ",
                     total ? leases_.size() : mine, " leases, the most it may"),
        {{"limit", absl::StrCat(total ? max_total_ : max_per_caller_)}});
  }
  Lease lease{next_id_++, std::move(names), holder, std::move(label),
              absl::Now()};
  leases_[lease.id] = lease;
  return lease;
}

void Leases::Release(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  for (const std::string& name : it->second.names) {
    to_stop_.emplace_back(name, it->second);
  }
  leases_.erase(it);
}

absl::Status Leases::Check(const access::Caller& caller,
                           const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, lease] : leases_) {
    if (std::find(lease.names.begin(), lease.names.end(), name) ==
            lease.names.end() ||
        SameHolder(lease.holder, caller)) {
      continue;
    }
    return Error(absl::StatusCode::kFailedPrecondition, "LEASED",
                 absl::StrCat(name, " is leased by ", lease.Describe(),
                              ": only the holder may move it until the "
                              "lease ends"),
                 {{"coprocessor", name}, {"holder", lease.Describe()}});
  }
  return absl::OkStatus();
}

std::vector<Leases::Lease> Leases::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Lease> out;
  for (const auto& [id, lease] : leases_) out.push_back(lease);
  return out;
}

void Leases::StopLoop() {
  while (true) {
    std::pair<std::string, Lease> next;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Leases* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->to_stop_.empty() || self->stopping_;
          },
          this));
      if (to_stop_.empty()) return;  // stopping, nothing left
      next = std::move(to_stop_.front());
      to_stop_.pop_front();
    }
    stop_(next.first, next.second);
  }
}

}  // namespace pil::server
