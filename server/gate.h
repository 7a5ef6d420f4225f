// Every call's door: whether the policy lets the caller do what it asks,
// with every refusal in the audit trail. The policy can be replaced while
// pild serves (SIGHUP); each call is judged by one policy, the one in force
// when it arrived.
//
//   absl::Status denied = gate.Decide(caller, Verb::kStart, "video");
//   if (!denied.ok())  // recorded, then answered
//     gate.Record(caller, Verb::kStart, "video", id, denied, reply);
#ifndef PILD_SERVER_GATE_H_
#define PILD_SERVER_GATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/access/policy.h"
#include "server/history.h"

namespace pil::server {

using access::Verb;

class Gate {
 public:
  Gate(History* history, access::Policy policy);

  void SetPolicy(access::Policy policy);
  std::shared_ptr<const access::Policy> policy() const;

  // OK when `caller` may `verb` on `coprocessor` (see Policy::Allows);
  // otherwise PERMISSION_DENIED (ACCESS_DENIED, with the verb, the
  // coprocessor and the caller). Records nothing.
  absl::Status Decide(const Caller& caller, Verb verb,
                      const std::string& coprocessor) const;
  // Queues the record of `denied` and runs `then` once it is on disk (at
  // once when the audit queue is full: the refusal is then counted, not
  // recorded). Never blocks.
  void Record(const Caller& caller, Verb verb, const std::string& coprocessor,
              const std::string& request_id, const absl::Status& denied,
              std::function<void()> then);
  // Decide(), and a denial recorded before it returns.
  absl::Status Check(const Caller& caller, Verb verb,
                     const std::string& coprocessor,
                     const std::string& request_id = "");
  bool Allows(const Caller& caller, Verb verb,
              const std::string& coprocessor) const;
  // The coprocessors whose records `caller` may read in the audit trail;
  // nullopt: all, and the records that name none.
  std::optional<std::vector<std::string>> HistoryScope(
      const Caller& caller) const;

  History& history() { return *history_; }
  // Denials recorded (or counted when the audit queue was full) so far.
  uint64_t denials() const { return denials_.load(); }

 private:
  History* history_;
  std::atomic<uint64_t> denials_{0};
  mutable absl::Mutex mu_;
  std::shared_ptr<const access::Policy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_GATE_H_
