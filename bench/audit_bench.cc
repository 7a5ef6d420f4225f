// The audit trail's cost per record: one transition's record committed to
// SQLite (WAL, synchronous=FULL: on disk before the reply), against the
// floor of durability measured in the same run — appending the same number
// of bytes to a file and fdatasync()ing it. The record names a real image's
// digest. Also the in-memory trail (--no-audit-trail) and reading a page of
// 100 from a full trail of 100 000 records. And the intent journal's
// writes for one start (an intent, each step, the verified image, the end),
// committed without a flush, against the same number of plain write()s of
// the same bytes to a file (what surviving pild, not the machine, needs).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "common/file.h"
#include "platform/image/signature.h"
#include "server/history.h"
#include "server/journal.h"

namespace pil::bench {
namespace {

std::string Scratch() {
  static const std::string dir = [] {
    char pattern[] = "/var/tmp/pild-audit-bench.XXXXXX";
    const char* made = mkdtemp(pattern);
    if (made == nullptr) std::abort();
    return std::string(made);
  }();
  return dir;
}

const server::HistoryEntry& Record() {
  static const server::HistoryEntry* entry = [] {
    auto image = ReadFile(RealData("firmware/qcom/vpu/vpu30_p4.mbn"), 64 << 20);
    if (!image.ok()) std::abort();
    auto* e = new server::HistoryEntry;
    e->time = absl::Now();
    e->coprocessor = "video";
    e->operation = "start";
    e->request_id = "6f1c2f0e-5c1d-4e3b-9a51-0e9d3b1f7a20";
    e->caller.uid = 1013;
    e->caller.gid = 1013;
    e->caller.pid = 4242;
    e->caller.groups = {1005, 1006};
    e->caller.peer = "fd:17";
    e->image_sha256 = absl::BytesToHexString(
        image::Digest(image::HashAlgorithm::kSha256, *image));
    e->from = server::State::kOffline;
    e->to = server::State::kRunning;
    e->result = "OK";
    e->duration = absl::Milliseconds(40);
    return e;
  }();
  return *entry;
}

// About what SQLite writes for one such record.
size_t RecordBytes() {
  const server::HistoryEntry& e = Record();
  return 120 + e.coprocessor.size() + e.operation.size() + e.request_id.size() +
         e.image_sha256.size() + e.caller.peer.size();
}

void BM_AuditRecordOnDisk(benchmark::State& state) {
  const std::string path = Scratch() + "/audit.db";
  std::remove(path.c_str());
  auto history = server::History::Open(path, {});
  if (!history.ok()) {
    state.SkipWithError(std::string(history.status().message()).c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize((*history)->Add(Record()));
}
BENCHMARK(BM_AuditRecordOnDisk)->UseRealTime();

void BM_AppendFdatasync(benchmark::State& state) {
  const std::string path = Scratch() + "/append.log";
  const int fd = ::open(
      path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  const std::string bytes(RecordBytes(), 'r');
  for (auto _ : state) {
    if (::write(fd, bytes.data(), bytes.size()) < 0 || ::fdatasync(fd) != 0) {
      state.SkipWithError("write/fdatasync failed");
      break;
    }
  }
  ::close(fd);
}
BENCHMARK(BM_AppendFdatasync)->UseRealTime();

// The steps of a start on a board where pild bridges and maps.
const char* const kStartSteps[] = {"load",
                                   "verify_and_copy",
                                   "pas_init_image",
                                   "pas_mem_setup",
                                   "iommu_attach",
                                   "smmu_map",
                                   "pas_get_rsctable",
                                   "smmu_map",
                                   "shm_bridge_create",
                                   "pas_auth_and_reset",
                                   "shm_bridge_delete",
                                   "wait_ready",
                                   "release_metadata"};
constexpr int kJournalWrites = 16;  // intent, 13 steps, image, end

server::JournalImage Image() {
  server::JournalImage image;
  image.source_kind = "name";
  image.source = "qcom/vpu/vpu30_p4.mbn";
  image.sha256 = Record().image_sha256;
  image.version = "VIDEO.VPU.3.0-00081";
  image.hash_table_version = 7;
  image.sw_id = 0xe;
  return image;
}

void BM_JournalOfAStart(benchmark::State& state) {
  const std::string path = Scratch() + "/journal.db";
  std::remove(path.c_str());
  auto journal = server::Journal::Open(path);
  if (!journal.ok()) {
    state.SkipWithError(std::string(journal.status().message()).c_str());
    return;
  }
  const server::JournalImage image = Image();
  for (auto _ : state) {
    (*journal)->Begin("video", "start");
    for (const char* step : kStartSteps) (*journal)->Step("video", step);
    (*journal)->Booting("video", image);
    (*journal)->End("video", image);
  }
  if ((*journal)->write_failures() != 0) state.SkipWithError("writes failed");
}
BENCHMARK(BM_JournalOfAStart)->UseRealTime();

void BM_PlainWrites(benchmark::State& state) {
  const std::string path = Scratch() + "/writes.log";
  const int fd = ::open(
      path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  const std::string bytes(RecordBytes(), 'j');
  for (auto _ : state) {
    for (int i = 0; i < kJournalWrites; ++i) {
      if (::write(fd, bytes.data(), bytes.size()) < 0) {
        state.SkipWithError("write failed");
        break;
      }
    }
  }
  ::close(fd);
}
BENCHMARK(BM_PlainWrites)->UseRealTime();

void BM_AuditRecordInMemory(benchmark::State& state) {
  server::History history;
  for (auto _ : state) benchmark::DoNotOptimize(history.Add(Record()));
}
BENCHMARK(BM_AuditRecordInMemory)->UseRealTime();

void BM_AuditPageOfAFullTrail(benchmark::State& state) {
  server::History history;
  for (int i = 0; i < 100000; ++i) history.Add(Record());
  server::History::Query query;
  query.coprocessor = "video";
  query.limit = 100;
  uint64_t next = 0;
  for (auto _ : state) {
    auto page = history.Find(query, &next);
    benchmark::DoNotOptimize(page);
    query.before_id = next > 200 ? next : 0;
  }
}
BENCHMARK(BM_AuditPageOfAFullTrail)->UseRealTime();

}  // namespace
}  // namespace pil::bench

int main(int argc, char** argv) {
  const auto medians = pil::bench::RunWithMedians(argc, argv);
  auto median = [&medians](const std::string& name) {
    auto it = medians.find(name);
    return it == medians.end() ? 0.0 : it->second;
  };
  const double disk = median("BM_AuditRecordOnDisk");
  const double floor = median("BM_AppendFdatasync");
  std::printf(
      "\naudit record on disk: %.1f us median; append + fdatasync of %zu "
      "bytes: %.1f us; ratio %.2fx\n",
      disk / 1e3, pil::bench::RecordBytes(), floor / 1e3,
      floor > 0 ? disk / floor : 0.0);
  std::printf("in memory: %.1f us; a page of 100 of 100000 records: %.1f us\n",
              median("BM_AuditRecordInMemory") / 1e3,
              median("BM_AuditPageOfAFullTrail") / 1e3);
  const double journal = median("BM_JournalOfAStart");
  const double writes = median("BM_PlainWrites");
  std::printf(
      "intent journal of one start (%d commits): %.1f us; %d plain writes: "
      "%.1f us; ratio %.2fx\n",
      pil::bench::kJournalWrites, journal / 1e3, pil::bench::kJournalWrites,
      writes / 1e3, writes > 0 ? journal / writes : 0.0);
  return 0;
}
