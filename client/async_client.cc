#include "client/async_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/async_internal.h"
#include "client/channel.h"
#include "common/error.h"
#include "common/rpc_status.h"

namespace pil::client {
namespace internal {

bool Tracker::Add(const std::shared_ptr<CallBase>& call) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  call->tracked.tracker = this;
  calls_.push_back(call);
  ++live_;
  // Forget the handles of finished calls now and then.
  if (calls_.size() > 2 * live_ + 16) {
    calls_.erase(std::remove_if(calls_.begin(), calls_.end(),
                                [](const auto& w) { return w.expired(); }),
                 calls_.end());
  }
  return true;
}

void Tracker::Release() {
  absl::MutexLock lock(&mu_);
  --live_;
}

Tracked::~Tracked() {
  if (tracker != nullptr) tracker->Release();
}

void Tracker::Shutdown() {
  std::vector<std::weak_ptr<CallBase>> calls;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    calls.swap(calls_);
  }
  for (const auto& weak : calls) {
    if (auto call = weak.lock()) call->context.TryCancel();
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](size_t* live) { return *live == 0; }, &live_));
}

LocalAnswers::~LocalAnswers() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void LocalAnswers::Post(std::function<void()> answer) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(answer));
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
}

void LocalAnswers::Run() {
  while (true) {
    std::vector<std::function<void()>> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](LocalAnswers* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) {
            return !a->queue_.empty() || a->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      batch.swap(queue_);
    }
    for (auto& answer : batch) answer();
  }
}

void Prepare(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(true);
}

namespace {

State StateOf(v1::State state) {
  switch (state) {
    case v1::STATE_OFFLINE:
      return State::kOffline;
    case v1::STATE_AUTHENTICATED:
      return State::kAuthenticated;
    case v1::STATE_MAPPED:
      return State::kMapped;
    case v1::STATE_RUNNING:
      return State::kRunning;
    case v1::STATE_STOPPING:
      return State::kStopping;
    case v1::STATE_CRASHED:
      return State::kCrashed;
    case v1::STATE_RECOVERING:
      return State::kRecovering;
    default:
      return State::kUnspecified;
  }
}

}  // namespace

Coprocessor FromProto(const v1::Coprocessor& proto) {
  Coprocessor c;
  c.name = proto.name();
  c.state = StateOf(proto.state());
  c.pas_id = proto.pas_id();
  c.image_source = proto.image().source();
  c.image_sha256 = proto.image().sha256();
  c.image_version = proto.image().version();
  c.crash_count = proto.crash_count();
  c.last_error_reason = proto.last_error().reason();
  c.last_error_message = proto.last_error().message();
  return c;
}

Transition FromProto(const v1::TransitionResponse& proto) {
  Transition t;
  t.coprocessor = FromProto(proto.coprocessor());
  t.request_id = proto.request_id();
  t.replayed = proto.replayed();
  t.dry_run = proto.dry_run();
  for (const v1::Step& step : proto.steps()) {
    t.steps.push_back(absl::StrCat(step.name(), ": ", step.detail()));
  }
  t.note = proto.note();
  return t;
}

std::string OperationText(v1::Operation operation) {
  std::string text = v1::Operation_Name(operation);
  if (absl::StartsWith(text, "OPERATION_")) text.erase(0, 10);
  return absl::AsciiStrToLower(text);
}

Event FromProto(const v1::WatchEvent& proto) {
  Event e;
  e.sequence = proto.sequence();
  e.epoch = proto.epoch();
  e.initial = proto.initial();
  e.previous_state = StateOf(proto.previous_state());
  e.coprocessor = FromProto(proto.coprocessor());
  e.operation = OperationText(proto.operation());
  e.reason = proto.reason();
  return e;
}

}  // namespace internal

const char* StateName(State state) {
  switch (state) {
    case State::kOffline:
      return "offline";
    case State::kAuthenticated:
      return "authenticated";
    case State::kMapped:
      return "mapped";
    case State::kRunning:
      return "running";
    case State::kStopping:
      return "stopping";
    case State::kCrashed:
      return "crashed";
    case State::kRecovering:
      return "recovering";
    case State::kUnspecified:
      break;
  }
  return "unspecified";
}

void Call::Cancel() const {
  if (auto state = state_.lock()) {
    static_cast<internal::CallBase*>(state.get())->context.TryCancel();
  }
}

