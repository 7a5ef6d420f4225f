#include "platform/linux/kernel_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "platform/linux/kernel_coprocessor.h"
#include "platform/linux/remoteproc_sysfs.h"
#include "platform/linux/staging.h"

namespace pil::linux_platform {
namespace {

class KernelBackend : public platform::Backend {
 public:
  KernelBackend(const devicetree::Board& board, const KernelOptions& options,
                const std::vector<RemoteprocEntry>& remoteprocs)
      : options_(options),
        staging_(
            KernelFirmwareRoot(options.sysfs_root, options.firmware_root)) {
    std::vector<std::string> staged;
    for (const devicetree::CoprocessorNode& node : board.coprocessors) {
      if (!node.enabled()) continue;
      if (node.kind == devicetree::CoprocessorKind::kVideoCodec) {
        unsupported_[node.path] =
            "the kernel's video driver (venus/iris) loads the codec's "
            "firmware itself when the codec is used; it is not a remoteproc";
        continue;
      }
      if (node.boot == devicetree::BootMethod::kQdsp6Registers) {
        // Its remoteproc is the kernel's to recover: pild neither adopts
        // it (which would disable the kernel's recovery) nor drives it.
        unsupported_[node.path] = absl::StrCat(
            node.name, " boots without PAS in a way pild does not model; ",
            "the kernel's remoteproc keeps it");
        continue;
      }
      const RemoteprocEntry* match = nullptr;
      for (const RemoteprocEntry& e : remoteprocs) {
        if (e.of_node == node.path) match = &e;
      }
      for (const RemoteprocEntry& e : remoteprocs) {
        if (match == nullptr && e.of_node.empty() &&
            e.name == KernelName(node.name)) {
          match = &e;
        }
      }
      if (match == nullptr) {
        unsupported_[node.path] =
            absl::StrCat("no remoteproc in ", options.sysfs_root,
                         "/class/remoteproc belongs to ", node.path,
                         " (is its driver loaded?)");
        continue;
      }
      if (absl::StartsWith(match->firmware, "pild/")) {
        staged.push_back(match->firmware);
      }
      auto ops = std::make_unique<KernelCoprocessor>(
          options.sysfs_root, *match, node, &staging_, options.verify_threads,
          [this, path = node.path] { Report(path); });
      last_reported_[ops.get()] = match->state;
      coprocessors_[node.path] = std::move(ops);
    }
    staging_.Prune(staged);
  }

  // Starts the watcher; FAILED_PRECONDITION when it cannot be woken.
  absl::Status Start() {
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) {
      return Error(absl::StatusCode::kFailedPrecondition, "WATCH_FAILED",
                   absl::StrCat("eventfd: ", std::strerror(errno)));
    }
    watcher_ = std::thread([this] { Watch(); });
    return absl::OkStatus();
  }

  ~KernelBackend() override {
    stop_ = true;
    if (wake_ < 0) return;
    const uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof(one));
    watcher_.join();
    ::close(wake_);
  }

  std::string name() const override { return "linux"; }

  absl::StatusOr<platform::CoprocessorOps*> Ops(
      const devicetree::CoprocessorNode& node) override {
    auto it = coprocessors_.find(node.path);
    if (it != coprocessors_.end()) return it->second.get();
    auto why = unsupported_.find(node.path);
    return Error(absl::StatusCode::kUnimplemented, "NOT_SUPPORTED",
                 absl::StrCat(node.name,
                              " cannot be driven on the linux "
                              "backend: ",
                              why != unsupported_.end() ? why->second
                                                        : "not a coprocessor"),
                 {{"coprocessor", node.name}});
  }

  void Subscribe(EventHandler handler) override {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
  }

