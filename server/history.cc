#include "server/history.h"

#include "absl/strings/str_cat.h"

namespace pil::server {

std::string Caller::Describe() const {
  if (uid < 0) return peer;
  return absl::StrCat("uid ", uid, " pid ", pid);
}

const char* StateName(State state) {
  switch (state) {
    case State::kOffline:
      return "offline";
    case State::kAuthenticated:
      return "authenticated";
    case State::kMapped:
      return "mapped";
    case State::kRunning:
      return "running";
    case State::kStopping:
      return "stopping";
    case State::kCrashed:
      return "crashed";
    case State::kRecovering:
      return "recovering";
  }
  return "unknown";
}

uint64_t History::Add(HistoryEntry entry) {
  absl::MutexLock lock(&mu_);
  entry.id = next_id_++;
  entries_.push_back(std::move(entry));
  if (entries_.size() > kCapacity) entries_.pop_front();
  return entries_.back().id;
}

std::vector<HistoryEntry> History::Query(const std::string& coprocessor,
                                         size_t limit) const {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryEntry> out;
  for (auto it = entries_.rbegin(); it != entries_.rend() && out.size() < limit;
       ++it) {
    if (coprocessor.empty() || it->coprocessor == coprocessor) {
      out.push_back(*it);
    }
  }
  return out;
}

}  // namespace pil::server
