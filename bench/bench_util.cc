#include "bench/bench_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pil::bench {

std::string RealData(const std::string& relative) {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("PILD_REALDATA")) roots.push_back(env);
  if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    roots.push_back(std::string(runfiles) + "/realdata");
  }
  roots.push_back(std::string(getenv("PWD") ? getenv("PWD") : ".") +
                  "/../realdata");
  for (const std::string& root : roots) {
    const std::string path = root + "/" + relative;
    // Canonical: runfiles are symbolic links, and pild refuses a firmware
    // file whose link leaves its directory.
    std::error_code error;
    auto real = std::filesystem::canonical(path, error);
    if (!error) return real.string();
  }
  std::fprintf(stderr,
               "REAL DATA MISSING: %s not found (looked in $PILD_REALDATA and "
               "the runfiles). Put it at ../shared/realdata or run "
               "tools/fetch-realdata.sh.\n",
               relative.c_str());
  std::exit(2);
}

void OpensslDgstCommand(benchmark::State& state, const std::string& path,
                        const std::string& algorithm) {
  const std::string flag = "-" + algorithm;
  for (auto _ : state) {
    pid_t pid = 0;
    const char* argv[] = {"openssl", "dgst", flag.c_str(), path.c_str(),
                          nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    const int failed = posix_spawnp(&pid, "openssl", &actions, nullptr,
                                    const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) {
      state.SkipWithError("cannot run openssl");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
}

long ResidentKib(int pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status")
                                : "/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = -1;
      status >> kib;
      return kib;
    }
  }
  return -1;
}

void MedianReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
      std::string name = run.run_name.str();
      const std::string suffix = "/real_time";
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
              0) {
        name.resize(name.size() - suffix.size());
      }
      medians_[name] = run.GetAdjustedRealTime();
    }
  }
  ConsoleReporter::ReportRuns(runs);
}

std::map<std::string, double> RunWithMedians(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool repetitions = false;
  for (char* a : args) {
    if (std::string(a).rfind("--benchmark_repetitions", 0) == 0) {
      repetitions = true;
    }
  }
  static char kRepetitions[] = "--benchmark_repetitions=15";
  static char kAggregatesOnly[] = "--benchmark_report_aggregates_only=true";
  if (!repetitions) args.push_back(kRepetitions);
  args.push_back(kAggregatesOnly);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return reporter.medians();
}

}  // namespace pil::bench
