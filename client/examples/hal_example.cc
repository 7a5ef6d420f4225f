// A HAL-like user of async_client.h: keeps one DSP running under a lease
// while it lives, and leaves it stopped when it ends.
//
//   hal_example --address=unix:/run/pild/pild.sock --coprocessor=adsp
//               [--firmware=NAME] [--holder=WORDS]
//
// It watches the DSP, leases it, starts it (unless it already runs), and
// then waits. When pild restarts, the lease and the watch break: the watch
// resumes by itself, the lease is taken again once pild is back and the
// DSP started again if it is no longer running. SIGTERM or SIGINT: stop
// the DSP, release the lease, exit 0. Killed, it leaves the DSP to pild,
// which stops it when the lease's connection drops.
//
// No call blocks a callback thread: every reply is posted to the control
// loop below, which is the only place that waits, and the only one that
// destroys the lease. Retries (pild unreachable or busy) back off from
// 100 ms to 5 s; other refusals end the program with exit 1. A second
// SIGTERM leaves at once (pild stops the DSP when the lease goes). Prints
// one line per thing that happened, "hal: ...", for people and tests.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/async_client.h"
#include "common/error.h"

ABSL_FLAG(std::string, address, "", "pild's gRPC address (unix:PATH, IP:PORT)");
ABSL_FLAG(std::string, coprocessor, "adsp", "the DSP to keep running");
ABSL_FLAG(std::string, firmware, "", "firmware name (its default when empty)");
ABSL_FLAG(std::string, holder, "example HAL", "the lease holder's words");

namespace {

using pil::client::AsyncClient;

void Say(const std::string& line) {
  std::printf("hal: %s\n", line.c_str());
  std::fflush(stdout);
}

std::string Describe(const absl::Status& s) {
  const std::string reason = pil::ReasonOf(s);
  return absl::StrCat(absl::StatusCodeToString(s.code()),
                      reason.empty() ? "" : " ", reason, ": ", s.message());
}

// Worth trying again later: pild away, busy, or slow.
bool Transient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

// What the callbacks post to the control loop.
struct Message {
  enum Kind { kGranted, kLeaseEnded, kStarted, kStopped, kTerminate } kind;
  absl::Status status;
};

class Mailbox {
 public:
  void Post(Message m) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(m));
  }
  // The next message, or none by `deadline`.
  std::optional<Message> Take(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(
        absl::Condition(
            +[](std::deque<Message>* q) { return !q->empty(); }, &queue_),
        deadline);
    if (queue_.empty()) return std::nullopt;
    Message m = std::move(queue_.front());
    queue_.pop_front();
    return m;
  }

 private:
  absl::Mutex mu_;
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
};

// 100 ms doubling to 5 s; Reset() after a success.
class Backoff {
 public:
  absl::Time Next() {
    const absl::Time at = absl::Now() + delay_;
    delay_ = std::min(delay_ * 2, absl::Seconds(5));
    return at;
  }
  void Reset() { delay_ = absl::Milliseconds(100); }

 private:
  absl::Duration delay_ = absl::Milliseconds(100);
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::string name = absl::GetFlag(FLAGS_coprocessor);
  if (address.empty()) {
    std::fprintf(stderr, "hal_example: --address is required\n");
    return 2;
  }
  pil::client::Firmware firmware = pil::client::Firmware::Default();
  if (!absl::GetFlag(FLAGS_firmware).empty()) {
    firmware = pil::client::Firmware::Named(absl::GetFlag(FLAGS_firmware));
  }

  // Signals arrive as messages, from a thread of their own that may outlive
  // main(): the mailbox is never destroyed.
  static sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  static Mailbox* const kMailbox = new Mailbox;
  Mailbox& mailbox = *kMailbox;
  std::thread([&mailbox] {
    for (int signal = 0; sigwait(&signals, &signal) == 0;) {
      mailbox.Post({Message::kTerminate, absl::OkStatus()});
    }
  }).detach();

  AsyncClient::Options options;
  options.address = address;
  auto client = AsyncClient::Create(options);

