// Request ids seen recently and the outcome of each: a retried call with an
// id seen before gets the first call's outcome instead of running again.
// Not thread-safe: the engine guards it with its lock.
#ifndef PILD_SERVER_REQUEST_LOG_H_
#define PILD_SERVER_REQUEST_LOG_H_

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/engine_types.h"

namespace pil::server {

class RequestLog {
 public:
  // How many ids are remembered (the oldest is forgotten first).
  static constexpr size_t kCapacity = 4096;

  struct Record {
    std::string id, operation, name;
    bool done = false;
    absl::StatusOr<TransitionResult> result = absl::UnknownError("pending");
  };

  // The record of `id`, or nullptr when it was not seen (or forgotten).
  std::shared_ptr<Record> Find(const std::string& id) const;
  // A new pending record for `id`.
  std::shared_ptr<Record> Begin(const std::string& id,
                                const std::string& operation,
                                const std::string& name);

 private:
  std::list<std::shared_ptr<Record>> records_;  // oldest first
};

}  // namespace pil::server

#endif  // PILD_SERVER_REQUEST_LOG_H_
