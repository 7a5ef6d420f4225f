// LifecycleService::Lease: a stream that holds coprocessors until it ends.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/log.h"
#include "server/access/identity.h"
#include "server/requests.h"
#include "server/service.h"
#include "server/service_internal.h"
#include "server/status_proto.h"

namespace pil::server {
namespace {

constexpr size_t kMaxHolderLabel = 128;

absl::Status CheckHolder(const std::string& label) {
  bool printable = label.size() <= kMaxHolderLabel;
  for (const char c : label) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) printable = false;
  }
  if (printable) return absl::OkStatus();
  return Error(absl::StatusCode::kInvalidArgument, "HOLDER_INVALID",
               absl::StrCat("holder '", absl::CHexEscape(label.substr(0, 64)),
                            "' is not a label of at most ", kMaxHolderLabel,
                            " printable characters"));
}

// Sends the grant, then holds the lease until the call ends however it
// ends; then the lease is released (and its coprocessors stopped).
class LeaseReactor final : public grpc::ServerWriteReactor<v1::LeaseResponse> {
 public:
  LeaseReactor(Leases* leases, const Leases::Lease& lease)
      : leases_(leases), id_(lease.id) {
    {
      // OnCancel may run on another thread; it takes this lock, which makes
      // the construction visible to ThreadSanitizer (gRPC's core is not).
      absl::MutexLock lock(&mu_);
      grant_.set_lease_id(lease.id);
      for (const std::string& name : lease.names) grant_.add_names(name);
      grant_.set_holder(lease.Describe());
      TimeToProto(lease.granted, grant_.mutable_granted());
    }
    StartWrite(&grant_);
  }
  void OnWriteDone(bool ok) override {
    // The grant is out; the lease lasts until the client goes away. A
    // write that failed means it already has.
    if (!ok)
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "lease stream broke"));
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override {
    leases_->Release(id_);
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void End(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  Leases* leases_;
  const uint64_t id_;
  v1::LeaseResponse grant_;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::LeaseResponse>* LifecycleService::Lease(
    grpc::CallbackServerContext* context, const v1::LeaseRequest* request) {
  const Caller caller = access::Identify(*context);
  std::vector<std::string> names(request->names().begin(),
                                 request->names().end());
  absl::Status valid = CheckHolder(request->holder());
  if (valid.ok() && names.empty()) {
    valid = Invalid("MISSING_FIELD", "names: lease at least one coprocessor");
  }
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!valid.ok()) break;
    valid = RequireName(name);
    if (valid.ok() && !seen.insert(name).second) {
      valid = Invalid("DUPLICATE_NAME",
                      absl::StrCat("names: ", name, " is named twice"));
    }
  }
  if (!valid.ok()) return new EndedWriter<v1::LeaseResponse>(valid);
  for (const std::string& name : names) {
    for (Verb verb : {Verb::kStart, Verb::kStop}) {
      if (absl::Status denied = gate_->Decide(caller, verb, name);
          !denied.ok()) {
        return EndedWriter<v1::LeaseResponse>::Denied(*gate_, caller, verb,
                                                      name, denied);
      }
    }
    if (auto known = engine_->Get(name); !known.ok()) {
      return new EndedWriter<v1::LeaseResponse>(known.status());
    }
  }
  auto lease = leases_->Acquire(caller, std::move(names), request->holder());
  if (!lease.ok()) return new EndedWriter<v1::LeaseResponse>(lease.status());
  PILD_LOG(INFO) << "lease " << lease->id << " granted to "
                 << lease->Describe();
  return new LeaseReactor(leases_.get(), *lease);
}

}  // namespace pil::server
