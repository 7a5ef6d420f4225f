#include "server/workers.h"

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
  absl::MutexLock lock(&mu_);
  if (stopping_ || busy_ + queue_.size() >= max_) return false;
  queue_.push_back({std::move(work), std::move(then)});
  if (queue_.size() > idle_) threads_.emplace_back([this] { Loop(); });
  return true;
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
    if (job.then) {
      mu_.Unlock();
      job.then();
      mu_.Lock();
    }
  }
}

}  // namespace pil::server
