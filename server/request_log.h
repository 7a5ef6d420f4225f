// Request ids seen recently and the outcome of each: a retried call with an
// id seen before gets the first call's outcome instead of running again. A
// record holds the whole request (operation, coprocessor and every other
// field, as the engine describes it), so that an id reused for a different
// request is told apart. Not thread-safe: the engine guards it with its
// lock.
#ifndef PILD_SERVER_REQUEST_LOG_H_
#define PILD_SERVER_REQUEST_LOG_H_

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/engine_types.h"

namespace pil::server {

class RequestLog {
 public:
  // How many ids are remembered (the oldest is forgotten first).
  static constexpr size_t kCapacity = 4096;

  struct Record {
    std::string id, request;
    bool done = false;
    absl::StatusOr<TransitionResult> result = absl::UnknownError("pending");
  };

  // The record of `id`, or nullptr when it was not seen (or forgotten).
  std::shared_ptr<Record> Find(const std::string& id) const;
  // A new pending record of `request` under `id`.
  std::shared_ptr<Record> Begin(const std::string& id,
                                const std::string& request);
  // Forgets `record` (an outcome a retry must not get: nothing ran).
  void Forget(const std::shared_ptr<Record>& record);

 private:
  std::list<std::shared_ptr<Record>> records_;  // oldest first
  absl::flat_hash_map<std::string, std::list<std::shared_ptr<Record>>::iterator>
      by_id_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_REQUEST_LOG_H_
