// The metrics file: replaced whole by rename (a reader never sees a part),
// mode 0644, no temporary file left behind; a write that fails is counted,
// never fatal; the flag's path is checked, and writes stay in the
// directory checked whatever is swapped in for it or planted in it.
#include "server/metrics/metrics_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
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
  std::filesystem::permissions(path, std::filesystem::perms(0755));
  return path;
}

std::unique_ptr<MetricsPath> Open(const std::string& path) {
  auto opened = MetricsPath::Open(path);
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? *std::move(opened) : nullptr;
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
  auto target = Open(path);
  ASSERT_NE(target, nullptr);
  MetricsFile file(target.get(), [&] { return source(); });
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
  auto target = Open(path);
  ASSERT_NE(target, nullptr);
  MetricsFile file(target.get(), [&] { return source(); });
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
  auto target = Open(path);
  ASSERT_NE(target, nullptr);
  MetricsFile file(target.get(), [&] { return source(); });
  // A path that is a directory: the rename fails, the temporary goes.
  std::filesystem::create_directories(path + "/x");
  const absl::Status failed = file.Write();
  EXPECT_EQ(ReasonOf(failed), "METRICS_WRITE_FAILED");
  EXPECT_THAT(failed.message(), HasSubstr(path));
  EXPECT_EQ(file.failures(), 1u);
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"pild.prom"});

  std::filesystem::remove_all(path);
  ASSERT_TRUE(file.Write().ok());
  EXPECT_THAT(Read(path), HasSubstr("\npild_metrics_write_failures_total 1\n"));

  // The directory removed: its held descriptor finds nothing to write in.
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ReasonOf(file.Write()), "METRICS_WRITE_FAILED");
  EXPECT_EQ(file.failures(), 2u);
}

TEST(MetricsFile, ItsThreadRewritesOnChangeAndStopWritesALastTime) {
  const std::string dir = Scratch("metrics_thread");
  const std::string path = dir + "/pild.prom";
  Source source;
  MetricsFileOptions options;
  options.check = absl::Milliseconds(10);
  options.refresh = absl::Hours(1);
  auto target = Open(path);
  ASSERT_NE(target, nullptr);
  MetricsFile file(
      target.get(), [&] { return source(); }, options);
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
  auto target = Open(path);
  ASSERT_NE(target, nullptr);
  MetricsFile file(
      target.get(), [&] { return source(); }, options);
  ASSERT_TRUE(file.Write().ok());
  const std::string first = Read(path);
  file.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Read(path) == first && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_NE(Read(path), first);
}

TEST(MetricsPath, NamesWhatWasExpectedAndFound) {
  const std::string dir = Scratch("metrics_flag");
  EXPECT_TRUE(MetricsPath::Open(dir + "/pild.prom").ok());
  EXPECT_EQ(Listing(dir), std::vector<std::string>{}) << "the probe was left";

  const absl::Status missing =
      MetricsPath::Open(dir + "/nope/pild.prom").status();
  EXPECT_EQ(ReasonOf(missing), "BAD_FLAG");
  EXPECT_THAT(std::string(missing.message()),
              StartsWith("--metrics-file must name a file "
                         "ending in .prom in an existing "
                         "directory"));
  EXPECT_THAT(missing.message(),
              HasSubstr("directory " + dir + "/nope does not exist"));

  EXPECT_THAT(MetricsPath::Open(dir + "/pild.txt").status().message(),
              HasSubstr("its name does not end in .prom"));
  std::ofstream(dir + "/file").put('x');
  EXPECT_THAT(MetricsPath::Open(dir + "/file/pild.prom").status().message(),
              HasSubstr(dir + "/file is not a directory"));
  std::filesystem::create_directories(dir + "/d.prom");
  EXPECT_THAT(MetricsPath::Open(dir + "/d.prom").status().message(),
              HasSubstr("it is a directory"));
}

