// The service's door: callers it cannot identify (plaintext TCP, as
// --insecure-plaintext-tcp serves it) are refused everything, and every
// refusal is in the audit trail; identified callers see only what the
// policy lets them.
#include <string>

#include "client/pild_client.h"
#include "common/error.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/engine_testing.h"
#include "tests/server/served.h"

namespace pil::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Served;
using testing::ServedOptions;
using testing::SimEngine;

ServedOptions WithTcp() {
  ServedOptions options;
  options.plaintext_tcp = true;
  return options;
}

void ExpectDenied(const absl::Status& status, const std::string& verb) {
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_EQ(ReasonOf(status), "ACCESS_DENIED") << status;
  EXPECT_EQ(MetadataOf(status)["verb"], verb) << status;
}

TEST(ServiceAccess, AnUnidentifiedCallerIsRefusedEverythingAndRecorded) {
  Served served(WithTcp());
  auto remote = served.Client(absl::Seconds(10), /*tcp=*/true);
  ExpectDenied(remote.ListCoprocessors().status(), "read");
  ExpectDenied(remote.GetCoprocessor("video").status(), "read");
  ExpectDenied(remote.Start("video").status(), "start");
  ExpectDenied(remote.Stop("adsp").status(), "stop");
  ExpectDenied(remote.Authenticate("video").status(), "authenticate");
  ExpectDenied(remote.Map("video").status(), "map");
  ExpectDenied(remote.Reset("video").status(), "reset");
  ExpectDenied(
      remote.InspectImage(client::Firmware::Named("x.mbn"), "").status(),
      "inspect");
  ExpectDenied(
      remote.Upload("x.mbn", SimEngine::Signed(0x9bb00000, 0x1000, 0xe, 7))
          .status(),
      "upload");
  std::string bytes;
  ExpectDenied(remote.GetCoredump("cdsp", 0, &bytes).status(), "coredump");
  ExpectDenied(remote.GetHistory(v1::GetHistoryRequest()).status(), "history");
  ExpectDenied(remote.GetInfo().status(), "read");
  bool any_event = false;
  ExpectDenied(remote.Watch("",
                            [&](const v1::WatchEvent&) {
                              any_event = true;
                              return false;
                            }),
               "read");
  EXPECT_FALSE(any_event);

  // Nothing moved; every attempt is on the record, as refused.
  served.sim().ExpectClean("video");
  auto entries = served.sim().history().Latest("", 100);
  EXPECT_EQ(entries.size(), 13u);
  for (const HistoryEntry& e : entries) {
    EXPECT_TRUE(e.refused) << e.operation;
    EXPECT_EQ(e.result, "ACCESS_DENIED");
    EXPECT_EQ(e.caller.uid, -1);
    EXPECT_THAT(e.caller.peer, HasSubstr("127.0.0.1"));
  }
  // The Unix socket's root caller still may.
  auto local = served.Client();
  EXPECT_TRUE(local.Start("video").ok());
  EXPECT_TRUE(local.Stop("video").ok());
}

grpc::Status HealthCheck(std::shared_ptr<grpc::Channel> channel,
                         const std::string& service,
                         grpc::health::v1::HealthCheckResponse* response) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  return stub->Check(&context, request, response);
}

TEST(ServiceAccess, HealthAnswersOnlyWhomThePolicyLetsRead) {
  Served served(WithTcp());
  grpc::health::v1::HealthCheckResponse response;
  auto local =
      grpc::CreateChannel(served.address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(HealthCheck(local, "", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(served.Client().Start("video").ok());
  ASSERT_TRUE(
      HealthCheck(local, "pil.v1.LifecycleService/video", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(
      HealthCheck(local, "pil.v1.LifecycleService/adsp", &response).ok());
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(
      HealthCheck(local, "pil.v1.LifecycleService/gpu", &response).error_code(),
      grpc::StatusCode::NOT_FOUND);
  // Nobody pild can name learns nothing, not even whether video runs.
  for (const char* service :
       {"", "pil.v1.LifecycleService", "pil.v1.LifecycleService/video"}) {
    const grpc::Status status =
        HealthCheck(served.TcpChannel(), service, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << service;
  }
  ASSERT_TRUE(served.Client().Stop("video").ok());
  size_t denied = 0;
  for (const HistoryEntry& e : served.sim().history().Latest("", 100)) {
    denied += e.refused && e.result == "ACCESS_DENIED";
  }
  EXPECT_EQ(denied, 3u);
}

TEST(ServiceAccess, InfoTellsTheCallerWhoItIsAndWhatItMay) {
  Served served;
  auto info = served.Client().GetInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->caller().uid(), static_cast<int64_t>(getuid()));
  EXPECT_EQ(info->caller().pid(), static_cast<int64_t>(getpid()));
  EXPECT_EQ(info->backend(), v1::BACKEND_SIM);
  EXPECT_EQ(info->epoch().size(), 32u);
  const v1::Capabilities& can = info->capabilities();
  EXPECT_TRUE(can.separate_steps());
  EXPECT_TRUE(can.dry_run());
  EXPECT_TRUE(can.watch_resume());
  EXPECT_EQ(can.watch_events_kept(), 256u);
  EXPECT_THAT(can.hash_table_versions(), ElementsAre(3, 5, 6, 7));
  EXPECT_EQ(can.signature_schemes_size(), 3);
  EXPECT_EQ(can.max_upload_size(), uint64_t{512} << 20);
  EXPECT_EQ(can.max_upload_chunk(), uint64_t{1} << 20);
  ASSERT_EQ(info->grants_size(), access::kVerbCount);  // root, or the test's
                                                       // ADMIN uid
  EXPECT_TRUE(info->grants(0).all_coprocessors());
  EXPECT_TRUE(info->audit().enabled());
}

TEST(ServiceAccess, HistoryPagesWithTokens) {
  Served served;
  auto client = served.Client();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Start("video").ok());
    ASSERT_TRUE(client.Stop("video").ok());
  }
  v1::GetHistoryRequest request;
  request.set_limit(4);
  std::vector<uint64_t> ids;
  for (int page = 0; page < 3; ++page) {
    auto response = client.GetHistory(request);
    ASSERT_TRUE(response.ok()) << response.status();
    for (const auto& e : response->entries()) ids.push_back(e.id());
    request.set_page_token(response->next_page_token());
    if (request.page_token().empty()) break;
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{6, 5, 4, 3, 2, 1}));
  request.set_page_token("nonsense");
  EXPECT_EQ(ReasonOf(client.GetHistory(request).status()), "BAD_PAGE_TOKEN");
  request.set_page_token("");
  request.set_caller_certificate(std::string(1025, 'c'));
  EXPECT_EQ(ReasonOf(client.GetHistory(request).status()),
            "BAD_CALLER_CERTIFICATE");
}

TEST(ServiceAccess, AHistoryPageHoldsAtMostAThousandEntries) {
  Served served;
  for (int i = 0; i < 1005; ++i) {
    HistoryEntry e;
    e.coprocessor = "adsp";
    e.operation = "start";
    served.sim().history().Add(e);
  }
  v1::GetHistoryRequest request;
  request.set_limit(5000);
  auto page = served.Client().GetHistory(request);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->entries_size(), 1000);
  EXPECT_FALSE(page->next_page_token().empty());
  request.set_limit(0);  // the default page
  page = served.Client().GetHistory(request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries_size(), 100);
}

}  // namespace
}  // namespace pil::server
