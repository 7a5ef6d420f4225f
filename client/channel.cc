#include "client/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace pil::client {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                          const std::optional<TlsMaterial>& tls,
                                          absl::Duration keepalive) {
  grpc::ChannelArguments args;
  // Reconnect to a restarted pild within seconds, not gRPC's 2 minutes.
  // (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it also bounds each connection
  // attempt, which a socket-activated pild may take seconds to answer.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  if (keepalive != absl::InfiniteDuration()) {
    const int ms = static_cast<int>(
        absl::ToInt64Milliseconds(std::max(keepalive, absl::Seconds(10))));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    // Streams (Watch, Lease) may carry nothing for hours.
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (!tls) {
    return grpc::CreateCustomChannel(address,
                                     grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls->ca;
  ssl.pem_private_key = tls->key;
  ssl.pem_cert_chain = tls->cert;
  if (!tls->server_name.empty()) {
    args.SetSslTargetNameOverride(tls->server_name);
  }
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

}  // namespace pil::client
