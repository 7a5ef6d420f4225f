// Unit tests of the engine's parts: firmware store, resource tables,
// coredumps, history, the worker pool.
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/error.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "platform/image/bytes.h"
#include "platform/image/elf.h"
#include "platform/pas/coredump.h"
#include "platform/pas/resource_table.h"
#include "server/firmware_store.h"
#include "server/history.h"
#include "server/workers.h"
#include "tests/sim/sim_testing.h"

namespace pil::server {
namespace {

using pas::BuildResourceTable;
using pas::DevMem;
using pas::ParseResourceTable;
using pas::WriteCoredump;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const std::string dir = absl::StrCat(
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// ---- FirmwareStore ----

TEST(FirmwareName, OnlyRelativeNamesInsideTheDirectories) {
  EXPECT_TRUE(CheckFirmwareName("qcom/sm8550/adsp.mbn").ok());
  EXPECT_TRUE(CheckFirmwareName("a.mdt").ok());
  for (const char* bad : {"", "/lib/firmware/a.mbn", "../a.mbn", "qcom/../a",
                          "qcom//a.mbn", "./a.mbn", "qcom/."}) {
    absl::Status s = CheckFirmwareName(bad);
    EXPECT_EQ(ReasonOf(s), "FIRMWARE_NAME_INVALID") << bad;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ReasonOf(CheckFirmwareName(std::string("a\0b", 3))),
            "FIRMWARE_NAME_INVALID");
  EXPECT_EQ(ReasonOf(CheckFirmwareName(std::string(300, 'a'))),
            "FIRMWARE_NAME_INVALID");
}

TEST(FirmwareStore, SearchesDirectoriesInOrderAndLoadsSplitImages) {
  const std::string first = TempDir("store-first"),
                    second = TempDir("store-second");
  auto image = sim::testing::SignedFor(0x9bb00000, 0x200000, 0xe);
  std::filesystem::create_directories(second + "/qcom");
  ASSERT_TRUE(
      WriteFile(second + "/qcom/video.mbn", std::string(image.main_file()))
          .ok());
  auto split = image.Split();
  ASSERT_TRUE(split.ok());
  ASSERT_TRUE(WriteFile(first + "/video.mdt", split->mdt).ok());
  for (const auto& [name, bytes] : split->parts) {
    const std::string part = name.substr(name.size() - 3);  // bNN
    ASSERT_TRUE(WriteFile(first + "/video." + part, bytes).ok());
  }
  FirmwareStore store({first, second});
  auto mbn = store.Load(FirmwareSource::Named("qcom/video.mbn"));
  ASSERT_TRUE(mbn.ok()) << mbn.status();
  EXPECT_FALSE(mbn->split());
  auto mdt = store.Load(FirmwareSource::Named("video.mdt"));
  ASSERT_TRUE(mdt.ok()) << mdt.status();
  EXPECT_TRUE(mdt->split());
  EXPECT_EQ(mdt->Metadata(), mbn->Metadata());

  auto missing = store.Load(FirmwareSource::Named("qcom/none.mbn"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(missing.status()), "FIRMWARE_NOT_FOUND");
  EXPECT_THAT(missing.status().message(),
              HasSubstr(absl::StrCat(first, ", ", second)));
  EXPECT_EQ(MetadataOf(missing.status())["searched"],
            absl::StrCat(first, ":", second));
  // A directory of that name is not an image.
  EXPECT_EQ(ReasonOf(store.Load(FirmwareSource::Named("qcom")).status()),
            "FIRMWARE_NOT_FOUND");
}

// Real split firmware lives in subdirectories: the parts are found beside
// the .mdt, in the directory the .mdt was found in, and nowhere else.
TEST(FirmwareStore, SplitImageInASubdirectoryLoadsItsPartsBesideIt) {
  const std::string first = TempDir("store-sub-first"),
                    second = TempDir("store-sub-second");
  auto image = sim::testing::SignedFor(0x9bb00000, 0x200000, 0xe);
  auto split = image.Split();
  ASSERT_TRUE(split.ok());
  ASSERT_FALSE(split->parts.empty());
  for (const std::string& dir : {first + "/qcom/sdm845", second + "/qcom"}) {
    std::filesystem::create_directories(dir);
  }
  ASSERT_TRUE(WriteFile(first + "/qcom/sdm845/video.mdt", split->mdt).ok());
  for (const auto& [name, bytes] : split->parts) {
    const std::string part = name.substr(name.size() - 3);  // bNN
    ASSERT_TRUE(WriteFile(first + "/qcom/sdm845/video." + part, bytes).ok());
  }
  FirmwareStore store({first, second});
  auto mdt = store.Load(FirmwareSource::Named("qcom/sdm845/video.mdt"));
  ASSERT_TRUE(mdt.ok()) << mdt.status();
  EXPECT_TRUE(mdt->split());
  EXPECT_EQ(mdt->Metadata(), std::string(image.Metadata()));
  for (size_t i = 0; i < image.segments().size(); ++i) {
    EXPECT_EQ(mdt->segment_data(i), image.segment_data(i)) << "segment " << i;
  }

  // A part missing beside the .mdt is not looked for in another directory.
  // (The last part holds a loadable segment; .b00 repeats the headers the
  // .mdt already has.)
  const std::string& last = split->parts.back().first;
  const std::string moved = last.substr(last.size() - 3);
  std::filesystem::rename(first + "/qcom/sdm845/video." + moved,
                          second + "/qcom/video." + moved);
  auto missing = store.Load(FirmwareSource::Named("qcom/sdm845/video.mdt"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound)
      << missing.status();
  EXPECT_EQ(ReasonOf(missing.status()), "SPLIT_SEGMENT_MISSING");
  EXPECT_THAT(missing.status().message(),
              HasSubstr(absl::StrCat(first, "/qcom/sdm845/video.", moved)));
}

TEST(FirmwareStore, UploadsAreKeptByDigestNewestFirstWithinCapacity) {
  auto a = sim::testing::SignedFor(0x9bb00000, 0x100000, 0xe);
  const std::string bytes(a.main_file());
  FirmwareStore store({}, /*upload_capacity=*/bytes.size() * 2);
  store.AddUpload("a", bytes);
  store.AddUpload("b", bytes);
  ASSERT_TRUE(store.Load(FirmwareSource::Upload("a")).ok());
  store.AddUpload("a", bytes);  // touched: now the newest
  store.AddUpload("c", bytes);  // evicts the oldest, "b"
  EXPECT_TRUE(store.Load(FirmwareSource::Upload("a")).ok());
  EXPECT_TRUE(store.Load(FirmwareSource::Upload("c")).ok());
  auto b = store.Load(FirmwareSource::Upload("b"));
  EXPECT_EQ(ReasonOf(b.status()), "UPLOAD_NOT_FOUND");
  EXPECT_EQ(FirmwareSource::Upload("c").Describe(), "upload:c");
}

// ---- resource tables ----

// A resource table: header, offsets, then the entries given as raw bytes.
std::string Table(const std::vector<std::string>& entries) {
  std::string out(16 + 4 * entries.size(), '\0');
  image::StoreLe(out, 0, 1, 4);
  image::StoreLe(out, 4, entries.size(), 4);
  for (size_t i = 0; i < entries.size(); ++i) {
    image::StoreLe(out, 16 + 4 * i, out.size(), 4);
    out += entries[i];
  }
  return out;
}

std::string Devmem(uint32_t da, uint32_t pa, uint32_t len,
                   const std::string& name) {
  std::string e(56, '\0');
  image::StoreLe(e, 0, 1, 4);
  image::StoreLe(e, 4, da, 4);
  image::StoreLe(e, 8, pa, 4);
  image::StoreLe(e, 12, len, 4);
  e.replace(24, name.size(), name);
  return e;
}

TEST(ResourceTable, WhatTheSecureWorldBuildsParsesBack) {
  const std::vector<DevMem> entries = {
      {0x20000000, 0x0a000000, 0x2000, 2, "ipc"},
      {0x30000000, 0x0b000000, 0x1000, 0, std::string(40, 'n')}};
  auto parsed = ParseResourceTable(BuildResourceTable(entries));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].da, 0x20000000u);
  EXPECT_EQ((*parsed)[0].pa, 0x0a000000u);
  EXPECT_EQ((*parsed)[0].length, 0x2000u);
  EXPECT_EQ((*parsed)[0].flags, 2u);
  EXPECT_EQ((*parsed)[0].name, "ipc");
  EXPECT_EQ((*parsed)[1].name, std::string(31, 'n')) << "names hold 31 bytes";
  EXPECT_TRUE(ParseResourceTable(BuildResourceTable({}))->empty());
}

TEST(ResourceTable, DevmemEntriesAreReadOthersSkipped) {
  std::string carveout_entry(28, '\0');  // RSC_CARVEOUT (type 0)
  auto parsed = ParseResourceTable(
      Table({Devmem(0x20000000, 0x0a000000, 0x2000, "ipc"), carveout_entry,
             Devmem(0x30000000, 0x0b000000, 0x1000, "timer")}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].name, "ipc");
  EXPECT_EQ((*parsed)[0].da, 0x20000000u);
  EXPECT_EQ((*parsed)[0].pa, 0x0a000000u);
  EXPECT_EQ((*parsed)[1].length, 0x1000u);
  EXPECT_TRUE(ParseResourceTable(Table({}))->empty());
}

TEST(ResourceTable, MalformedTablesAreRefusedWithWhatIsWrong) {
  std::string bad_version = Table({});
  image::StoreLe(bad_version, 0, 2, 4);
  std::string bad_offset = Table({Devmem(0, 0, 0x1000, "x")});
  image::StoreLe(bad_offset, 16, 4000, 4);
  std::string truncated = Table({Devmem(0, 0, 0x1000, "x")});
  truncated.resize(truncated.size() - 10);
  std::string reserved = Table({Devmem(0, 0, 0x1000, "x")});
  image::StoreLe(reserved, 20 + 20, 1, 4);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc", "smaller than its 16-byte header"},
      {bad_version, "version 2, expected 1"},
      {bad_offset, "entry 0 at offset 4000 is outside the table"},
      {truncated, "devmem entry 0 is truncated"},
      {reserved, "reserved != 0"},
      {Table({Devmem(0x1001, 0, 0x1000, "odd")}), "'odd') is not a 4 KiB"},
      {Table({Devmem(0, 0, 0, "empty")}), "'empty') is not a 4 KiB"},
      {Table({Devmem(0xfffff000, 0, 0x2000, "wrap")}), "'wrap') is not"},
      {Table({Devmem(0x1000, 0, 0x2000, "a"), Devmem(0x2000, 0, 0x1000, "b")}),
       "'a' and 'b' overlap"},
  };
  for (const auto& [table, message] : cases) {
    auto parsed = ParseResourceTable(table);
    EXPECT_EQ(ReasonOf(parsed.status()), "RESOURCE_TABLE_INVALID") << message;
    EXPECT_THAT(parsed.status().message(), HasSubstr(message));
  }
  std::string many = Table({});
  image::StoreLe(many, 4, 0x40000000, 4);
  EXPECT_THAT(ParseResourceTable(many).status().message(),
              HasSubstr("entries do not fit"));
}

// ---- coredumps ----

class FakeMemory : public pas::PhysicalMemory {
 public:
  absl::StatusOr<absl::Span<uint8_t>> Map(uint64_t address,
                                          uint64_t size) override {
    if (address < base_ || address + size > base_ + bytes_.size()) {
      return Error(absl::StatusCode::kOutOfRange, "OUTSIDE_CARVEOUT", "out");
    }
    return absl::Span<uint8_t>(
        reinterpret_cast<uint8_t*>(bytes_.data()) + (address - base_), size);
  }
  uint64_t base_ = 0;
  std::string bytes_;
};

// Ends computed in 32 bits wrap: [0xFFFFF000, +0x1000) ends at 0, and two
// such entries once passed the overlap check.
TEST(ResourceTable, RangesAtTheTopOfTheAddressSpaceStillOverlap) {
  std::vector<pas::DevMem> entries = {
      {0xFFFFF000, 0x1000000, 0x1000, 0, "top"},
      {0xFFFFF000, 0x2000000, 0x1000, 0, "again"}};
  auto parsed = ParseResourceTable(BuildResourceTable(entries));
  EXPECT_EQ(ReasonOf(parsed.status()), "RESOURCE_TABLE_INVALID");
  EXPECT_THAT(parsed.status().message(), HasSubstr("overlap"));
  entries[1].da = 0xFFFFE000;
  EXPECT_TRUE(ParseResourceTable(BuildResourceTable(entries)).ok());
  // A physical range may not wrap either.
  entries = {{0x1000, 0xFFFFF000, 0x2000, 0, "wraps"}};
  EXPECT_EQ(ReasonOf(ParseResourceTable(BuildResourceTable(entries)).status()),
            "RESOURCE_TABLE_INVALID");
}

TEST(Coredump, ElfCoreWithANoteAndTheSegmentBytes) {
  FakeMemory memory;
  memory.base_ = 0x9c900000;
  for (int i = 0; i < 0x3000; ++i) memory.bytes_ += static_cast<char>(i * 7);
  auto core =
      WriteCoredump(memory, 164, {{0x9c900000, 0x1000}, {0x9c902000, 0x800}},
                    "cdsp crashed: WATCHDOG");
  ASSERT_TRUE(core.ok()) << core.status();
  auto elf = image::ParseElfHeaders(*core);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->header.elf_class, 32);
  EXPECT_EQ(elf->header.type, 4);
  EXPECT_EQ(elf->header.machine, 164);
  ASSERT_EQ(elf->phdrs.size(), 3u);
  EXPECT_EQ(elf->phdrs[0].type, 4u);
  const std::string note =
      core->substr(elf->phdrs[0].offset, elf->phdrs[0].filesz);
  EXPECT_THAT(note, HasSubstr("PILD"));
  EXPECT_THAT(note, HasSubstr("cdsp crashed: WATCHDOG"));
  EXPECT_EQ(elf->phdrs[2].type, 1u);
  EXPECT_EQ(elf->phdrs[2].paddr, 0x9c902000u);
  EXPECT_EQ(core->substr(elf->phdrs[2].offset, elf->phdrs[2].filesz),
            memory.bytes_.substr(0x2000, 0x800));
  EXPECT_EQ(core->size(), elf->phdrs[2].offset + 0x800);
}

TEST(Coredump, HighAddressesMakeAnElf64Core) {
  FakeMemory memory;
  memory.base_ = 0x880000000ull;
  memory.bytes_ = std::string(0x1000, 'x');
  auto core = WriteCoredump(memory, 164, {{0x880000000ull, 0x1000}}, "n");
  ASSERT_TRUE(core.ok());
  auto elf = image::ParseElfHeaders(*core);
  ASSERT_TRUE(elf.ok()) << elf.status();
  EXPECT_EQ(elf->header.elf_class, 64);
  EXPECT_EQ(elf->phdrs[1].paddr, 0x880000000ull);
  EXPECT_EQ(core->substr(elf->phdrs[1].offset, 0x1000), memory.bytes_);
}

TEST(Coredump, SegmentOutsideMemoryIsAnError) {
  FakeMemory memory;
  memory.bytes_ = std::string(0x1000, 'x');
  EXPECT_EQ(
      ReasonOf(WriteCoredump(memory, 164, {{0x2000, 0x1000}}, "n").status()),
      "OUTSIDE_CARVEOUT");
}

TEST(State, Names) {
  EXPECT_STREQ(StateName(State::kOffline), "offline");
  EXPECT_STREQ(StateName(State::kRecovering), "recovering");
}

// ---- workers ----

TEST(Workers, RunsInParallelUpToTheBoundThenRefuses) {
  Workers workers(3);
  absl::Notification release;
  std::atomic<int> started{0};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(workers.Run([&] {
      ++started;
      release.WaitForNotification();
    }));
  }
  while (started.load() < 3) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_FALSE(workers.Run([] {}));
  release.Notify();
  // Capacity comes back once work ends.
  std::atomic<bool> ran{false};
  for (int i = 0; i < 1000 && !workers.Run([&] { ran = true; }); ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  while (!ran.load()) absl::SleepFor(absl::Milliseconds(1));
}

// A caller answered by `then` may call again at once: the slot is free.
TEST(Workers, ThenRunsOnceTheSlotIsFree) {
  Workers workers(1);
  absl::Notification answered;
  bool accepted_from_then = false;
  ASSERT_TRUE(workers.Run([] {},
                          [&] {
                            accepted_from_then = workers.Run([] {});
                            answered.Notify();
                          }));
  answered.WaitForNotification();
  EXPECT_TRUE(accepted_from_then);
}

TEST(Workers, DestructionFinishesAcceptedWork) {
  std::atomic<int> done{0};
  {
    Workers workers(4);
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(workers.Run([&] {
        absl::SleepFor(absl::Milliseconds(20));
        ++done;
      }));
    }
  }
  EXPECT_EQ(done.load(), 4);
}

}  // namespace
}  // namespace pil::server
