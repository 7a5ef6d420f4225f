// Command-line flags are spelled with dashes (--firmware-path); Abseil
// names them with underscores (firmware_path).
#ifndef PILD_COMMON_FLAGS_H_
#define PILD_COMMON_FLAGS_H_

#include <vector>

namespace pil {

// Parses the command line with absl::ParseCommandLine after rewriting the
// dashes in every "--flag-name[=value]" before the first "--" argument.
// Returns the positional arguments, program name first.
std::vector<char*> ParseFlags(int argc, char** argv);

}  // namespace pil

#endif  // PILD_COMMON_FLAGS_H_
