// An asynchronous C++ client of pild, for HALs: no call blocks its caller.
//
//   pil::client::AsyncClient::Options options;
//   options.address = "unix:/run/pild/pild.sock";
//   auto client = pil::client::AsyncClient::Create(options);
//   pil::client::Call call = client->Start(
//       "adsp", pil::client::Firmware::Default(),
//       [](absl::StatusOr<pil::client::Transition> done) {
//         if (!done.ok() && pil::ReasonOf(done.status()) == "WRONG_STATE") ...
//       });
//   ...
//   call.Cancel();  // from any thread; `done` still runs, with CANCELLED
//
// Threads. Every callback runs on a thread of the library (gRPC's, a
// watch's own, or the one that answers calls refused before they start),
// never on the calling thread; it must not block (post long work
// elsewhere) and may start calls. A call's `done` runs exactly once — OK,
// failed, cancelled or past its deadline. One stream's callbacks never run
// concurrently. Upload and GetCoredump read and write their file, 1 MiB at
// a time, on gRPC's threads. AsyncClient and Call are thread-safe.
//
// Lifetime. Destroying the client cancels every call it started and waits
// until their `done` returned: after the destructor, none runs. A
// WatchStream or Lease shares the client's connection, keeps it open after
// the client is gone, and lives until destroyed; its destructor waits for
// its callbacks. Destroy the client, WatchStreams and Leases only on
// threads of your own, never from any callback of this library (gRPC has
// few callback threads: a destructor waiting on one can wait forever).
//
// Errors. absl::Status with the gRPC code; when pild gave one, its reason
// and metadata (pil::ReasonOf / MetadataOf, common/error.h), taken from a
// google.rpc.ErrorInfo of domain "pild" only. What each call can return is
// in docs/API.md; the families a HAL acts on:
//   UNAVAILABLE                 pild is not reachable (the deadline passed
//                               waiting for it: DEADLINE_EXCEEDED)
//   DEADLINE_EXCEEDED, CANCELLED the call's deadline passed / Cancel(); a
//                               transition pild received is rolled back
//   FAILED_PRECONDITION         WRONG_STATE, LEASED (metadata "holder"), ...
//   PERMISSION_DENIED           pild's policy does not grant the verb
//   RESOURCE_EXHAUSTED          SERVER_BUSY, CALLER_BUSY, TOO_MANY_*: retry
//   NOT_FOUND                   UNKNOWN_COPROCESSOR, FIRMWARE_NOT_FOUND, ...
//   INVALID_ARGUMENT            image and request problems (HASH_MISMATCH…);
//                               BAD_TIMEOUT: a CallOptions::timeout <= 0
//   FAILED_PRECONDITION         LOCAL_FILE_ERROR: Upload's or GetCoredump's
//                               file could not be read or written here
//
// Deadlines. Every call has one: CallOptions::timeout, or the verb's default
// (AsyncClient::Options). Calls wait for pild to be reachable (gRPC
// wait-for-ready) within their deadline, so a call made while pild
// restarts is served when it is back.
#ifndef PILD_CLIENT_ASYNC_CLIENT_H_
#define PILD_CLIENT_ASYNC_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/connection.h"

namespace pil::client {

enum class State {
  kUnspecified,
  kOffline,
  kAuthenticated,
  kMapped,
  kRunning,
  kStopping,
  kCrashed,
  kRecovering,
};
// "offline", "running", ...
const char* StateName(State state);

// A coprocessor as pild reports it (the fields a HAL acts on; pilctl and
// docs/API.md show the rest).
struct Coprocessor {
  std::string name;
  State state = State::kUnspecified;
  uint32_t pas_id = 0;
  // The loaded image: a firmware name or "upload:<sha256>"; the SHA-256 of
  // its metadata (which commits to every segment); its version string.
  // Empty when none.
  std::string image_source;
  std::string image_sha256;
  std::string image_version;
  uint32_t crash_count = 0;
  std::string last_error_reason;  // "" when none
  std::string last_error_message;
};

// What a transition did.
struct Transition {
  Coprocessor coprocessor;         // after it
  std::string request_id;          // the one sent (made up when not given)
  bool replayed = false;           // answered from an earlier same call
  bool dry_run = false;            // a dry-run Start: checked, nothing done
  std::vector<std::string> steps;  // "name: detail", in order
  std::string note;
};

// One state change seen by a Watch.
struct Event {
  uint64_t sequence = 0;
  std::string epoch;  // this run of pild
  // A current-state event (a watch's first, or after a resync), not a
  // change.
  bool initial = false;
  State previous_state = State::kUnspecified;
  Coprocessor coprocessor;
  std::string operation;  // what changed it: "start", "crash", ...
  std::string reason;     // e.g. the crash reason
};

struct UploadResult {
  std::string sha256;  // use as Firmware::Upload
  uint64_t size = 0;
};

struct CoredumpResult {
  uint64_t crash_id = 0;
  std::string reason;
  uint64_t size = 0;
  std::string sha256;
};

struct LeaseInfo {
  uint64_t id = 0;
  std::vector<std::string> names;
  std::string holder;  // as others see it
};

struct CallOptions {
  // The deadline, from now; the verb's default when unset. Zero or less
  // is refused: INVALID_ARGUMENT BAD_TIMEOUT (as Python's ValueError).
  std::optional<absl::Duration> timeout;
  // Transitions: the request id (a fresh one when empty). Retrying with
  // the same id and request is answered from pild's record, not redone.
  std::string request_id;
};

// Cancels the call it was returned by. Copyable; cancelling a finished
// call, or an empty handle, does nothing.
class Call {
 public:
  Call() = default;
  explicit Call(std::weak_ptr<void> state) : state_(std::move(state)) {}
  void Cancel() const;

