// Start -> RUNNING of each real firmware image on its real board, against
// hashing baselines and `openssl dgst` of the same file in the same run.
//
//   ./bazelw run -c opt //bench:lifecycle_bench
//
// The engine drives an in-process simulated SoC (pilsim's model, without
// the process boundary) with the shortest hardware timings (1 ms from
// reset release to "ready"). The stop between iterations is not timed; the
// mean time of each step is reported as a counter (load_ms, ...).
//
// Two Starts are measured: the first of an image (start_to_running: the
// cache of verified images is emptied before each) and a Start of an image
// pild verified before and that has not changed since (start_again: pild
// copies it without hashing it again, as the secure world re-hashes it).
//
// Reported per image, medians of the same run:
//   pild     pild's own share of a Start: its wall time less the secure
//            world's steps (pas_*, shm_bridge_*: the sim's TrustZone, which
//            re-hashes every segment) and the modelled boot (wait_ready);
//   floor    the two-thread digest of the same segments (largest first,
//            each to the less loaded thread): what hashing alone costs on
//            pild's two verify threads;
//   evp      the single-thread EVP digest of the same segments;
//   start    Start -> RUNNING less the modelled boot, against the `openssl
//            dgst` command on the file (process, read, digest).
// Goals for images of 1 MiB or more: pild <= 1.3x floor, start <= 0.8x dgst.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "common/file.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"
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
      {"qrb5165-rb5", "adsp", "qcom/sm8250/adsp.mbn"},
      {"qrb5165-rb5", "cdsp", "qcom/sm8250/cdsp.mbn"},
      {"sdm845-db845c", "cdsp", "qcom/sdm845/cdsp.mbn"},
      {"sdm845-db845c", "video", "qcom/venus-5.2/venus.mbn"},
      {"sm8550-qrd", "video", "qcom/vpu/vpu30_p4.mbn"},
  };
  return *pairs;
}

// Per benchmark name: mean ms of pild's share and of the modelled boot,
// per Start.
struct StartFigures {
  double pild_ms = 0;
  double modelled_ms = 0;
};
std::map<std::string, StartFigures>& Figures() {
  static auto* figures = new std::map<std::string, StartFigures>();
  return *figures;
}

std::string Label(const Pair& p) {
  return absl::StrCat(p.firmware.substr(5), "@", p.board);
}

bool SecureWorld(const std::string& step) {
  return absl::StartsWith(step, "pas_") || absl::StartsWith(step, "shm_bridge");
}

void StartToRunning(benchmark::State& state, const Pair& pair, bool cold) {
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
  // The directory the real file is in (RealData resolves the runfiles
  // links, which pild would refuse as leaving the directory).
  const std::string file = RealData("firmware/" + pair.firmware);
  server::FirmwareStore store(
      {file.substr(0, file.size() - pair.firmware.size() - 1)});
  server::History history;
  pas::PasOptions pas;
  pas.verify_threads = 2;
  pas::PasBackend backend(soc->get(), *board, pas);
  server::LifecycleEngine engine(&backend, *board, &store, &history);
  if (!engine.Adopt().ok()) state.SkipWithError("adopt failed");
  const server::FirmwareSource source =
      server::FirmwareSource::Named(pair.firmware);
  double pild_ms = 0, modelled_ms = 0;
  std::map<std::string, double> steps_ms;
  if (!cold) (void)engine.DryRunStart(pair.coprocessor, source);
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      image::ReportCache::Shared().Clear();
      state.ResumeTiming();
    }
    const absl::Time begin = absl::Now();
    auto started =
        engine.Start(pair.coprocessor, source, absl::ZeroDuration(), {});
    const double wall_ms = absl::ToDoubleMilliseconds(absl::Now() - begin);
    state.PauseTiming();
    if (!started.ok()) {
      state.SkipWithError(std::string(started.status().message()).c_str());
      break;
    }
    double others_ms = 0;
    for (const server::Step& step : started->steps) {
      const double ms = absl::ToDoubleMilliseconds(step.duration);
      steps_ms[step.name] += ms;
      if (step.name == "wait_ready") modelled_ms += ms;
      if (step.name == "wait_ready" || SecureWorld(step.name)) others_ms += ms;
    }
    pild_ms += wall_ms - others_ms;
    if (!engine.Stop(pair.coprocessor, absl::ZeroDuration(), {}).ok()) {
      state.SkipWithError("stop failed");
      break;
    }
    state.ResumeTiming();
  }
  if (state.iterations() > 0) {
    const double n = static_cast<double>(state.iterations());
    Figures()[absl::StrCat(cold ? "start_to_running/" : "start_again/",
                           Label(pair))] = {pild_ms / n, modelled_ms / n};
    state.counters["pild_ms"] = pild_ms / n;
    for (const auto& [name, ms] : steps_ms) {
      state.counters[name + "_ms"] = ms / n;
    }
  }
}

