// Internals of async_client.h shared by its source files.
#ifndef PILD_CLIENT_ASYNC_INTERNAL_H_
#define PILD_CLIENT_ASYNC_INTERNAL_H_

#include <grpcpp/client_context.h>

#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/async_client.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"

namespace pil::client::internal {

class Tracker;

// Marks a call live from its creation to its destruction.
struct Tracked {
  Tracked() = default;
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked();
  Tracker* tracker = nullptr;
};

// What a Call handle cancels.
struct CallBase {
  virtual ~CallBase() = default;
  // Declared first, so destroyed last: the context holds a reference to the
  // channel, and the client must not drop its own before the context's is
  // gone (gRPC's callback threads cannot destroy the last channel).
  Tracked tracked;
  grpc::ClientContext context;
};

// Counts a client's calls until each is destroyed, so that its destructor
// can cancel them and wait: their `done` has run and no gRPC thread holds
// the channel through them.
class Tracker {
 public:
  // False once Shutdown() began (the call is not started).
  bool Add(const std::shared_ptr<CallBase>& call);
  // Cancels every call and waits until each was destroyed.
  void Shutdown();

 private:
  friend struct Tracked;
  void Release();

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::weak_ptr<CallBase>> calls_ ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
};

// Runs the answers of calls refused before they started (a bad timeout, a
// file that cannot be opened, a client being destroyed) on a thread of its
// own, so that `done` never runs on the calling thread. Started on first
// use; the destructor runs what was posted, then joins.
class LocalAnswers {
 public:
  LocalAnswers() = default;
  LocalAnswers(const LocalAnswers&) = delete;
  LocalAnswers& operator=(const LocalAnswers&) = delete;
  ~LocalAnswers();
  void Post(std::function<void()> answer);

 private:
  void Run();

  absl::Mutex mu_;
  std::vector<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// `done(status)` through `answers`.
template <typename T>
void Refuse(LocalAnswers& answers, Done<T> done, absl::Status status) {
  answers.Post([done = std::move(done), status = std::move(status)] {
    done(absl::StatusOr<T>(status));
  });
}

// A context deadline `timeout` from now; calls wait for pild to be reachable.
void Prepare(grpc::ClientContext& context, absl::Duration timeout);

Coprocessor FromProto(const v1::Coprocessor& proto);
Transition FromProto(const v1::TransitionResponse& proto);
Event FromProto(const v1::WatchEvent& proto);
// "OPERATION_START" -> "start".
std::string OperationText(v1::Operation operation);

// SHA-256 in lower-case hex, fed in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  std::string Hex();

 private:
  void* ctx_;
};

std::unique_ptr<WatchStream> NewWatch(
    std::shared_ptr<v1::LifecycleService::Stub> stub, const std::string& name,
    AsyncClient::WatchCallbacks callbacks, absl::Duration min_backoff,
    absl::Duration max_backoff);

std::unique_ptr<Lease> NewLease(
    std::shared_ptr<v1::LifecycleService::Stub> stub,
    std::vector<std::string> names, const std::string& holder,
    AsyncClient::LeaseCallbacks callbacks);

// Upload and coredump, tracked by `tracker`; refusals through `answers`.
Call StartUpload(v1::LifecycleService::Stub& stub, Tracker& tracker,
                 LocalAnswers& answers, const std::string& path,
                 const std::string& display_name, absl::Duration timeout,
                 Done<UploadResult> done,
                 std::function<void(uint64_t, uint64_t)> progress);
Call StartCoredump(v1::LifecycleService::Stub& stub, Tracker& tracker,
                   LocalAnswers& answers, const std::string& name,
                   uint64_t crash_id, const std::string& path,
                   absl::Duration timeout, Done<CoredumpResult> done);

}  // namespace pil::client::internal

#endif  // PILD_CLIENT_ASYNC_INTERNAL_H_