  AsyncClient::WatchCallbacks watching;
  watching.on_event = [](const pil::client::Event& e) {
    Say(absl::StrCat("event ", e.sequence, e.initial ? " initial " : " ",
                     e.operation, " ", StateName(e.previous_state), " -> ",
                     StateName(e.coprocessor.state),
                     e.reason.empty() ? "" : " (" + e.reason + ")"));
  };
  watching.on_resync = [](bool restarted) {
    Say(restarted ? "resync: pild restarted" : "resync: events were missed");
  };
  watching.on_end = [](const absl::Status& s) {
    Say("watch ended: " + Describe(s));
  };
  auto watch = client->Watch(name, std::move(watching));

  auto acquire = [&] {
    AsyncClient::LeaseCallbacks leasing;
    leasing.on_granted = [&](const pil::client::LeaseInfo& info) {
      Say(absl::StrCat("lease ", info.id, " granted to ", info.holder));
      mailbox.Post({Message::kGranted, absl::OkStatus()});
    };
    leasing.on_end = [&](const absl::Status& s) {
      mailbox.Post({Message::kLeaseEnded, s});
    };
    return client->AcquireLease({name}, absl::GetFlag(FLAGS_holder),
                                std::move(leasing));
  };
  // Start; "already running" (after a pild restart) is as good.
  auto start = [&] {
    return client->Start(name, firmware,
                         [&](absl::StatusOr<pil::client::Transition> t) {
                           absl::Status status = t.status();
                           if (pil::ReasonOf(status) == "WRONG_STATE" &&
                               pil::MetadataOf(status)["state"] == "running") {
                             status = absl::OkStatus();
                           }
                           mailbox.Post({Message::kStarted, status});
                         });
  };

  std::unique_ptr<pil::client::Lease> lease = acquire();
  pil::client::Call starting;
  Backoff lease_backoff, start_backoff;
  absl::Time lease_again = absl::InfiniteFuture();
  absl::Time start_again = absl::InfiniteFuture();
  bool terminating = false;
  int exit_code = 0;
  while (true) {
    const std::optional<Message> m =
        mailbox.Take(std::min(lease_again, start_again));
    if (!m) {  // a retry is due
      if (absl::Now() >= lease_again) {
        lease_again = absl::InfiniteFuture();
        lease = acquire();
      }
      if (absl::Now() >= start_again) {
        start_again = absl::InfiniteFuture();
        starting = start();
      }
      continue;
    }
    if (m->kind == Message::kTerminate) {
      if (terminating) {
        Say("second signal: leaving " + name + " to pild's lease release");
        exit_code = 1;
        break;
      }
      terminating = true;
      starting.Cancel();
      lease_again = start_again = absl::InfiniteFuture();
      Say("terminating: stopping " + name);
      client->Stop(name, [&](absl::StatusOr<pil::client::Transition> t) {
        mailbox.Post({Message::kStopped, t.status()});
      });
    } else if (m->kind == Message::kStopped) {
      if (m->status.ok()) {
        Say("stopped " + name);
      } else {
        Say("stop failed: " + Describe(m->status));
        exit_code = 1;
      }
      break;
    } else if (terminating) {
      continue;  // replies of what was cancelled
    } else if (m->kind == Message::kGranted) {
      lease_backoff.Reset();
      starting = start();
    } else if (m->kind == Message::kStarted) {
      if (m->status.ok()) {
        start_backoff.Reset();
        Say("running " + name);
      } else if (Transient(m->status) ||
                 pil::ReasonOf(m->status) == "WRONG_STATE") {
        Say("start failed, will retry: " + Describe(m->status));
        start_again = start_backoff.Next();
      } else {
        Say("start failed: " + Describe(m->status));
        exit_code = 1;
        break;
      }
    } else if (m->kind == Message::kLeaseEnded) {
      Say("lease ended: " + Describe(m->status));
      if (!Transient(m->status)) {
        exit_code = 1;  // LEASED, PERMISSION_DENIED, UNKNOWN_COPROCESSOR...
        break;
      }
      // pild went away or is busy: lease again, later.
      lease_again = lease_backoff.Next();
    }
  }
  lease.reset();
  watch.reset();
  client.reset();
  Say("exit");
  return exit_code;
}