// The bytes pild hashes: every segment with file data but the hash segment.
struct Segments {
  std::vector<std::string> data;  // largest first
  const EVP_MD* md = nullptr;
};

Segments SegmentsOf(const std::string& path) {
  Segments out;
  auto image = image::FirmwareImage::LoadFile(path);
  if (!image.ok()) return out;
  const image::ImageReport report = image::Inspect(*image);
  out.md = report.algorithm == image::HashAlgorithm::kSha384 ? EVP_sha384()
                                                             : EVP_sha256();
  for (size_t i = 0; i < image->segments().size(); ++i) {
    if (i == image->hash_index() || image->segment_data(i).empty()) continue;
    out.data.emplace_back(image->segment_data(i));
  }
  std::sort(out.data.begin(), out.data.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return out;
}

void HashAll(const std::vector<const std::string*>& parts, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (const std::string* p : parts) {
    EVP_Digest(p->data(), p->size(), out, &length, md, nullptr);
    benchmark::DoNotOptimize(out);
  }
}

void SegmentDigest(benchmark::State& state, const std::string& path,
                   int threads) {
  const Segments segments = SegmentsOf(path);
  if (segments.md == nullptr) {
    state.SkipWithError("cannot load the image");
    return;
  }
  // Largest first, each to the less loaded thread.
  std::vector<std::vector<const std::string*>> shares(threads);
  std::vector<size_t> load(threads, 0);
  for (const std::string& s : segments.data) {
    const size_t t = static_cast<size_t>(
        std::min_element(load.begin(), load.end()) - load.begin());
    shares[t].push_back(&s);
    load[t] += s.size();
  }
  for (auto _ : state) {
    std::vector<std::thread> helpers;
    for (int t = 1; t < threads; ++t) {
      helpers.emplace_back(HashAll, shares[t], segments.md);
    }
    HashAll(shares[0], segments.md);
    for (std::thread& h : helpers) h.join();
  }
}

}  // namespace
}  // namespace pil::bench

int main(int argc, char** argv) {
  using namespace pil::bench;
  for (const Pair& p : Pairs()) {
    const std::string label = Label(p);
    const std::string path = RealData("firmware/" + p.firmware);
    const std::string algorithm =
        SegmentsOf(path).md == EVP_sha384() ? "sha384" : "sha256";
    benchmark::RegisterBenchmark(("start_to_running/" + label).c_str(),
                                 StartToRunning, p, true)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("start_again/" + label).c_str(),
                                 StartToRunning, p, false)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("openssl_dgst_command/" + label).c_str(),
                                 OpensslDgstCommand, path, algorithm)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("segments_evp_1thread/" + label).c_str(),
                                 SegmentDigest, path, 1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("segments_floor_2threads/" + label).c_str(),
                                 SegmentDigest, path, 2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  const auto medians = RunWithMedians(argc, argv);
  for (const char* start_bench : {"start_to_running", "start_again"}) {
    std::printf(
        "\n%s, medians (ms); goals for images of 1 MiB or more: pild <= 1.3x "
        "floor, start <= 0.8x dgst\n%-32s %5s | %7s %7s %7s %6s  %6s | %7s "
        "%7s %6s  | %8s\n",
        start_bench, "image@board", "MiB", "pild", "floor", "evp", "/floor",
        "/evp", "start", "dgst", "/dgst", "modelled");
    for (const Pair& p : Pairs()) {
      const std::string label = Label(p);
      auto at = [&](const std::string& bench) {
        auto it = medians.find(bench + "/" + label);
        return it == medians.end() ? 0.0 : it->second;
      };
      const double start = at(start_bench), cmd = at("openssl_dgst_command"),
                   evp = at("segments_evp_1thread"),
                   floor = at("segments_floor_2threads");
      if (start <= 0 || cmd <= 0 || evp <= 0 || floor <= 0) continue;
      // The figures of the last repetition (the counters of each are in
      // the report above).
      const StartFigures f = Figures()[std::string(start_bench) + "/" + label];
      const double mib =
          pil::ReadFile(RealData("firmware/" + p.firmware))->size() / 1048576.0;
      const double net = start - f.modelled_ms;
      const bool counts = mib >= 1.0;
      std::printf(
          "%-32s %5.2f | %7.2f %7.2f %7.2f %5.2fx%s %5.2fx | %7.2f %7.2f "
          "%5.2fx%s | %8.2f\n",
          label.c_str(), mib, f.pild_ms, floor, evp, f.pild_ms / floor,
          counts && f.pild_ms > 1.3 * floor ? "!" : " ", f.pild_ms / evp, net,
          cmd, net / cmd, counts && net > 0.8 * cmd ? "!" : " ", f.modelled_ms);
    }
  }
  std::printf(
      "(! marks a goal not met. start is Start->RUNNING less the modelled "
      "boot; pild and modelled are means over the last repetition)\n");
  return 0;
}
