// SimSoc: the event loop (timed behaviour) and signal delivery.
#include <algorithm>

#include "absl/time/clock.h"
#include "platform/sim/soc.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {

void SimSoc::Schedule(absl::Duration delay, std::function<void()> run) {
  events_.push_back(Event{absl::Now() + delay, next_event_++, std::move(run)});
  std::push_heap(events_.begin(), events_.end(),
                 [](const Event& a, const Event& b) {
                   return a.when > b.when || (a.when == b.when && a.id > b.id);
                 });
  wake_.Signal();
}

void SimSoc::SchedulerLoop() {
  auto later = [](const Event& a, const Event& b) {
    return a.when > b.when || (a.when == b.when && a.id > b.id);
  };
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (events_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    if (absl::Now() < events_.front().when) {
      wake_.WaitWithDeadline(&mu_, events_.front().when);
      continue;
    }
    std::pop_heap(events_.begin(), events_.end(), later);
    Event event = std::move(events_.back());
    events_.pop_back();
    event.run();
  }
}

void SimSoc::DeliveryLoop() {
  while (true) {
    pas::Signal signal;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && outbox_.empty()) deliver_.Wait(&mu_);
      if (outbox_.empty()) return;  // stopping
      signal = std::move(outbox_.front());
      outbox_.pop_front();
    }
    absl::MutexLock lock(&handler_mu_);
    if (handler_) handler_(signal);
  }
}

}  // namespace pil::sim
