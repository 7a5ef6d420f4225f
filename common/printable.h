// Text as it may reach a log line or a terminal: control characters
// (0x00-0x1f, 0x7f) written as \xNN, so that text from a client, a file or
// a certificate cannot end a line, move the cursor or clear the screen.
#ifndef PILD_COMMON_PRINTABLE_H_
#define PILD_COMMON_PRINTABLE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace pil {

std::string Printable(absl::string_view text);

}  // namespace pil

#endif  // PILD_COMMON_PRINTABLE_H_