namespace {

using internal::CallBase;
using Stub = v1::LifecycleService::Stub;
using Async = v1::LifecycleService::StubInterface::async_interface;
using GrpcDone = std::function<void(grpc::Status)>;

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

void SetSource(const Firmware& firmware, v1::FirmwareSource* out) {
  if (firmware.kind == Firmware::Kind::kName) {
    out->set_firmware_name(firmware.value);
  } else if (firmware.kind == Firmware::Kind::kUpload) {
    out->set_upload_sha256(firmware.value);
  }
}

// A deadline that has passed before the call starts is a mistake, not a
// way to say "the default".
absl::Status BadTimeout(absl::Duration timeout) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_TIMEOUT",
               absl::StrCat("a call's timeout must be positive; got ",
                            absl::FormatDuration(timeout),
                            " (leave it unset for the verb's default)"));
}

class Client final : public AsyncClient {
 public:
  explicit Client(const Options& options)
      : options_(options),
        stub_(v1::LifecycleService::NewStub(
            NewChannel(options.address, options.tls, options.keepalive))) {}
  // Then answers_ runs the refusals left and joins (members go in reverse).
  ~Client() override { tracker_.Shutdown(); }

  Call List(Done<std::vector<Coprocessor>> done,
            const CallOptions& options) override {
    return Unary<v1::ListCoprocessorsRequest, v1::ListCoprocessorsResponse>(
        {}, Query(options),
        [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
           GrpcDone f) { a->ListCoprocessors(c, q, r, std::move(f)); },
        [](const v1::ListCoprocessorsResponse& r) {
          std::vector<Coprocessor> all;
          for (const auto& c : r.coprocessors()) {
            all.push_back(internal::FromProto(c));
          }
          return all;
        },
        std::move(done));
  }

  Call Get(const std::string& name, Done<Coprocessor> done,
           const CallOptions& options) override {
    v1::GetCoprocessorRequest request;
    request.set_name(name);
    return Unary<v1::GetCoprocessorRequest, v1::Coprocessor>(
        std::move(request), Query(options),
        [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
           GrpcDone f) { a->GetCoprocessor(c, q, r, std::move(f)); },
        [](const v1::Coprocessor& r) { return internal::FromProto(r); },
        std::move(done));
  }

  Call Authenticate(const std::string& name, const Firmware& firmware,
                    Done<Transition> done,
                    const CallOptions& options) override {
    v1::AuthenticateRequest request;
    request.set_name(name);
    request.set_request_id(IdOf(options));
    if (firmware.kind != Firmware::Kind::kDefault) {
      SetSource(firmware, request.mutable_firmware());
    }
    return Transit(std::move(request), options, std::move(done),
                   [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
                      GrpcDone f) { a->Authenticate(c, q, r, std::move(f)); });
  }

  Call Map(const std::string& name, Done<Transition> done,
           const CallOptions& options) override {
    v1::MapRequest request;
    request.set_name(name);
    request.set_request_id(IdOf(options));
    return Transit(std::move(request), options, std::move(done),
                   [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
                      GrpcDone f) { a->Map(c, q, r, std::move(f)); });
  }

  Call Reset(const std::string& name,
             std::optional<absl::Duration> ready_timeout, Done<Transition> done,
             const CallOptions& options) override {
    v1::ResetRequest request;
    request.set_name(name);
    request.set_request_id(IdOf(options));
    if (ready_timeout)
      SetDuration(*ready_timeout, request.mutable_ready_timeout());
    return Transit(std::move(request), options, std::move(done),
                   [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
                      GrpcDone f) { a->Reset(c, q, r, std::move(f)); });
  }

  Call Start(const std::string& name, const Firmware& firmware,
             Done<Transition> done, const CallOptions& options,
             std::optional<absl::Duration> ready_timeout) override {
    return StartCall(name, firmware, false, ready_timeout, std::move(done),
                     options);
  }

  Call DryRunStart(const std::string& name, const Firmware& firmware,
                   Done<Transition> done, const CallOptions& options) override {
    return StartCall(name, firmware, true, std::nullopt, std::move(done),
                     options);
  }

  Call Stop(const std::string& name, Done<Transition> done,
            const CallOptions& options,
            std::optional<absl::Duration> stop_ack_timeout) override {
    v1::StopRequest request;
    request.set_name(name);
    request.set_request_id(IdOf(options));
    if (stop_ack_timeout) {
      SetDuration(*stop_ack_timeout, request.mutable_stop_ack_timeout());
    }
    return Transit(std::move(request), options, std::move(done),
                   [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
                      GrpcDone f) { a->Stop(c, q, r, std::move(f)); });
  }

