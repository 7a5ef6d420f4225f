// Every call's door: whether the policy lets the caller do what it asks,
// with every refusal in the audit trail. The policy can be replaced while
// pild serves (SIGHUP); calls already admitted keep the answer they got.
//
//   Gate gate(&history, std::move(policy));
//   if (absl::Status s = gate.Check(caller, Verb::kStart, "video", id);
//       !s.ok()) return s;  // PERMISSION_DENIED, already recorded
#ifndef PILD_SERVER_GATE_H_
#define PILD_SERVER_GATE_H_

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
  // coprocessor and the caller), recorded as a refused call.
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

 private:
  History* history_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const access::Policy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pil::server

#endif  // PILD_SERVER_GATE_H_
