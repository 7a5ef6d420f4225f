// What a caller is told of a failure. Root on the Unix socket is told
// everything; any other caller learns the reason, the code and the message
// without what describes the server itself: absolute paths become
// "<path>", system error texts ("Permission denied") "<system error>", and
// the "path" and "searched" metadata are dropped. The log and the audit
// trail keep the full text.
#ifndef PILD_SERVER_REDACT_H_
#define PILD_SERVER_REDACT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/access/caller.h"

namespace pil::server {

absl::Status RedactFor(const access::Caller& caller,
                       const absl::Status& status);
// The same for a message alone (audit records read back by callers).
std::string RedactText(const access::Caller& caller, absl::string_view text);

}  // namespace pil::server

#endif  // PILD_SERVER_REDACT_H_
