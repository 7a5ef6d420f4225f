// The record of every transition: who asked for what, with which image,
// and how it ended. In memory (the newest 10000 entries). Thread-safe.
#ifndef PILD_SERVER_HISTORY_H_
#define PILD_SERVER_HISTORY_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/state.h"

namespace pil::server {

// Who made a call: the peer credentials of a Unix-socket caller (-1 when
// unknown) and the gRPC peer; or pild itself ("recovery", "adopt").
struct Caller {
  int64_t uid = -1, gid = -1, pid = -1;
  std::string peer;
  // "uid 1000 pid 4242", else the peer.
  std::string Describe() const;
};

struct HistoryEntry {
  uint64_t id = 0;  // assigned by History::Add
  absl::Time time;
  std::string coprocessor;
  std::string
      operation;  // authenticate, map, reset, start, stop, crash, recover
  std::string request_id;
  Caller caller;
  std::string image_sha256;
  State from = State::kOffline;
  State to = State::kOffline;
  std::string result;  // "OK" or the failure's reason
  std::string message;
  absl::Duration duration;
};

class History {
 public:
  static constexpr size_t kCapacity = 10000;

  // Records `entry` and returns its id.
  uint64_t Add(HistoryEntry entry);
  // Newest first; only `coprocessor`'s when not empty; at most `limit`.
  std::vector<HistoryEntry> Query(const std::string& coprocessor,
                                  size_t limit) const;

 private:
  mutable absl::Mutex mu_;
  std::deque<HistoryEntry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace pil::server

#endif  // PILD_SERVER_HISTORY_H_
