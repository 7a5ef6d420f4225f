// AsyncClient::AcquireLease: a Lease stream held open until destroyed.
#include <grpcpp/grpcpp.h>

#include "client/async_internal.h"
#include "common/rpc_status.h"

namespace pil::client::internal {
namespace {

using Stub = v1::LifecycleService::Stub;

class Held final : public Lease,
                   public grpc::ClientReadReactor<v1::LeaseResponse> {
 public:
  Held(std::shared_ptr<Stub> stub, std::vector<std::string> names,
       const std::string& holder, AsyncClient::LeaseCallbacks callbacks)
      : stub_(std::move(stub)), callbacks_(std::move(callbacks)) {
    for (std::string& name : names) request_.add_names(std::move(name));
    request_.set_holder(holder);
    context_.set_wait_for_ready(true);
    stub_->async()->Lease(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  // Releases: cancels the stream (pild stops what it held) and waits for
  // the stream's end.
  ~Held() override {
    {
      absl::MutexLock lock(&mu_);
      released_ = true;
    }
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    if (!granted_) {
      granted_ = true;
      LeaseInfo info;
      info.id = response_.lease_id();
      info.names.assign(response_.names().begin(), response_.names().end());
      info.holder = response_.holder();
      if (callbacks_.on_granted) callbacks_.on_granted(info);
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    bool released;
    {
      absl::MutexLock lock(&mu_);
      released = released_;
    }
    if (!released && callbacks_.on_end) {
      callbacks_.on_end(
          status.ok() ? absl::UnavailableError("pild ended the lease stream")
                      : FromGrpcStatus(status));
    }
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

 private:
  const std::shared_ptr<Stub> stub_;
  const AsyncClient::LeaseCallbacks callbacks_;
  grpc::ClientContext context_;
  v1::LeaseRequest request_;
  v1::LeaseResponse response_;
  bool granted_ = false;  // reader callbacks only
  absl::Mutex mu_;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<Lease> NewLease(std::shared_ptr<Stub> stub,
                                std::vector<std::string> names,
                                const std::string& holder,
                                AsyncClient::LeaseCallbacks callbacks) {
  return std::make_unique<Held>(std::move(stub), std::move(names), holder,
                                std::move(callbacks));
}

}  // namespace pil::client::internal
