// Who is behind a call, read when the call arrives, from the call itself.
//
// A Unix-socket call (gRPC peer "fd:N": pild accepted the connection and
// handed it to gRPC) is identified by SO_PEERCRED and SO_PEERGROUPS of that
// connection. gRPC keeps fd N open while any call on the connection is
// alive, so the number names this call's connection for as long as the
// handler runs; read it in the handler, never later. A TLS call is
// identified by its client certificate, which pild's verifier
// (server/access/tls.h) has already checked: its subject common name, else
// its first subject alternative name. Anything else has only its peer.
#ifndef PILD_SERVER_ACCESS_IDENTITY_H_
#define PILD_SERVER_ACCESS_IDENTITY_H_

#include <grpcpp/server_context.h>

#include <string>

#include "server/access/caller.h"

namespace pil::access {

Caller Identify(const grpc::ServerContextBase& context);

// The credentials of the Unix-socket connection `fd` (nothing but the peer
// when it is not one).
Caller IdentifyUnixConnection(int fd, const std::string& peer);

}  // namespace pil::access

#endif  // PILD_SERVER_ACCESS_IDENTITY_H_
