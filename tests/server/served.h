// pild's service in the test's process: an in-process simulated SoC behind
// pild's own Unix listener (and, when asked, a plaintext TCP port, whose
// callers pild cannot identify), called through PildClient as a HAL would.
#ifndef PILD_TESTS_SERVER_SERVED_H_
#define PILD_TESTS_SERVER_SERVED_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "client/pild_client.h"
#include "platform/sim/proto/profile.pb.h"
#include "server/access/policy.h"
#include "server/gate.h"
#include "server/health.h"
#include "server/service.h"
#include "server/unix_listener.h"
#include "tests/server/engine_testing.h"

namespace pil::server::testing {

// A profile with 1 ms boots, stop acks and handovers.
sim::v1::Profile Fast();

struct ServedOptions {
  sim::v1::Profile profile = Fast();
  ServiceOptions service;
  // Root only, as pild without --policy (and, when the test does not run
  // as root, everything to its own uid).
  std::optional<access::Policy> policy;
  bool plaintext_tcp = false;  // also on 127.0.0.1:<free port>
};

class Served {
 public:
  explicit Served(ServedOptions options = {});
  ~Served();

  // A client of the Unix socket (or, with `tcp`, of the TCP port).
  client::PildClient Client(absl::Duration timeout = absl::Seconds(10),
                            bool tcp = false);
  SimEngine& sim() { return sim_; }
  Gate& gate() { return *gate_; }
  const std::string& socket() const { return socket_; }
  std::string address() const { return "unix:" + socket_; }
  std::string tcp_address() const;
  // A channel to the TCP port, for calls PildClient does not wrap.
  std::shared_ptr<grpc::Channel> TcpChannel() const;

 private:
  static inline std::atomic<int> counter_{0};
  SimEngine sim_;
  std::string socket_;
  int tcp_port_ = 0;
  std::unique_ptr<UnixListener> listener_;
  std::unique_ptr<Gate> gate_;
  std::unique_ptr<LifecycleService> service_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace pil::server::testing

#endif  // PILD_TESTS_SERVER_SERVED_H_
