// A bounded pool of threads for blocking work. Threads are started on
// demand up to the bound and then kept. Thread-safe.
#ifndef PILD_SERVER_WORKERS_H_
#define PILD_SERVER_WORKERS_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pil::server {

class Workers {
 public:
  explicit Workers(size_t max_threads) : max_(max_threads) {}
  // Finishes the work already accepted, then joins the threads.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `work` on a worker thread and then, once its slot is free again,
  // `then` (so that a caller answered by `then` can call again at once);
  // false (and both dropped) when `max_threads` works are already running
  // or waiting.
  bool Run(std::function<void()> work, std::function<void()> then = nullptr);

 private:
  void Loop();

  const size_t max_;
  absl::Mutex mu_;
  struct Job {
    std::function<void()> work, then;
  };
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  size_t busy_ ABSL_GUARDED_BY(mu_) = 0;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_WORKERS_H_
