#include "common/flags.h"

#include <cstring>
#include <string>

#include "absl/flags/parse.h"

namespace pil {

std::vector<char*> ParseFlags(int argc, char** argv) {
  // The rewritten strings live as long as the process: Abseil may keep
  // pointers into argv.
  static std::vector<std::string>* storage = new std::vector<std::string>();
  std::vector<char*> args(argv, argv + argc);
  storage->reserve(argc);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t j = 2; j < end; ++j) {
      if (arg[j] == '-') arg[j] = '_';
    }
    storage->push_back(std::move(arg));
    args[i] = storage->back().data();
  }
  return absl::ParseCommandLine(argc, args.data());
}

}  // namespace pil
