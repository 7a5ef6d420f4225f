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
// loop below, which is the only place that waits. Prints one line per
// thing that happened, "hal: ...", for people and tests.
#include <signal.h>

#include <cstdio>
#include <deque>
#include <memory>
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

// What the callbacks post to the control loop.
struct Message {
  enum Kind { kGranted, kLeaseEnded, kStarted, kStopped, kTerminate } kind;
  absl::Status status;
  bool running = false;
};

class Mailbox {
 public:
  void Post(Message m) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(m));
  }
  Message Take() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::deque<Message>* q) { return !q->empty(); }, &queue_));
    Message m = std::move(queue_.front());
    queue_.pop_front();
    return m;
  }

 private:
  absl::Mutex mu_;
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
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

  // Signals arrive as messages, on a thread of their own.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Mailbox mailbox;
  std::thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    mailbox.Post({Message::kTerminate, absl::OkStatus(), false});
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
      mailbox.Post({Message::kGranted, absl::OkStatus(), false});
    };
    leasing.on_end = [&](const absl::Status& s) {
      mailbox.Post({Message::kLeaseEnded, s, false});
    };
    return client->AcquireLease({name}, absl::GetFlag(FLAGS_holder),
                                std::move(leasing));
  };
  std::unique_ptr<pil::client::Lease> lease = acquire();

  auto start = [&] {
    client->Get(name, [&](absl::StatusOr<pil::client::Coprocessor> c) {
      if (c.ok() && c->state == pil::client::State::kRunning) {
        mailbox.Post({Message::kStarted, absl::OkStatus(), true});
        return;
      }
      client->Start(name, firmware,
                    [&](absl::StatusOr<pil::client::Transition> t) {
                      mailbox.Post({Message::kStarted, t.status(), t.ok()});
                    });
    });
  };

  int exit_code = 0;
  while (true) {
    Message m = mailbox.Take();
    if (m.kind == Message::kGranted) {
      start();
    } else if (m.kind == Message::kStarted) {
      if (m.status.ok()) {
        Say("running " + name);
      } else {
        Say("start failed: " + Describe(m.status));
      }
    } else if (m.kind == Message::kLeaseEnded) {
      Say("lease ended: " + Describe(m.status));
      const std::string reason = pil::ReasonOf(m.status);
      if (reason == "LEASED" ||
          m.status.code() == absl::StatusCode::kPermissionDenied) {
        exit_code = 1;  // someone else holds it, or we may not
        break;
      }
      // pild went away: lease again; the call waits until it is back.
      lease = acquire();
    } else if (m.kind == Message::kTerminate) {
      Say("terminating: stopping " + name);
      client->Stop(name, [&](absl::StatusOr<pil::client::Transition> t) {
        mailbox.Post({Message::kStopped, t.status(), false});
      });
    } else if (m.kind == Message::kStopped) {
      if (m.status.ok()) {
        Say("stopped " + name);
      } else {
        Say("stop failed: " + Describe(m.status));
        exit_code = 1;
      }
      break;
    }
  }
  lease.reset();
  watch.reset();
  client.reset();
  Say("exit");
  return exit_code;
}
