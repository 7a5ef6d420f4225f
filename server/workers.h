// A bounded pool of threads for blocking work. Threads are started on
// demand up to the bound and then kept. Work may be charged to a caller,
// who then holds at most `per_key` of the slots: one caller cannot occupy
// them all. Thread-safe.
#ifndef PILD_SERVER_WORKERS_H_
#define PILD_SERVER_WORKERS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace pil::server {

class Workers {
 public:
  explicit Workers(size_t max_threads, size_t per_key = SIZE_MAX)
      : max_(max_threads), per_key_(per_key) {}
  // Finishes the work already accepted, then joins the threads.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `work` on a worker thread and then, once its slot is free again,
  // `then` (so that a caller answered by `then` can call again at once);
  // false (and both dropped) when `max_threads` works are already running
  // or waiting.
  bool Run(std::function<void()> work, std::function<void()> then = nullptr);
  // Run() charged to caller `key` ("": to nobody): OK, or
  // RESOURCE_EXHAUSTED: SERVER_BUSY when every slot is taken, CALLER_BUSY
  // when `key` holds `per_key`.
  absl::Status Submit(const std::string& key, std::function<void()> work,
                      std::function<void()> then = nullptr);

  size_t max() const { return max_; }

 private:
  void Loop();

  const size_t max_, per_key_;
  absl::Mutex mu_;
  struct Job {
    std::function<void()> work, then;
    std::string key;
  };
  std::map<std::string, size_t> by_key_ ABSL_GUARDED_BY(mu_);
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  size_t busy_ ABSL_GUARDED_BY(mu_) = 0;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_WORKERS_H_
