// A count of something callers make pild hold (streams, bytes, calls),
// bounded in total and per caller. Take() either grants a Ticket, which
// gives its amount back when destroyed, or says which bound it would pass.
// Thread-safe; tickets may outlive the Quota.
//
//   Quota uploads("uploads", "TOO_MANY_UPLOADS", 16, 4);
//   auto ticket = uploads.Take(caller.Key());
//   if (!ticket.ok()) return ticket.status();  // RESOURCE_EXHAUSTED
#ifndef PILD_SERVER_QUOTA_H_
#define PILD_SERVER_QUOTA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace pil::server {

class Quota {
 public:
  // `what` names the counted thing in messages ("upload streams", "bytes of
  // uploads in flight"); `reason` is the ErrorInfo reason of a refusal.
  Quota(std::string what, std::string reason, uint64_t total,
        uint64_t per_caller);

  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Release(); }
    void Release();

   private:
    friend class Quota;
    struct State;
    std::shared_ptr<State> state_;
    std::string key_;
    uint64_t amount_ = 0;
  };

  // `amount` more for caller `key` ("": bound by the total only): a
  // Ticket, or RESOURCE_EXHAUSTED (`reason`) naming the bound, what is in
  // use and what was asked.
  absl::StatusOr<Ticket> Take(const std::string& key, uint64_t amount = 1);

  uint64_t in_use() const;
  uint64_t total() const { return total_; }
  uint64_t per_caller() const { return per_caller_; }

 private:
  const std::string what_, reason_;
  const uint64_t total_, per_caller_;
  std::shared_ptr<Ticket::State> state_;
};

struct Quota::Ticket::State {
  absl::Mutex mu;
  uint64_t used ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, uint64_t> by_key ABSL_GUARDED_BY(mu);
};

}  // namespace pil::server

#endif  // PILD_SERVER_QUOTA_H_
