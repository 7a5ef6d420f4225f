#include "server/workers.h"

#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::server {

Workers::~Workers() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

bool Workers::Run(std::function<void()> work, std::function<void()> then) {
  return Submit("", std::move(work), std::move(then)).ok();
}

absl::Status Workers::Submit(const std::string& key, std::function<void()> work,
                             std::function<void()> then) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || busy_ + queue_.size() >= max_) {
    return Error(
        absl::StatusCode::kResourceExhausted, "SERVER_BUSY",
        absl::StrCat("more than ", max_, " calls in progress; retry later"),
        {{"limit", absl::StrCat(max_)}});
  }
  if (!key.empty()) {
    size_t& mine = by_key_[key];
    if (mine >= per_key_) {
      return Error(absl::StatusCode::kResourceExhausted, "CALLER_BUSY",
                   absl::StrCat("this caller (", key, ") has ", mine,
                                " calls in progress, the most one caller may "
                                "have; retry when one ends"),
                   {{"limit", absl::StrCat(per_key_)}});
    }
    ++mine;
  }
  queue_.push_back({std::move(work), std::move(then), key});
  if (queue_.size() > idle_) threads_.emplace_back([this] { Loop(); });
  return absl::OkStatus();
}

void Workers::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(
        +[](Workers* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
          return !w->queue_.empty() || w->stopping_;
        },
        this));
    --idle_;
    if (queue_.empty()) return;  // stopping
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    mu_.Unlock();
    job.work();
    mu_.Lock();
    --busy_;
    if (!job.key.empty()) {
      auto it = by_key_.find(job.key);
      if (--it->second == 0) by_key_.erase(it);
    }
    if (job.then) {
      mu_.Unlock();
      job.then();
      mu_.Lock();
    }
  }
}

}  // namespace pil::server