  // Has the watcher report `path`'s state on its next round, changed or not.
  void Report(const std::string& path) {
    {
      absl::MutexLock lock(&report_mu_);
      report_.insert(path);
    }
    const uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof(one));
  }

 private:
  // Reads every `state` once per interval, and at once when the kernel
  // notifies one.
  void Watch() {
    std::vector<KernelCoprocessor*> watched;
    std::vector<int> fds;
    for (const auto& [path, ops] : coprocessors_) {
      watched.push_back(ops.get());
      fds.push_back(::open(ops->state_path().c_str(), O_RDONLY | O_CLOEXEC));
    }
    const int interval_ms =
        static_cast<int>(absl::ToInt64Milliseconds(options_.poll_interval));
    while (!stop_) {
      std::vector<pollfd> polled;
      polled.push_back({wake_, POLLIN, 0});
      for (int fd : fds) polled.push_back({fd, POLLPRI | POLLERR, 0});
      (void)::poll(polled.data(), polled.size(), interval_ms);
      if (stop_) break;
      uint64_t drained;
      (void)!::read(wake_, &drained, sizeof(drained));
      std::set<std::string> report;
      {
        absl::MutexLock lock(&report_mu_);
        report.swap(report_);
      }
      for (size_t i = 0; i < watched.size(); ++i) {
        if (fds[i] < 0) {
          fds[i] =
              ::open(watched[i]->state_path().c_str(), O_RDONLY | O_CLOEXEC);
          if (fds[i] < 0) continue;
        }
        char buffer[64];
        const ssize_t n = ::pread(fds[i], buffer, sizeof(buffer) - 1, 0);
        if (n < 0) {
          ::close(fds[i]);
          fds[i] = -1;
          continue;
        }
        Changed(*watched[i],
                std::string(absl::StripTrailingAsciiWhitespace(
                    absl::string_view(buffer, n))),
                report.count(watched[i]->node_path()) > 0);
      }
    }
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Reports `state` when it differs from the one it last reported, or
  // when asked to.
  void Changed(KernelCoprocessor& ops, const std::string& state, bool report) {
    ops.Seen(state);
    std::string& last = last_reported_[&ops];
    if (state == last && !report) return;
    last = state;
    platform::Event event;
    event.state_report = true;
    event.time = absl::Now();
    if (state == "running" || state == "attached") {
      event.kind = platform::Event::Kind::kReady;
    } else if (state == "offline") {
      event.kind = platform::Event::Kind::kStopped;
    } else if (state == "crashed") {
      event.kind = platform::Event::Kind::kCrash;
      event.detail = "the kernel reports the remoteproc crashed";
    } else {
      return;
    }
    absl::MutexLock lock(&mu_);
    if (handler_) handler_(ops.node_path(), event);
  }

  const KernelOptions options_;
  FirmwareStaging staging_;
  std::map<std::string, std::unique_ptr<KernelCoprocessor>> coprocessors_;
  std::map<std::string, std::string> unsupported_;
  // The watcher's own: the state it last reported per coprocessor.
  std::map<const KernelCoprocessor*, std::string> last_reported_;
  int wake_ = -1;
  std::atomic<bool> stop_{false};
  std::thread watcher_;

  // mu_ is held while an event is delivered (into the engine); report_mu_
  // is taken under the engine's lock (ReportState), so never with mu_.
  absl::Mutex mu_;
  EventHandler handler_ ABSL_GUARDED_BY(mu_);
  absl::Mutex report_mu_;
  std::set<std::string> report_ ABSL_GUARDED_BY(report_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<platform::Backend>> OpenKernelBackend(
    const devicetree::Board& board, const KernelOptions& options) {
  auto remoteprocs = ReadRemoteprocs(options.sysfs_root);
  if (!remoteprocs.ok()) return remoteprocs.status();
  if (options.poll_interval <= absl::ZeroDuration()) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 "the remoteproc poll interval must be positive");
  }
  auto backend = std::make_unique<KernelBackend>(board, options, *remoteprocs);
  if (absl::Status s = backend->Start(); !s.ok()) return s;
  return std::unique_ptr<platform::Backend>(std::move(backend));
}

}  // namespace pil::linux_platform
