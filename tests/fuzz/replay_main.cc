// Runs a fuzz target over the files and directories named on the command
// line (its corpus), so that `bazel test` replays every input. Built in
// place of libFuzzer when not fuzzing (see tests/fuzz/BUILD.bazel).
//
//   replay FILE_OR_DIR... [--realdata=STATUS:FOLDER...]
//
// --realdata names a folder of @realdata by its STATUS file; when the real
// data is missing the replay fails with "REAL DATA MISSING" and the places
// searched, and replays nothing.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool ReadAll(const std::filesystem::path& file, std::string* data) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  data->assign(std::istreambuf_iterator<char>(in),
               std::istreambuf_iterator<char>());
  return true;
}

// The folder of real data that `arg` ("STATUS:FOLDER") names, or an empty
// path after printing why it is not there.
std::filesystem::path RealDataFolder(const std::string& arg) {
  const size_t colon = arg.rfind(':');
  const std::filesystem::path status_file = arg.substr(0, colon);
  std::string status;
  if (colon == std::string::npos || !ReadAll(status_file, &status)) {
    std::fprintf(stderr, "replay: cannot read the real-data STATUS in '%s'\n",
                 arg.c_str());
    return {};
  }
  if (status.rfind("available", 0) != 0) {
    std::fprintf(stderr,
                 "REAL DATA MISSING, test did not run: %s"
                 "Put it at ../shared/realdata, set PILD_REALDATA, or run "
                 "tools/fetch-realdata.sh\n",
                 status.c_str());
    return {};
  }
  return status_file.parent_path() / arg.substr(colon + 1);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg(argv[i]);
    if (arg.rfind("--realdata=", 0) == 0) {
      std::filesystem::path folder = RealDataFolder(arg.substr(11));
      if (folder.empty()) return 1;
      inputs.push_back(folder);
    } else {
      inputs.emplace_back(arg);
    }
  }
  std::vector<std::filesystem::path> files;
  for (const auto& input : inputs) {
    if (std::filesystem::is_directory(input)) {
      for (const auto& entry :
           std::filesystem::recursive_directory_iterator(input)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(input);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs given\n");
    return 1;
  }
  for (const auto& file : files) {
    std::string data;
    if (!ReadAll(file, &data)) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()),
                           data.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
