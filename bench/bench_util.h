// Shared by the benchmark programs: locating the real data, and a reporter
// that keeps each benchmark's median so a program can print ratios against
// its baseline measured in the same run.
#ifndef PILD_BENCH_BENCH_UTIL_H_
#define PILD_BENCH_BENCH_UTIL_H_

#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace pil::bench {

// Canonical path of `relative` in the real data (runfiles of @realdata, or
// $PILD_REALDATA); exits with a loud message when the data is absent.
std::string RealData(const std::string& relative);

// Runs `openssl dgst -ALGORITHM PATH` (output discarded) once per
// iteration, as a user would; ALGORITHM is "sha256" or "sha384".
void OpensslDgstCommand(benchmark::State& state, const std::string& path,
                        const std::string& algorithm);

// The resident set size of process `pid` (0: this one) in KiB, from
// /proc/PID/status; -1 when unreadable.
long ResidentKib(int pid = 0);

// Console output plus the median real time (ns) of every benchmark run
// with repetitions, by name (without the "_median" suffix).
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override;
  const std::map<std::string, double>& medians() const { return medians_; }

 private:
  std::map<std::string, double> medians_;
};

// Runs the registered benchmarks (argc/argv as Google Benchmark takes
// them; --benchmark_repetitions defaults to 15) and returns the medians.
std::map<std::string, double> RunWithMedians(int argc, char** argv);

}  // namespace pil::bench

#endif  // PILD_BENCH_BENCH_UTIL_H_
