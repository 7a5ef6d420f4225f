// Start -> RUNNING of each real firmware image on its real board, against
// `openssl dgst` of the same file in the same run.
//
//   ./bazelw run -c opt //bench:lifecycle_bench
//
// The engine drives an in-process simulated SoC (pilsim's model, without
// the process boundary) with the shortest hardware timings (1 ms from
// reset release to "ready"). A Start reads the file, verifies every
// segment hash, the signature and chain while copying the segments into
// the carveout (fused, on 2 threads), hands the metadata to the simulated
// secure world (which checks the signature again and, at auth_and_reset,
// re-hashes every segment in memory, as TrustZone does), and waits for
// "ready". The stop between iterations is not timed; the mean time of each
// step is reported as a counter (load_ms, verify_and_copy_ms, ...). Baselines:
// the `openssl dgst` command on the file, and OpenSSL's EVP digest of the
// file's bytes in this process. Also printed: pild's own share of a Start
// (load + verify_and_copy steps) against the EVP digest.
#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "common/file.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/signature.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/soc.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/history.h"

namespace pil::bench {
namespace {

struct Pair {
  std::string board;        // real DTB
  std::string coprocessor;  // its node
  std::string firmware;     // name under firmware/
};

const std::vector<Pair>& Pairs() {
  static const auto* pairs = new std::vector<Pair>{
      {"qrb5165-rb5", "cdsp", "qcom/sm8250/cdsp.mbn"},
      {"sdm845-db845c", "cdsp", "qcom/sdm845/cdsp.mbn"},
      {"sdm845-db845c", "video", "qcom/venus-5.2/venus.mbn"},
      {"sm8550-qrd", "video", "qcom/vpu/vpu30_p4.mbn"},
  };
  return *pairs;
}

// pild's own share of the last Start: the load and verify_and_copy steps.
std::map<std::string, double>& PildShareMs() {
  static auto* shares = new std::map<std::string, double>();
  return *shares;
}

std::string Label(const Pair& p) {
  return absl::StrCat(p.firmware.substr(5), "@", p.board);
}

void StartToRunning(benchmark::State& state, const Pair& pair) {
  auto dtb = ReadFile(RealData("dtb/" + pair.board + ".dtb"));
  auto board = devicetree::Discover(*dtb);
  sim::v1::Profile profile;
  profile.mutable_timings()->set_boot_ms(1);
  profile.mutable_timings()->set_handover_ms(1);
  profile.mutable_timings()->set_stop_ack_ms(1);
  auto soc = sim::SimSoc::Create(*dtb, profile, "");
  if (!board.ok() || !soc.ok()) {
    state.SkipWithError("cannot simulate the board");
    return;
  }
  const std::string firmware_dir = RealData("firmware");
  server::FirmwareStore store({firmware_dir});
  server::History history;
  pas::PasOptions pas;
  pas.verify_threads = 2;
  pas::PasBackend backend(soc->get(), *board, pas);
  server::LifecycleEngine engine(&backend, *board, &store, &history);
  if (!engine.Adopt().ok()) state.SkipWithError("adopt failed");
  const server::FirmwareSource source =
      server::FirmwareSource::Named(pair.firmware);
  double share_ms = 0;
  std::map<std::string, double> steps_ms;
  for (auto _ : state) {
    auto started =
        engine.Start(pair.coprocessor, source, absl::ZeroDuration(), {});
    state.PauseTiming();
    if (!started.ok()) {
      state.SkipWithError(std::string(started.status().message()).c_str());
      break;
    }
    for (const server::Step& step : started->steps) {
      const double ms = absl::ToDoubleMilliseconds(step.duration);
      if (step.name == "load" || step.name == "verify_and_copy") {
        share_ms += ms;
      }
      steps_ms[step.name] += ms;
    }
    if (!engine.Stop(pair.coprocessor, absl::ZeroDuration(), {}).ok()) {
      state.SkipWithError("stop failed");
      break;
    }
    state.ResumeTiming();
  }
  if (state.iterations() > 0) {
    PildShareMs()[Label(pair)] = share_ms / state.iterations();
    // Mean milliseconds per step, as counters in the report.
    for (const auto& [name, ms] : steps_ms) {
      state.counters[name + "_ms"] = ms / state.iterations();
    }
  }
}

void EvpDigest(benchmark::State& state, const std::string& path,
               const EVP_MD* md) {
  auto bytes = ReadFile(path);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    EVP_Digest(bytes->data(), bytes->size(), out, &length, md, nullptr);
    benchmark::DoNotOptimize(out);
  }
}

const char* AlgorithmOf(const std::string& firmware) {
  // The real images' hash-table algorithms (IMAGES.md): v6/v7 use SHA-384.
  return firmware.find("sm8250") != std::string::npos ||
                 firmware.find("vpu30") != std::string::npos
             ? "sha384"
             : "sha256";
}

}  // namespace
}  // namespace pil::bench

int main(int argc, char** argv) {
  using namespace pil::bench;
  for (const Pair& p : Pairs()) {
    const std::string label = Label(p);
    const std::string path = RealData("firmware/" + p.firmware);
    const std::string algorithm = AlgorithmOf(p.firmware);
    benchmark::RegisterBenchmark(("start_to_running/" + label).c_str(),
                                 StartToRunning, p)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("openssl_dgst_command/" + label).c_str(),
                                 OpensslDgstCommand, path, algorithm)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(
        ("openssl_digest/" + label).c_str(), EvpDigest, path,
        algorithm == std::string("sha384") ? EVP_sha384() : EVP_sha256())
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  const auto medians = RunWithMedians(argc, argv);
  std::printf(
      "\nmedian times (ms): Start->RUNNING against `openssl dgst` of the same "
      "file\n%-34s %5s | %8s %8s %8s | %9s | %8s %9s\n",
      "image@board", "MiB", "start", "dgst", "evp", "start/cmd", "pild",
      "pild/evp");
  for (const Pair& p : Pairs()) {
    const std::string label = Label(p);
    auto at = [&](const std::string& bench) {
      auto it = medians.find(bench + "/" + label);
      return it == medians.end() ? 0.0 : it->second;
    };
    const double start = at("start_to_running"),
                 cmd = at("openssl_dgst_command"), evp = at("openssl_digest");
    if (start <= 0 || cmd <= 0 || evp <= 0) continue;
    const double share = PildShareMs()[label];
    auto size = pil::ReadFile(RealData("firmware/" + p.firmware))->size();
    std::printf("%-34s %5.2f | %8.3f %8.3f %8.3f | %8.2fx | %8.3f %8.2fx\n",
                label.c_str(), size / 1048576.0, start, cmd, evp, start / cmd,
                share, share / evp);
  }
  return 0;
}
