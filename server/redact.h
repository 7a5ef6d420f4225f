// What a caller is told of a failure. Root on the Unix socket is told
// everything; any other caller learns the reason, the code and the message
// without what describes the server itself: absolute paths become
// "<path>", system error texts ("Permission denied") "<system error>", and
// the "path" and "searched" metadata are dropped. The log and the audit
// trail keep the full text.
#ifndef PILD_SERVER_REDACT_H_
#define PILD_SERVER_REDACT_H_

#include "absl/status/status.h"
#include "server/access/caller.h"

namespace pil::server {

absl::Status RedactFor(const access::Caller& caller,
                       const absl::Status& status);

}  // namespace pil::server

#endif  // PILD_SERVER_REDACT_H_
