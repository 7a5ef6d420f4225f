// The gRPC channel both C++ clients open to pild (internal).
#ifndef PILD_CLIENT_CHANNEL_H_
#define PILD_CLIENT_CHANNEL_H_

#include <grpcpp/channel.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "client/connection.h"

namespace pil::client {

// A channel to `address` ("unix:/path", "IP:PORT"), with mutual TLS when
// `tls` is set. With a `keepalive` (at least 10 s, pild's minimum ping
// interval), the connection is pinged when idle, so that a Watch or Lease
// stream learns within `keepalive` + 10 s that pild went away. A lost
// connection is retried after 100 ms, backing off to 5 s at most.
std::shared_ptr<grpc::Channel> NewChannel(
    const std::string& address, const std::optional<TlsMaterial>& tls,
    absl::Duration keepalive = absl::InfiniteDuration());

}  // namespace pil::client

#endif  // PILD_CLIENT_CHANNEL_H_
