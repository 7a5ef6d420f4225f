#include "server/watch_hub.h"

#include <deque>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "server/status_proto.h"

namespace pil::server {
namespace {

constexpr char kHealthPrefix[] = "pil.v1.LifecycleService/";

class WatchError final : public grpc::ServerWriteReactor<v1::WatchEvent> {
 public:
  explicit WatchError(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

// 128 random bits in hex.
std::string NewEpoch() {
  absl::BitGen random;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(random),
                         absl::Uniform<uint64_t>(random));
}

}  // namespace

WatchHub::WatchHub(LifecycleEngine* engine, size_t queue_limit)
    : engine_(engine), queue_limit_(queue_limit), epoch_(NewEpoch()) {
  std::vector<StateEvent> initial;
  id_ =
      engine_->Subscribe([this](const StateEvent& e) { OnEvent(e); }, &initial);
  absl::MutexLock lock(&mu_);
  for (const StateEvent& e : initial) {
    v1::WatchEvent event = EventToProto(e);
    event.set_epoch(epoch_);
    last_sequence_ = e.sequence;
    latest_[e.status.node->name] =
        std::make_shared<const v1::WatchEvent>(std::move(event));
    order_.push_back(e.status.node->name);
    running_[e.status.node->name] = e.status.state == State::kRunning;
  }
  dispatcher_ = std::thread([this] { Dispatch(); });
}

WatchHub::~WatchHub() {
  engine_->Unsubscribe(id_);
  {
    absl::MutexLock lock(&pending_mu_);
    stopping_ = true;
  }
  dispatcher_.join();
}

void WatchHub::ReportHealth(grpc::HealthCheckServiceInterface* health) {
  absl::MutexLock lock(&mu_);
  health_ = health;
  if (health_ == nullptr) return;
  for (const auto& [name, running] : running_) {
    health_->SetServingStatus(kHealthPrefix + name, running);
  }
}

class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchEvent> {
 public:
  WatchReactor(WatchHub* hub, std::string name, Quota::Ticket ticket,
               std::function<bool(const std::string&)> visible)
      : hub_(hub),
        name_(std::move(name)),
        ticket_(std::move(ticket)),
        visible_(std::move(visible)) {}

  // Starts the stream; false when `name` is unknown.
  bool Begin(const std::optional<WatchHub::Resume>& resume) {
    // gRPC may call OnCancel on another thread with no event queued here;
    // taking the lock it takes makes the construction visible to
    // ThreadSanitizer, which cannot see gRPC's core.
    { absl::MutexLock lock(&mu_); }
    return hub_->Add(this, name_, resume);
  }

  // Queues `event` when it concerns this watcher.
  void Push(std::shared_ptr<const v1::WatchEvent> event) {
    const std::string& name = event->coprocessor().name();
    if (!name_.empty() && name != name_) return;
    if (visible_ && !visible_(name)) return;
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (queue_.size() >= hub_->queue_limit()) {
      finished_ = true;
      queue_.clear();
      Finish(ToGrpcStatus(
          Error(absl::StatusCode::kResourceExhausted, "WATCH_TOO_SLOW",
                absl::StrCat("this watcher fell ", hub_->queue_limit(),
                             " events behind; watch again to resynchronize"))));
      return;
    }
    queue_.push_back(std::move(event));
    if (in_flight_ == nullptr) WriteNext();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
    if (finished_) return;
    if (!ok) {
      // The stream broke. Every call must still be finished, and OnCancel
      // may have come first or may never come.
      finished_ = true;
      queue_.clear();
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the watch stream broke"));
      return;
    }
    if (!queue_.empty()) WriteNext();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Remove(this);
    // gRPC calls OnDone once every other reaction has returned; taking the
    // lock they took makes that order visible to ThreadSanitizer, which
    // cannot see gRPC's core.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void WriteNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    StartWrite(in_flight_.get());
  }

  WatchHub* hub_;
  const std::string name_;
  Quota::Ticket ticket_;
  const std::function<bool(const std::string&)> visible_;
  absl::Mutex mu_;
  std::deque<std::shared_ptr<const v1::WatchEvent>> queue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1::WatchEvent> in_flight_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish() was called
};

bool WatchHub::Add(WatchReactor* reactor, const std::string& name,
                   const std::optional<Resume>& resume) {
  absl::MutexLock lock(&mu_);
  if (!name.empty() && latest_.count(name) == 0) return false;
  reactors_.insert(reactor);
  // Every event after the resume point is still here when the oldest one
  // kept follows it directly (or nothing happened since).
  if (resume && resume->epoch == epoch_ &&
      resume->after_sequence <= last_sequence_ &&
      (resume->after_sequence == last_sequence_ ||
       (!recent_.empty() &&
        recent_.front()->sequence() <= resume->after_sequence + 1))) {
    for (const auto& event : recent_) {
      if (event->sequence() > resume->after_sequence) reactor->Push(event);
    }
    return true;
  }
  for (const std::string& n : order_) {
    if (!name.empty() && n != name) continue;
    auto event = std::make_shared<v1::WatchEvent>(*latest_[n]);
    event->set_initial(true);
    event->set_sequence(last_sequence_);
    event->set_previous_state(event->coprocessor().state());
    event->clear_reason();
    reactor->Push(std::move(event));
  }
  return true;
}

void WatchHub::OnEvent(const StateEvent& event) {
  v1::WatchEvent message = EventToProto(event);
  message.set_epoch(epoch_);
  Pending pending{event.status.node->name,
                  event.status.state == State::kRunning,
                  std::make_shared<const v1::WatchEvent>(std::move(message)),
                  event.sequence};
  absl::MutexLock lock(&pending_mu_);
  pending_.push_back(std::move(pending));
}

void WatchHub::Dispatch() {
  while (true) {
    std::deque<Pending> batch;
    {
      absl::MutexLock lock(&pending_mu_);
      pending_mu_.Await(absl::Condition(
          +[](WatchHub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->pending_mu_) {
            return !hub->pending_.empty() || hub->stopping_;
          },
          this));
      if (pending_.empty()) return;  // stopping
      batch.swap(pending_);
    }
    absl::MutexLock lock(&mu_);
    for (const Pending& p : batch)
      Apply(p.name, p.running, p.event, p.sequence);
  }
}

void WatchHub::Apply(const std::string& name, bool running,
                     const std::shared_ptr<const v1::WatchEvent>& event,
                     uint64_t sequence) {
  latest_[name] = event;
  last_sequence_ = sequence;
  recent_.push_back(event);
  if (recent_.size() > queue_limit_) recent_.pop_front();
  if (health_ != nullptr && running != running_[name]) {
    health_->SetServingStatus(kHealthPrefix + name, running);
  }
  running_[name] = running;
  for (WatchReactor* reactor : reactors_) reactor->Push(event);
}

grpc::ServerWriteReactor<v1::WatchEvent>* StartWatch(
    WatchHub* hub, const std::string& name,
    const std::optional<WatchHub::Resume>& resume, Quota::Ticket ticket,
    std::function<bool(const std::string&)> visible,
    const std::function<absl::Status()>& unknown) {
  auto* reactor =
      new WatchReactor(hub, name, std::move(ticket), std::move(visible));
  if (!reactor->Begin(resume)) {
    delete reactor;
    return new WatchError(unknown());
  }
  return reactor;
}

}  // namespace pil::server
