// A C++ client of pild's pil.v1.LifecycleService service, for HALs and tools.
//
//   PildClient client({.address = "unix:/run/pild/pild.sock"});
//   absl::StatusOr<v1::TransitionResponse> started = client.Start("adsp");
//   if (!started.ok() && pil::ReasonOf(started.status()) == "HASH_MISMATCH")
//     ...
//
// Every call carries a deadline: Options::timeout for queries,
// Options::transition_timeout for transitions and transfers. Errors come
// back as absl::Status with the gRPC code and, when the server sent one,
// the ErrorInfo reason and metadata (read them with common/error.h).
// Mutating calls get a fresh random request id unless the caller names one,
// so retrying a call with the same id is safe.
// Thread-safe: one client may be shared by threads.
#ifndef PILD_CLIENT_PILD_CLIENT_H_
#define PILD_CLIENT_PILD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/connection.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"

namespace pil::client {

class PildClient {
 public:
  struct Options {
    // gRPC target: "unix:/path", "unix:///abs/path", "IP:PORT".
    std::string address;
    // Required by pild for TCP; none for its Unix socket.
    std::optional<TlsMaterial> tls;
    // Deadline of each query.
    absl::Duration timeout = absl::Seconds(10);
    // Deadline of each transition, upload and download.
    absl::Duration transition_timeout = absl::Seconds(60);
  };

  explicit PildClient(const Options& options);

  // With `observe_hardware`, Coprocessor.hardware is read from the
  // platform instead of pild's record.
  absl::StatusOr<std::vector<v1::Coprocessor>> ListCoprocessors(
      bool observe_hardware = false);
  absl::StatusOr<v1::Coprocessor> GetCoprocessor(absl::string_view name,
                                                 bool observe_hardware = false);

  // `request_id` empty: a fresh one. `ready_timeout`/`stop_ack_timeout`
  // zero: the server's default.
  absl::StatusOr<v1::TransitionResponse> Authenticate(
      absl::string_view name, const Firmware& firmware = Firmware::Default(),
      std::string request_id = "");
  absl::StatusOr<v1::TransitionResponse> Map(absl::string_view name,
                                             std::string request_id = "");
  absl::StatusOr<v1::TransitionResponse> Reset(
      absl::string_view name,
      absl::Duration ready_timeout = absl::ZeroDuration(),
      std::string request_id = "");
  absl::StatusOr<v1::TransitionResponse> Start(
      absl::string_view name, const Firmware& firmware = Firmware::Default(),
      absl::Duration ready_timeout = absl::ZeroDuration(),
      std::string request_id = "");
  // Every check a Start makes short of the secure world; nothing is done
  // (StartRequest.dry_run).
  absl::StatusOr<v1::TransitionResponse> DryRunStart(
      absl::string_view name, const Firmware& firmware = Firmware::Default());
  absl::StatusOr<v1::TransitionResponse> Stop(
      absl::string_view name,
      absl::Duration stop_ack_timeout = absl::ZeroDuration(),
      std::string request_id = "");

  // Calls `on_event` for every event (the current states first) until it
  // returns false (then OK), `duration` passes (then OK; infinite by
  // default) or the stream fails.
  absl::Status Watch(absl::string_view name,
                     const std::function<bool(const v1::WatchEvent&)>& on_event,
                     absl::Duration duration = absl::InfiniteDuration());

  // Validates an image pild can read (firmware name or upload); with a
  // coprocessor, also against its carveout (and its default image when
  // `firmware` is Default).
  absl::StatusOr<v1::ImageReport> InspectImage(const Firmware& firmware,
                                               absl::string_view coprocessor);

  // Uploads `bytes` in 1 MiB chunks; `progress(sent, total)` is called after
  // each chunk. The answer names the SHA-256 to use as Firmware::Upload.
  absl::StatusOr<v1::UploadFirmwareResponse> Upload(
      absl::string_view display_name, absl::string_view bytes,
      const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

  // Downloads a coredump (the latest when `crash_id` is 0): its info, and
  // the ELF core file into `*bytes`, checked against the announced size and
  // SHA-256.
  absl::StatusOr<v1::CoredumpInfo> GetCoredump(
      absl::string_view name, uint64_t crash_id, std::string* bytes,
      const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

  // One page of the audit trail, newest first (see GetHistoryRequest).
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(
      const v1::GetHistoryRequest& request);

  // pild itself, and who it takes this client for.
  absl::StatusOr<v1::GetInfoResponse> GetInfo();

  // The generated stub, for calls this class does not wrap.
  v1::LifecycleService::Stub& stub() { return *stub_; }

  // A context with the query deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  absl::StatusOr<v1::TransitionResponse> Transition(
      const std::function<grpc::Status(grpc::ClientContext*,
                                       v1::TransitionResponse*)>& call);

  Options options_;
  std::unique_ptr<v1::LifecycleService::Stub> stub_;
};

}  // namespace pil::client

#endif  // PILD_CLIENT_PILD_CLIENT_H_
