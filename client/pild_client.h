// A C++ client of pild's pil.v1.Lifecycle service, for HALs and tools.
//
//   PildClient client({.address = "unix:/run/pild/pild.sock"});
//   absl::StatusOr<v1::Coprocessor> adsp = client.GetCoprocessor("adsp");
//   if (!adsp.ok() && pil::ReasonOf(adsp.status()) == "UNKNOWN_COPROCESSOR")
//     ...
//
// Every call carries a deadline (Options::timeout). Errors come back as
// absl::Status with the gRPC code and, when the server sent one, the
// ErrorInfo reason and metadata (read them with common/error.h).
// Thread-safe: one client may be shared by threads.
#ifndef PILD_CLIENT_PILD_CLIENT_H_
#define PILD_CLIENT_PILD_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"

namespace pil::client {

class PildClient {
 public:
  struct Options {
    // gRPC target: "unix:/path", "unix:///abs/path", "host:port".
    std::string address;
    // Deadline of each call.
    absl::Duration timeout = absl::Seconds(10);
  };

  explicit PildClient(const Options& options);

  absl::StatusOr<std::vector<v1::Coprocessor>> ListCoprocessors();
  absl::StatusOr<v1::Coprocessor> GetCoprocessor(absl::string_view name);

  // The generated stub, for calls this class does not wrap.
  v1::Lifecycle::Stub& stub() { return *stub_; }

  // A context with this client's deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  Options options_;
  std::unique_ptr<v1::Lifecycle::Stub> stub_;
};

}  // namespace pil::client

#endif  // PILD_CLIENT_PILD_CLIENT_H_
