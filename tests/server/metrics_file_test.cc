// The metrics file: replaced whole by rename (a reader never sees a part),
// mode 0644, no temporary file left behind; a write that fails is counted,
// never fatal; the flag's path is checked.
#include "server/metrics/metrics_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::server::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Scratch(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

ino_t Inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

// A collector whose watch_streams the test sets.
struct Source {
  std::atomic<uint64_t> value{0};
  Snapshot operator()() const {
    Snapshot s;
    s.watch_streams = value.load();
    return s;
  }
};

TEST(MetricsFile, WritesByRenameWithMode0644AndNoTemporaryLeft) {
  const std::string dir = Scratch("metrics_rename");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFile file(path, [&] { return source(); });
  const mode_t umask_before = ::umask(077);
  ASSERT_TRUE(file.Write().ok());
  ::umask(umask_before);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_THAT(Read(path), HasSubstr("\npild_watch_streams 0\n"));
  EXPECT_THAT(Read(path),
              HasSubstr("\npild_metrics_written_timestamp_seconds "));
  const ino_t before = Inode(path);

  source.value = 3;
  ASSERT_TRUE(file.Write().ok());
  EXPECT_THAT(Read(path), HasSubstr("\npild_watch_streams 3\n"));
  EXPECT_NE(Inode(path), before) << "the file was rewritten in place";
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"pild.prom"});
  EXPECT_EQ(file.failures(), 0u);
}

TEST(MetricsFile, AReaderSeesOnlyWholeFiles) {
  const std::string dir = Scratch("metrics_whole");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFile file(path, [&] { return source(); });
  ASSERT_TRUE(file.Write().ok());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, partial{0};
  std::thread reader([&] {
    while (!done) {
      const std::string text = Read(path);
      ++reads;
      // Every whole file ends with the written timestamp's sample.
      if (text.find("\npild_metrics_written_timestamp_seconds ") ==
              std::string::npos ||
          text.back() != '\n') {
        ++partial;
      }
    }
  });
  for (int i = 0; i < 300; ++i) {
    source.value = i;
    ASSERT_TRUE(file.Write().ok());
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(partial.load(), 0);
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"pild.prom"});
}

TEST(MetricsFile, AFailedWriteIsCountedNotFatal) {
  const std::string dir = Scratch("metrics_gone");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFile file(path, [&] { return source(); });
  std::filesystem::remove_all(dir);
  const absl::Status failed = file.Write();
  EXPECT_EQ(ReasonOf(failed), "METRICS_WRITE_FAILED");
  EXPECT_THAT(failed.message(), HasSubstr(path));
  EXPECT_EQ(file.failures(), 1u);

  // A path that is a directory: the rename fails, the temporary goes.
  std::filesystem::create_directories(path);
  EXPECT_FALSE(file.Write().ok());
  EXPECT_EQ(file.failures(), 2u);
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"pild.prom"});

  std::filesystem::remove(path);
  ASSERT_TRUE(file.Write().ok());
  EXPECT_THAT(Read(path), HasSubstr("\npild_metrics_write_failures_total 2\n"));
}

TEST(MetricsFile, ItsThreadRewritesOnChangeAndStopWritesALastTime) {
  const std::string dir = Scratch("metrics_thread");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFileOptions options;
  options.check = absl::Milliseconds(10);
  options.refresh = absl::Hours(1);
  MetricsFile file(
      path, [&] { return source(); }, options);
  ASSERT_TRUE(file.Write().ok());
  file.Start();
  const ino_t first = Inode(path);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(Inode(path), first) << "rewritten without a change";

  source.value = 7;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Read(path).find("\npild_watch_streams 7\n") == std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(Read(path), HasSubstr("\npild_watch_streams 7\n"));

  source.value = 8;
  file.Stop();
  EXPECT_THAT(Read(path), HasSubstr("\npild_watch_streams 8\n"));
}

TEST(MetricsFile, ItsThreadRefreshesTheTimestamp) {
  const std::string dir = Scratch("metrics_refresh");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFileOptions options;
  options.check = absl::Milliseconds(10);
  options.refresh = absl::Milliseconds(50);
  MetricsFile file(
      path, [&] { return source(); }, options);
  ASSERT_TRUE(file.Write().ok());
  const std::string first = Read(path);
  file.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Read(path) == first && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_NE(Read(path), first);
}

TEST(CheckMetricsPath, NamesWhatWasExpectedAndFound) {
  const std::string dir = Scratch("metrics_flag");
  EXPECT_TRUE(CheckMetricsPath(dir + "/pild.prom").ok());

  const absl::Status missing = CheckMetricsPath(dir + "/nope/pild.prom");
  EXPECT_EQ(ReasonOf(missing), "BAD_FLAG");
  EXPECT_THAT(std::string(missing.message()),
              StartsWith("--metrics-file must name a file "
                         "ending in .prom in an existing "
                         "directory"));
  EXPECT_THAT(missing.message(),
              HasSubstr("directory " + dir + "/nope does not exist"));

  EXPECT_THAT(CheckMetricsPath(dir + "/pild.txt").message(),
              HasSubstr("its name does not end in .prom"));
  std::ofstream(dir + "/file").put('x');
  EXPECT_THAT(CheckMetricsPath(dir + "/file/pild.prom").message(),
              HasSubstr(dir + "/file is not a directory"));
  std::filesystem::create_directories(dir + "/d.prom");
  EXPECT_THAT(CheckMetricsPath(dir + "/d.prom").message(),
              HasSubstr("it is a directory"));
}

}  // namespace
}  // namespace pil::server::metrics
