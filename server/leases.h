// Leases: a client holds coprocessors while a Lease stream stays open.
// Others cannot move them (FAILED_PRECONDITION LEASED, naming the holder);
// when the lease ends — the holder cancels, dies or drops its connection —
// the coprocessors are stopped, one after another, on the registry's own
// thread. Bounded in total and per caller. Thread-safe.
//
//   Leases leases(64, 8, [&](const std::string& name, const Caller& by) {
//     engine.Stop(name, ...);
//   });
//   auto id = leases.Acquire(caller, {"adsp"}, "audio HAL");
//   ...
//   leases.Release(*id);  // adsp is stopped
#ifndef PILD_SERVER_LEASES_H_
#define PILD_SERVER_LEASES_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/caller.h"

namespace pil::server {

class Leases {
 public:
  struct Lease {
    uint64_t id = 0;
    std::vector<std::string> names;
    access::Caller holder;
    std::string label;  // the holder's own words
    absl::Time granted;
    // "uid 1000 pid 42 (audio HAL)".
    std::string Describe() const;
  };
  using Stop = std::function<void(const std::string& name, const Lease& lease)>;

  Leases(size_t max_total, size_t max_per_caller, Stop stop);
  // Finishes the stops already queued; leases still held end without one
  // (pild is going away: its coprocessors keep running, to be adopted).
  ~Leases();
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  // A lease of `names` for `holder`; FAILED_PRECONDITION LEASED when one is
  // held by another lease, RESOURCE_EXHAUSTED TOO_MANY_LEASES past a bound.
  absl::StatusOr<Lease> Acquire(const access::Caller& holder,
                                std::vector<std::string> names,
                                std::string label);
  // Ends lease `id` and queues the stop of each of its coprocessors.
  void Release(uint64_t id);
  // OK unless `name` is leased by someone other than `caller` (the same
  // process on the Unix socket, the same certificate over TCP): then
  // FAILED_PRECONDITION LEASED with the holder.
  absl::Status Check(const access::Caller& caller,
                     const std::string& name) const;
  std::vector<Lease> List() const;

 private:
  void StopLoop();

  const size_t max_total_, max_per_caller_;
  const Stop stop_;
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  // Released leases' coprocessors still to stop.
  std::deque<std::pair<std::string, Lease>> to_stop_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread stopper_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_LEASES_H_
