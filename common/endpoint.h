// The default address pild listens on and pilctl connects to.
#ifndef PILD_COMMON_ENDPOINT_H_
#define PILD_COMMON_ENDPOINT_H_

#include <string>

namespace pil {

// "unix:<path>" where <path> is $PILD_SOCKET when set; else
// /run/pild/pild.sock for root; else $XDG_RUNTIME_DIR/pild/pild.sock when
// XDG_RUNTIME_DIR is set; else /tmp/pild-<uid>/pild.sock.
std::string DefaultEndpoint();

}  // namespace pil

#endif  // PILD_COMMON_ENDPOINT_H_
