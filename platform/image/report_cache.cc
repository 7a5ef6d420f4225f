#include "platform/image/report_cache.h"

#include "platform/image/inspect.h"

namespace pil::image {

ReportCache::ReportCache(size_t capacity) : capacity_(capacity) {}

ReportCache& ReportCache::Shared() {
  static auto* cache = new ReportCache();
  return *cache;
}

std::optional<ImageReport> ReportCache::Find(const std::string& key) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first != key) continue;
    entries_.splice(entries_.begin(), entries_, it);
    ++hits_;
    return entries_.front().second;
  }
  ++misses_;
  return std::nullopt;
}

void ReportCache::Put(const std::string& key, const ImageReport& report) {
  if (capacity_ == 0) return;
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == key) {
      entries_.erase(it);
      break;
    }
  }
  entries_.emplace_front(key, report);
  while (entries_.size() > capacity_) entries_.pop_back();
}

size_t ReportCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void ReportCache::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
}

size_t ReportCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

size_t ReportCache::misses() const {
  absl::MutexLock lock(&mu_);
  return misses_;
}

}  // namespace pil::image
