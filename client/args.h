// Command-line parsing for pilctl: positional words and --options.
//
//   auto args = ParseArgs(argc, argv, {{"server", true}, {"json", false}});
//   args->positional  // {"status", "adsp"}
//   args->Has("json"), args->Value("server")
//
// Options may come anywhere: "--key=value", "--key value" (for options
// that take a value) or "--flag". "--" ends option parsing.
#ifndef PILD_CLIENT_ARGS_H_
#define PILD_CLIENT_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pil::client {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  bool Has(const std::string& key) const { return options.count(key) != 0; }
  std::optional<std::string> Value(const std::string& key) const;
};

// `known` maps option names (without dashes) to whether they take a value.
// INVALID_ARGUMENT naming the offending word for unknown options, missing
// values, or values given to flags.
absl::StatusOr<Args> ParseArgs(int argc, const char* const* argv,
                               const std::map<std::string, bool>& known);

}  // namespace pil::client

#endif  // PILD_CLIENT_ARGS_H_