TEST(MetricsPath, ADirectoryNothingCanBeCreatedInIsRefusedAtOnce) {
  // Owned by root, mode 0555, and no file can be created in it (as on a
  // read-only file system), whoever runs the test.
  const absl::Status refused = MetricsPath::Open("/proc/pild.prom").status();
  EXPECT_EQ(ReasonOf(refused), "BAD_FLAG");
  EXPECT_THAT(refused.message(),
              HasSubstr("cannot create /proc/.pild.prom.tmp: "));
  EXPECT_THAT(refused.message(), HasSubstr("/proc/pild.prom"));
}

TEST(MetricsPath, ADirectoryOthersCanWriteIsRefused) {
  const std::string dir = Scratch("metrics_shared");
  ::chmod(dir.c_str(), 0775);
  const absl::Status group = MetricsPath::Open(dir + "/pild.prom").status();
  EXPECT_EQ(ReasonOf(group), "BAD_FLAG");
  EXPECT_THAT(group.message(),
              HasSubstr("directory " + dir +
                        " has mode 0775: writable by its group; expected "
                        "writable by its owner only"));
  ::chmod(dir.c_str(), 01777);
  EXPECT_THAT(MetricsPath::Open(dir + "/pild.prom").status().message(),
              HasSubstr("has mode 1777: writable by others"));

  ::chmod(dir.c_str(), 0755);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    EXPECT_THAT(MetricsPath::Open(dir + "/pild.prom").status().message(),
                HasSubstr("directory " + dir +
                          " is owned by uid 65534; expected root (uid 0) or "
                          "pild's user (uid 0)"));
  }
}

TEST(MetricsPath, ASymbolicLinkForTheDirectoryIsRefused) {
  const std::string dir = Scratch("metrics_dirlink");
  std::filesystem::create_directories(dir + "/real");
  std::filesystem::create_directory_symlink(dir + "/real", dir + "/link");
  EXPECT_THAT(MetricsPath::Open(dir + "/link/pild.prom").status().message(),
              HasSubstr(dir + "/link is a symbolic link"));
}

TEST(MetricsPath, ASymbolicLinkAtTheTemporaryIsNeverFollowed) {
  const std::string dir = Scratch("metrics_planted");
  const std::string victim = Scratch("metrics_planted_victim") + "/victim";
  std::ofstream(victim) << "precious";
  auto target = Open(dir + "/pild.prom");
  ASSERT_NE(target, nullptr);
  std::filesystem::create_symlink(victim, dir + "/.pild.prom.tmp");
  ASSERT_TRUE(target->Replace("new\n").ok());
  EXPECT_EQ(Read(victim), "precious");
  EXPECT_EQ(Read(dir + "/pild.prom"), "new\n");
  EXPECT_EQ(Listing(dir), std::vector<std::string>{"pild.prom"});
}

TEST(MetricsPath, ASymbolicLinkAtThePathIsReplacedNotFollowed) {
  const std::string dir = Scratch("metrics_pathlink");
  const std::string victim = Scratch("metrics_pathlink_victim") + "/victim";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, dir + "/pild.prom");
  auto target = Open(dir + "/pild.prom");
  ASSERT_NE(target, nullptr);
  ASSERT_TRUE(target->Replace("new\n").ok());
  EXPECT_EQ(Read(victim), "precious");
  EXPECT_TRUE(std::filesystem::is_regular_file(
      std::filesystem::symlink_status(dir + "/pild.prom")));
  EXPECT_EQ(Read(dir + "/pild.prom"), "new\n");
}

TEST(MetricsPath, WritesStayInTheDirectoryOpenedWhateverIsSwappedIn) {
  const std::string base = Scratch("metrics_swapped");
  const std::string dir = base + "/textfiles";
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms(0755));
  const std::string victim = Scratch("metrics_swapped_victim");
  auto target = Open(dir + "/pild.prom");
  ASSERT_NE(target, nullptr);
  // What the owner of the parent can do after pild started.
  std::filesystem::rename(dir, base + "/moved");
  std::filesystem::create_directory_symlink(victim, dir);
  ASSERT_TRUE(target->Replace("new\n").ok());
  EXPECT_EQ(Listing(victim), std::vector<std::string>{});
  EXPECT_EQ(Read(base + "/moved/pild.prom"), "new\n");
}

}  // namespace
}  // namespace pil::server::metrics
