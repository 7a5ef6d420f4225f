// Watch resumes where a broken stream stopped: the events after the last
// one received, none twice, when the epoch is pild's and it still holds
// them; the initial states again (a resynchronization the client sees)
// when pild restarted or too much happened.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "tests/server/served.h"

namespace pil::server::testing {
namespace {

using ::testing::ElementsAre;

// One Watch call on its own context.
class Stream {
 public:
  Stream(v1::LifecycleService::Stub* stub, std::optional<uint64_t> after,
         const std::string& epoch) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::WatchRequest request;
    if (after) request.set_after_sequence(*after);
    request.set_epoch(epoch);
    reader_ = stub->Watch(&context_, request);
  }
  ~Stream() {
    if (reader_ == nullptr) return;
    context_.TryCancel();
    v1::WatchEvent ignored;
    while (reader_->Read(&ignored)) {
    }
    (void)reader_->Finish();
  }
  v1::WatchEvent Next() {
    v1::WatchEvent event;
    if (!reader_->Read(&event)) {
      const grpc::Status status = reader_->Finish();
      ADD_FAILURE() << "the stream ended: " << status.error_message();
      reader_ = nullptr;
    }
    return event;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader_;
};

std::unique_ptr<v1::LifecycleService::Stub> StubOf(const Served& served) {
  return v1::LifecycleService::NewStub(grpc::CreateChannel(
      served.address(), grpc::InsecureChannelCredentials()));
}

TEST(WatchResume, ResumesAfterTheLastEventWithoutGapsOrDuplicates) {
  Served served;
  auto client = served.Client();
  auto stub = StubOf(served);
  std::string epoch;
  uint64_t as_of = 0;
  auto list = client.ListCoprocessors();
  ASSERT_TRUE(list.ok());
  {
    Stream first(stub.get(), std::nullopt, "");
    for (size_t i = 0; i < list->size(); ++i) {
      const v1::WatchEvent e = first.Next();
      EXPECT_TRUE(e.initial());
      EXPECT_EQ(e.sequence(), 0u);  // no change yet
      epoch = e.epoch();
    }
    ASSERT_TRUE(client.Start("video").ok());
    const v1::WatchEvent e = first.Next();
    EXPECT_EQ(e.sequence(), 1u);
    EXPECT_EQ(e.epoch(), epoch);
    as_of = e.sequence();
  }  // the stream breaks; three more changes happen meanwhile
  auto info = client.GetInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->epoch(), epoch);
  EXPECT_EQ(epoch.size(), 32u);
  ASSERT_TRUE(client.Stop("video").ok());

  Stream resumed(stub.get(), as_of, epoch);
  std::vector<uint64_t> sequences;
  std::vector<v1::State> states;
  for (int i = 0; i < 4; ++i) {
    const v1::WatchEvent e = resumed.Next();
    EXPECT_FALSE(e.initial());
    sequences.push_back(e.sequence());
    states.push_back(e.coprocessor().state());
  }
  EXPECT_THAT(sequences, ElementsAre(2, 3, 4, 5));
  EXPECT_THAT(states, ElementsAre(v1::STATE_MAPPED, v1::STATE_RUNNING,
                                  v1::STATE_STOPPING, v1::STATE_OFFLINE));
  // Then the stream goes on live.
  ASSERT_TRUE(client.Start("adsp").ok());
  const v1::WatchEvent live = resumed.Next();
  EXPECT_EQ(live.sequence(), 6u);
  EXPECT_EQ(live.coprocessor().name(), "adsp");
}

TEST(WatchResume, ResumingAfterTheLatestEventSendsNothingOld) {
  Served served;
  auto client = served.Client();
  auto stub = StubOf(served);
  ASSERT_TRUE(client.Start("video").ok());  // sequences 1-3
  auto info = client.GetInfo();
  ASSERT_TRUE(info.ok());
  Stream resumed(stub.get(), 3, info->epoch());
  ASSERT_TRUE(client.Stop("video").ok());
  EXPECT_EQ(resumed.Next().sequence(), 4u);
}

// What cannot be resumed starts over with the initial states, as of the
// last change.
TEST(WatchResume, AnotherEpochOrEventsNoLongerHeldStartOver) {
  ServedOptions options;
  options.service.watch_queue = 8;  // also the events kept for resuming
  Served served(options);
  auto client = served.Client();
  auto stub = StubOf(served);
  for (int i = 0; i < 2; ++i) {  // ten changes
    ASSERT_TRUE(client.Start("video").ok());
    ASSERT_TRUE(client.Stop("video").ok());
  }
  auto info = client.GetInfo();
  ASSERT_TRUE(info.ok());
  const std::string epoch = info->epoch();
  struct Case {
    const char* what;
    uint64_t after;
    std::string epoch;
  };
  for (const Case& c :
       {Case{"events gone", 1, epoch},
        Case{"another pild", 9, "0123456789abcdef"}, Case{"no epoch", 9, ""},
        Case{"a sequence not reached", 11, epoch}}) {
    SCOPED_TRACE(c.what);
    Stream stream(stub.get(), c.after, c.epoch);
    const v1::WatchEvent e = stream.Next();
    EXPECT_TRUE(e.initial());
    EXPECT_EQ(e.sequence(), 10u);
    EXPECT_EQ(e.epoch(), epoch);
  }
  // Within what is held it resumes.
  Stream stream(stub.get(), 2, epoch);
  const v1::WatchEvent e = stream.Next();
  EXPECT_FALSE(e.initial());
  EXPECT_EQ(e.sequence(), 3u);
}

}  // namespace
}  // namespace pil::server::testing
