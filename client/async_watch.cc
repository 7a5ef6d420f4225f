// AsyncClient::Watch: a Watch stream that reconnects and resumes.
#include <grpcpp/grpcpp.h>

#include <thread>

#include "client/async_internal.h"
#include "common/rpc_status.h"

namespace pil::client::internal {
namespace {

using Stub = v1::LifecycleService::Stub;

// Errors a retry cannot mend.
bool Permanent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

class Session;

// One connection's stream.
class Reader : public grpc::ClientReadReactor<v1::WatchEvent> {
 public:
  Reader(Session* session, Stub& stub, const v1::WatchRequest& request);
  void Begin() {
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  grpc::ClientContext context;

 private:
  Session* const session_;
  v1::WatchRequest request_;
  v1::WatchEvent event_;
  bool first_ = true;
};

class Session final : public WatchStream {
 public:
  Session(std::shared_ptr<Stub> stub, std::string name,
          AsyncClient::WatchCallbacks callbacks, absl::Duration min_backoff,
          absl::Duration max_backoff)
      : stub_(std::move(stub)),
        name_(std::move(name)),
        callbacks_(std::move(callbacks)),
        min_backoff_(min_backoff),
        max_backoff_(max_backoff) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Session() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      if (current_ != nullptr) current_->context.TryCancel();
    }
    thread_.join();
  }

  // From the reader (one at a time, in order).
  void Deliver(const v1::WatchEvent& proto, bool first_of_connection) {
    if (proto.initial()) {
      if (first_of_connection && positioned_ && callbacks_.on_resync) {
        callbacks_.on_resync(proto.epoch() != epoch_);
      }
    } else if (positioned_ && proto.epoch() == epoch_ &&
               proto.sequence() <= sequence_) {
      return;  // already delivered
    }
    positioned_ = true;
    epoch_ = proto.epoch();
    sequence_ = proto.sequence();
    delivered_ = true;
    if (callbacks_.on_event) callbacks_.on_event(FromProto(proto));
  }

  void Ended(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    ended_ = status;
    connection_done_ = true;
  }

 private:
  void Run() {
    absl::Duration backoff = min_backoff_;
    while (true) {
      v1::WatchRequest request;
      request.set_name(name_);
      if (positioned_) {
        request.set_after_sequence(sequence_);
        request.set_epoch(epoch_);
      }
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        connection_done_ = false;
        delivered_ = false;
        current_ = new Reader(this, *stub_, request);
      }
      current_->Begin();
      grpc::Status status;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(&connection_done_));
        delete current_;
        current_ = nullptr;
        status = ended_;
        if (stopping_) return;
      }
      if (Permanent(status.error_code())) {
        if (callbacks_.on_end) callbacks_.on_end(FromGrpcStatus(status));
        return;
      }
      if (delivered_) backoff = min_backoff_;
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
      if (stopping_) return;
      backoff = std::min(backoff * 2, max_backoff_);
    }
  }

  const std::shared_ptr<Stub> stub_;
  const std::string name_;
  const AsyncClient::WatchCallbacks callbacks_;
  const absl::Duration min_backoff_, max_backoff_;

  // Touched by the reader of the moment, and by Run between readers.
  bool positioned_ = false;
  std::string epoch_;
  uint64_t sequence_ = 0;
  bool delivered_ = false;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connection_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status ended_ ABSL_GUARDED_BY(mu_);
  Reader* current_ = nullptr;  // written under mu_
  std::thread thread_;
};

Reader::Reader(Session* session, Stub& stub, const v1::WatchRequest& request)
    : session_(session), request_(request) {
  context.set_wait_for_ready(true);
  stub.async()->Watch(&context, &request_, this);
}

void Reader::OnReadDone(bool ok) {
  if (!ok) return;  // OnDone follows
  session_->Deliver(event_, first_);
  first_ = false;
  StartRead(&event_);
}

void Reader::OnDone(const grpc::Status& status) { session_->Ended(status); }

}  // namespace

std::unique_ptr<WatchStream> NewWatch(std::shared_ptr<Stub> stub,
                                      const std::string& name,
                                      AsyncClient::WatchCallbacks callbacks,
                                      absl::Duration min_backoff,
                                      absl::Duration max_backoff) {
  return std::make_unique<Session>(std::move(stub), name, std::move(callbacks),
                                   min_backoff, max_backoff);
}

}  // namespace pil::client::internal