  Call Upload(const std::string& path, const std::string& display_name,
              Done<UploadResult> done,
              std::function<void(uint64_t, uint64_t)> progress,
              const CallOptions& options) override {
    const absl::Duration timeout =
        options.timeout.value_or(options_.transfer_timeout);
    if (timeout <= absl::ZeroDuration()) {
      internal::Refuse(answers_, std::move(done), BadTimeout(timeout));
      return Call();
    }
    return internal::StartUpload(*stub_, tracker_, answers_, path, display_name,
                                 timeout, std::move(done), std::move(progress));
  }

  Call GetCoredump(const std::string& name, uint64_t crash_id,
                   const std::string& path, Done<CoredumpResult> done,
                   const CallOptions& options) override {
    const absl::Duration timeout =
        options.timeout.value_or(options_.transfer_timeout);
    if (timeout <= absl::ZeroDuration()) {
      internal::Refuse(answers_, std::move(done), BadTimeout(timeout));
      return Call();
    }
    return internal::StartCoredump(*stub_, tracker_, answers_, name, crash_id,
                                   path, timeout, std::move(done));
  }

  std::unique_ptr<WatchStream> Watch(const std::string& name,
                                     WatchCallbacks callbacks) override {
    return internal::NewWatch(stub_, name, std::move(callbacks),
                              options_.min_backoff, options_.max_backoff);
  }

  std::unique_ptr<Lease> AcquireLease(std::vector<std::string> names,
                                      const std::string& holder,
                                      LeaseCallbacks callbacks) override {
    return internal::NewLease(stub_, std::move(names), holder,
                              std::move(callbacks));
  }

 private:
  absl::Duration Query(const CallOptions& o) const {
    return o.timeout.value_or(options_.query_timeout);
  }
  static std::string IdOf(const CallOptions& o) {
    return o.request_id.empty() ? NewRequestId() : o.request_id;
  }

  Call StartCall(const std::string& name, const Firmware& firmware,
                 bool dry_run, std::optional<absl::Duration> ready_timeout,
                 Done<Transition> done, const CallOptions& options) {
    v1::StartRequest request;
    request.set_name(name);
    if (dry_run) {
      request.set_dry_run(true);
    } else {
      request.set_request_id(IdOf(options));
    }
    if (firmware.kind != Firmware::Kind::kDefault) {
      SetSource(firmware, request.mutable_firmware());
    }
    if (ready_timeout)
      SetDuration(*ready_timeout, request.mutable_ready_timeout());
    return Transit(std::move(request), options, std::move(done),
                   [](Async* a, grpc::ClientContext* c, const auto* q, auto* r,
                      GrpcDone f) { a->Start(c, q, r, std::move(f)); });
  }

  template <typename Req, typename Begin>
  Call Transit(Req request, const CallOptions& options, Done<Transition> done,
               Begin begin) {
    return Unary<Req, v1::TransitionResponse>(
        std::move(request),
        options.timeout.value_or(options_.transition_timeout), begin,
        [](const v1::TransitionResponse& r) { return internal::FromProto(r); },
        std::move(done));
  }

  // Starts one unary call; `done` gets `convert(response)` or the error.
  template <typename Req, typename Resp, typename Begin, typename Convert,
            typename T>
  Call Unary(Req request, absl::Duration timeout, Begin begin, Convert convert,
             Done<T> done) {
    struct State : CallBase {
      Req request;
      Resp response;
      Done<T> done;
    };
    if (timeout <= absl::ZeroDuration()) {
      internal::Refuse(answers_, std::move(done), BadTimeout(timeout));
      return Call();
    }
    auto state = std::make_shared<State>();
    state->request = std::move(request);
    state->done = std::move(done);
    internal::Prepare(state->context, timeout);
    if (!tracker_.Add(state)) {
      internal::Refuse(answers_, std::move(state->done),
                       absl::CancelledError("the client is being destroyed"));
      return Call();
    }
    begin(stub_->async(), &state->context, &state->request, &state->response,
          [state, convert](grpc::Status status) {
            if (status.ok()) {
              state->done(absl::StatusOr<T>(convert(state->response)));
            } else {
              state->done(absl::StatusOr<T>(FromGrpcStatus(status)));
            }
            // What the caller's callback holds goes now, not whenever gRPC
            // lets go of this closure.
            state->done = nullptr;
          });
    return Call(std::weak_ptr<void>(
        std::shared_ptr<void>(state, static_cast<CallBase*>(state.get()))));
  }

  const Options options_;
  std::shared_ptr<Stub> stub_;
  internal::Tracker tracker_;
  internal::LocalAnswers answers_;
};

}  // namespace

std::unique_ptr<AsyncClient> AsyncClient::Create(const Options& options) {
  return std::make_unique<Client>(options);
}

}  // namespace pil::client
