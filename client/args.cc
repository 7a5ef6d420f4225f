#include "client/args.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pil::client {

std::optional<std::string> Args::Value(const std::string& key) const {
  auto it = options.find(key);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<Args> ParseArgs(int argc, const char* const* argv,
                               const std::map<std::string, bool>& known) {
  Args args;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (options_done || !absl::StartsWith(word, "-") || word == "-") {
      args.positional.push_back(word);
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    if (word == "-h") word = "--help";
    if (!absl::StartsWith(word, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", word));
    }
    std::string key = word.substr(2);
    std::optional<std::string> value;
    if (size_t eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    auto it = known.find(key);
    if (it == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", key));
    }
    if (it->second && !value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("option --", key, " needs a value"));
      }
      value = argv[++i];
    }
    if (!it->second && value) {
      return absl::InvalidArgumentError(
          absl::StrCat("option --", key, " takes no value"));
    }
    args.options[key] = value.value_or("");
  }
  return args;
}

}  // namespace pil::client
