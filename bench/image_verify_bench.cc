// Image verification throughput on the real images, against OpenSSL
// hashing the same bytes with the same algorithm in the same run.
//
//   ./bazelw run -c opt //bench:image_verify_bench
//
// For each image: pild's full verification (layout, every segment hash,
// signature, chain) on 2 threads and on 1, cold (certificate chains parsed
// and checked, as for an image seen the first time) and warm (its chain
// checked before, as on a restart); and two baselines: one EVP digest of
// the whole file in this process, single-threaded (what `openssl dgst`
// computes, without process start-up or file I/O), and the `openssl dgst`
// command itself on the file. Prints the medians and the ratios verify /
// baseline; below 1.0 beats the baseline.
#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "common/file.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"
#include "platform/image/signature.h"

namespace pil::bench {
namespace {

struct Subject {
  std::string path;
  std::string bytes;
  std::unique_ptr<image::FirmwareImage> image;
  const EVP_MD* md = nullptr;
};

std::vector<Subject>& Subjects() {
  static auto* subjects = new std::vector<Subject>();
  return *subjects;
}

void Load() {
  for (const char* path :
       {"firmware/qcom/venus-5.2/venus.mbn", "firmware/qcom/sdm845/cdsp.mbn",
        "firmware/qcom/sm8250/cdsp.mbn", "firmware/qcom/vpu/vpu30_p4.mbn"}) {
    Subject s;
    s.path = path;
    auto bytes = ReadFile(RealData(path), image::FirmwareImage::kMaxFileSize);
    if (!bytes.ok()) std::abort();
    s.bytes = *bytes;
    auto image = image::FirmwareImage::FromBytes(path, s.bytes);
    if (!image.ok()) std::abort();
    const image::ImageReport report = image::Inspect(*image);
    if (!report.ok()) std::abort();
    s.md = report.algorithm == image::HashAlgorithm::kSha384 ? EVP_sha384()
                                                             : EVP_sha256();
    s.image = std::make_unique<image::FirmwareImage>(std::move(*image));
    Subjects().push_back(std::move(s));
  }
}

void Verify(benchmark::State& state, size_t index, int threads, bool cold) {
  const Subject& s = Subjects()[index];
  image::InspectOptions options;
  options.threads = threads;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      image::ClearCheckedChainCache();
      state.ResumeTiming();
    }
    image::ImageReport report = image::Inspect(*s.image, options);
    if (!report.ok()) state.SkipWithError("image does not verify");
    benchmark::DoNotOptimize(report);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(s.bytes.size()));
}

void OpenSslDigest(benchmark::State& state, size_t index) {
  const Subject& s = Subjects()[index];
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    EVP_Digest(s.bytes.data(), s.bytes.size(), out, &length, s.md, nullptr);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(s.bytes.size()));
}

// `openssl dgst -sha256|-sha384 FILE`, as a user would run it.
void OpenSslCommand(benchmark::State& state, size_t index) {
  const Subject& s = Subjects()[index];
  OpensslDgstCommand(state, RealData(s.path),
                     s.md == EVP_sha384() ? "sha384" : "sha256");
}

}  // namespace
}  // namespace pil::bench

int main(int argc, char** argv) {
  using namespace pil::bench;
  Load();
  for (size_t i = 0; i < Subjects().size(); ++i) {
    const std::string& name = Subjects()[i].path;
    for (const auto& [label, threads, cold] :
         std::vector<std::tuple<std::string, int, bool>>{
             {"cold_2_threads", 2, true},
             {"cold_1_thread", 1, true},
             {"warm_2_threads", 2, false},
             {"warm_1_thread", 1, false}}) {
      benchmark::RegisterBenchmark((label + "/" + name).c_str(), Verify, i,
                                   threads, cold)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("openssl_digest/" + name).c_str(),
                                 OpenSslDigest, i)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("openssl_dgst_command/" + name).c_str(),
                                 OpenSslCommand, i)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  const auto medians = RunWithMedians(argc, argv);
  std::printf(
      "\nmedian times (ms) and ratios to OpenSSL's digest of the same file\n"
      "%-22s %-6s %5s | %7s %7s %7s %7s | %7s %7s | %6s %6s %6s %6s | %6s\n",
      "image", "hash", "MiB", "cold2", "cold1", "warm2", "warm1", "evp", "dgst",
      "c2/evp", "c1/evp", "w2/evp", "w1/evp", "c2/cmd");
  for (const Subject& s : Subjects()) {
    auto at = [&](const std::string& bench) {
      auto it = medians.find(bench + "/" + s.path);
      return it == medians.end() ? 0.0 : it->second;
    };
    const double c2 = at("cold_2_threads"), c1 = at("cold_1_thread"),
                 w2 = at("warm_2_threads"), w1 = at("warm_1_thread"),
                 evp = at("openssl_digest"), cmd = at("openssl_dgst_command");
    if (evp <= 0 || cmd <= 0) continue;
    std::printf(
        "%-22s %-6s %5.2f | %7.3f %7.3f %7.3f %7.3f | %7.3f %7.3f | %5.2fx "
        "%5.2fx %5.2fx %5.2fx | %5.2fx\n",
        s.path.substr(s.path.find("qcom/") + 5).c_str(), EVP_MD_get0_name(s.md),
        s.bytes.size() / 1048576.0, c2, c1, w2, w1, evp, cmd, c2 / evp,
        c1 / evp, w2 / evp, w1 / evp, c2 / cmd);
  }
  return 0;
}