 private:
  std::weak_ptr<void> state_;
};

template <typename T>
using Done = std::function<void(absl::StatusOr<T>)>;

// A Watch that reconnects: see AsyncClient::Watch.
class WatchStream {
 public:
  virtual ~WatchStream() = default;  // stops it; no callback after
};

// A lease on coprocessors: see AsyncClient::AcquireLease.
class Lease {
 public:
  virtual ~Lease() = default;  // releases it: pild stops what it held
};

class AsyncClient {
 public:
  struct Options {
    // gRPC target: "unix:/path", "unix:///abs/path", "IP:PORT".
    std::string address;
    // Required by pild for TCP; none for its Unix socket.
    std::optional<TlsMaterial> tls;
    // Default deadlines (the Python package's too): reads (List, Get);
    // transitions (Authenticate, Map, Reset, Start, Stop); transfers
    // (uploads, coredumps).
    absl::Duration query_timeout = absl::Seconds(10);
    absl::Duration transition_timeout = absl::Seconds(60);
    absl::Duration transfer_timeout = absl::Seconds(60);
    // Idle connections are pinged this often (at least 10 s), so a stream
    // learns within it + 10 s that pild is gone.
    absl::Duration keepalive = absl::Seconds(20);
    // Watch reconnects after `min_backoff`, doubling to `max_backoff`.
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
  };

  static std::unique_ptr<AsyncClient> Create(const Options& options);
  virtual ~AsyncClient() = default;

  virtual Call List(Done<std::vector<Coprocessor>> done,
                    const CallOptions& options = {}) = 0;
  virtual Call Get(const std::string& name, Done<Coprocessor> done,
                   const CallOptions& options = {}) = 0;

  // Transitions. `ready_timeout` / `stop_ack_timeout` unset: pild's
  // default (5 s).
  virtual Call Authenticate(const std::string& name, const Firmware& firmware,
                            Done<Transition> done,
                            const CallOptions& options = {}) = 0;
  virtual Call Map(const std::string& name, Done<Transition> done,
                   const CallOptions& options = {}) = 0;
  virtual Call Reset(const std::string& name,
                     std::optional<absl::Duration> ready_timeout,
                     Done<Transition> done,
                     const CallOptions& options = {}) = 0;
  virtual Call Start(const std::string& name, const Firmware& firmware,
                     Done<Transition> done, const CallOptions& options = {},
                     std::optional<absl::Duration> ready_timeout = {}) = 0;
  // Every check a Start makes short of the secure world; nothing is done.
  virtual Call DryRunStart(const std::string& name, const Firmware& firmware,
                           Done<Transition> done,
                           const CallOptions& options = {}) = 0;
  // OK when already OFFLINE; cancels a recovery.
  virtual Call Stop(const std::string& name, Done<Transition> done,
                    const CallOptions& options = {},
                    std::optional<absl::Duration> stop_ack_timeout = {}) = 0;

  // Streams the file at `path` to pild (1 MiB at a time; never whole in
  // memory), checking pild's SHA-256 against the one computed on the way.
  // `progress(sent, total)` runs on a gRPC thread after each chunk.
  virtual Call Upload(const std::string& path, const std::string& display_name,
                      Done<UploadResult> done,
                      std::function<void(uint64_t, uint64_t)> progress = {},
                      const CallOptions& options = {}) = 0;
  // Streams a coredump (the latest when `crash_id` is 0) into a new file
  // at `path` (which must not exist), checked against the announced size
  // and SHA-256; on any failure the file is removed.
  virtual Call GetCoredump(const std::string& name, uint64_t crash_id,
                           const std::string& path, Done<CoredumpResult> done,
                           const CallOptions& options = {}) = 0;

  // Watches `name` (every coprocessor when empty) until the WatchStream is
  // destroyed. `on_event` runs for every event, in order. When the stream
  // breaks (pild restarts, the connection drops, pild is busy) it
  // reconnects with backoff and resumes after the last event received:
  // nothing twice, nothing missed while pild still holds the events. When
  // it cannot resume — pild restarted (`restarted`: the epoch changed) or
  // too much happened meanwhile — `on_resync(restarted)` runs and the
  // current states follow as initial events. `on_end` runs once if it
  // stops for good: NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT,
  // UNAUTHENTICATED, UNIMPLEMENTED. `on_event` and `on_resync` run on
  // gRPC's threads, `on_end` on the watch's own.
  struct WatchCallbacks {
    std::function<void(const Event&)> on_event;
    std::function<void(bool restarted)> on_resync;
    std::function<void(const absl::Status&)> on_end;
  };
  virtual std::unique_ptr<WatchStream> Watch(const std::string& name,
                                             WatchCallbacks callbacks) = 0;

  // Leases `names` for this process (shown to others with `holder`).
  // `on_granted` runs once pild holds them; `on_end` runs once if the
  // lease ends other than by destruction — it was refused (LEASED,
  // PERMISSION_DENIED, ...) or the stream broke (pild restarted: lease
  // again; its coprocessors kept running). Destroying the Lease releases
  // it, and pild stops what it held; so does the process's death.
  struct LeaseCallbacks {
    std::function<void(const LeaseInfo&)> on_granted;
    std::function<void(const absl::Status&)> on_end;
  };
  virtual std::unique_ptr<Lease> AcquireLease(std::vector<std::string> names,
                                              const std::string& holder,
                                              LeaseCallbacks callbacks) = 0;
};

}  // namespace pil::client

#endif  // PILD_CLIENT_ASYNC_CLIENT_H_
