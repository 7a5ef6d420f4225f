// Watch streams and per-coprocessor health: one engine subscription
// shared by every stream. Each event is converted to its message once and
// queued to every stream it concerns; a stream whose queue passes the limit
// is ended with RESOURCE_EXHAUSTED (WATCH_TOO_SLOW). The engine only hands
// events over (in its lock, in order); a thread of the hub's own fans them
// out, so the number of watchers never slows a transition. Thread-safe.
#ifndef PILD_SERVER_WATCH_HUB_H_
#define PILD_SERVER_WATCH_HUB_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "server/engine.h"
#include "server/quota.h"

namespace pil::server {

class WatchReactor;

// One engine subscription shared by every Watch stream, and the health
// status per coprocessor.
class WatchHub {
 public:
  WatchHub(LifecycleEngine* engine, size_t queue_limit);
  ~WatchHub();

  // Where a broken watch stopped (WatchRequest.after_sequence, epoch).
  struct Resume {
    uint64_t after_sequence = 0;
    std::string epoch;
  };

  // Registers `reactor` and queues it the events after `resume` when it
  // can (the epoch is this hub's and it still holds every later event),
  // else the current state of `name` (all when empty); false when no
  // coprocessor has that name.
  bool Add(WatchReactor* reactor, const std::string& name,
           const std::optional<Resume>& resume);
  void Remove(WatchReactor* reactor) {
    absl::MutexLock lock(&mu_);
    reactors_.erase(reactor);
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return reactors_.size();
  }
  size_t queue_limit() const { return queue_limit_; }
  // Random, fixed for the hub's life: the epoch of pild's run.
  const std::string& epoch() const { return epoch_; }

  // Keeps `health`'s per-coprocessor status ("pil.v1.LifecycleService/<name>":
  // serving while RUNNING) up to date; null stops.
  void ReportHealth(grpc::HealthCheckServiceInterface* health);

 private:
  // In the engine's lock: queues the event for Dispatch().
  void OnEvent(const StateEvent& event);
  // The fan-out thread: applies queued events in order.
  void Dispatch();
  void Apply(const std::string& name, bool running,
             const std::shared_ptr<const v1::WatchEvent>& event,
             uint64_t sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LifecycleEngine* engine_;
  const size_t queue_limit_;
  const std::string epoch_;
  uint64_t id_ = 0;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const v1::WatchEvent>> latest_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> running_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // The last queue_limit_ events, for resuming watches.
  std::deque<std::shared_ptr<const v1::WatchEvent>> recent_
      ABSL_GUARDED_BY(mu_);
  std::set<WatchReactor*> reactors_ ABSL_GUARDED_BY(mu_);
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(mu_) = nullptr;

  struct Pending {
    std::string name;
    bool running;
    std::shared_ptr<const v1::WatchEvent> event;
    uint64_t sequence;
  };
  absl::Mutex pending_mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(pending_mu_);
  bool stopping_ ABSL_GUARDED_BY(pending_mu_) = false;
  std::thread dispatcher_;
};

// A Watch call: a stream of the events of coprocessor `name` (all when
// empty) on `hub`, from where `resume` says when it can, for which `visible`
// (when set) holds at the time of the event, or, when no coprocessor has that
// name, the call ended with `unknown()`. `ticket` (its place among the watches)
// is released when the call is done.
grpc::ServerWriteReactor<v1::WatchEvent>* StartWatch(
    WatchHub* hub, const std::string& name,
    const std::optional<WatchHub::Resume>& resume, Quota::Ticket ticket,
    std::function<bool(const std::string&)> visible,
    const std::function<absl::Status()>& unknown);

}  // namespace pil::server

#endif  // PILD_SERVER_WATCH_HUB_H_
