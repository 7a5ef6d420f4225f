// pilctl's JSON keys are the pil.v1 field names of what they show
// (docs/CLI.md), and the formatting of uploads, coredumps, leases and
// recovery policies.
#include "client/format.h"

#include <cctype>
#include <set>
#include <string>

#include "client/audit_format.h"
#include "client/image_format.h"
#include "client/lifecycle_format.h"
#include "client/store_format.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace pil::client {
namespace {

using ::google::protobuf::Descriptor;
using ::testing::HasSubstr;
using ::testing::IsSubsetOf;

// The field names of `type` and of every pil.v1 message reachable from it
// (timestamps and durations print as strings).
void CollectFieldNames(const Descriptor* type, std::set<std::string>& names,
                       std::set<const Descriptor*>& seen) {
  if (type->file()->package() != "pil.v1" || !seen.insert(type).second) {
    return;
  }
  for (int i = 0; i < type->field_count(); ++i) {
    names.insert(type->field(i)->name());
    if (type->field(i)->message_type() != nullptr) {
      CollectFieldNames(type->field(i)->message_type(), names, seen);
    }
  }
}

std::set<std::string> FieldNames(const Descriptor* type) {
  std::set<std::string> names;
  std::set<const Descriptor*> seen;
  CollectFieldNames(type, names, seen);
  return names;
}

// Every "name": in `json` whose name is [a-z0-9_]+ (a scan, not
// std::regex, which GCC 12 warns about under the sanitizers).
std::set<std::string> KeysOf(const std::string& json) {
  std::set<std::string> keys;
  for (size_t open = json.find('"'); open != std::string::npos;
       open = json.find('"', open + 1)) {
    size_t end = open + 1;
    while (end < json.size() &&
           (std::islower(static_cast<unsigned char>(json[end])) ||
            std::isdigit(static_cast<unsigned char>(json[end])) ||
            json[end] == '_')) {
      ++end;
    }
    if (end == open + 1 || end >= json.size() || json[end] != '"') continue;
    size_t colon = end + 1;
    if (colon < json.size() && json[colon] == ' ') ++colon;
    if (colon < json.size() && json[colon] == ':') {
      keys.insert(json.substr(open + 1, end - open - 1));
    }
  }
  return keys;
}

// A coprocessor with every part set.
v1::Coprocessor FullCoprocessor() {
  v1::Coprocessor c;
  c.set_name("adsp");
  c.set_node_path("/soc@0/remoteproc@6800000");
  c.add_compatible("qcom,sm8550-adsp-pas");
  c.set_soc("sm8550");
  c.set_kind(v1::COPROCESSOR_KIND_REMOTEPROC);
  c.set_pas_id(1);
  c.set_dtb_pas_id(36);
  c.set_state(v1::STATE_RUNNING);
  c.add_firmware_names("qcom/sm8550/adsp.mbn");
  c.add_carveouts()->set_base(0x9bb00000);
  c.add_stream_ids()->set_sid(0x1000);
  c.add_iommu_map()->set_sid_base(0x19e2);
  c.set_firmware_sid(0x1000);
  c.set_iommu_owner(v1::IOMMU_OWNER_LINUX);
  c.set_dt_status("okay");
  c.mutable_image()->set_source("qcom/sm8550/adsp.mbn");
  c.mutable_last_error()->set_reason("WATCHDOG");
  c.mutable_last_error()->set_operation(v1::OPERATION_CRASH);
  c.mutable_recovery()->set_restart(true);
  c.mutable_recovery()->set_max_restarts(3);
  c.mutable_recovery()->mutable_initial_backoff()->set_nanos(250000000);
  c.mutable_hardware()->set_metadata_held(true);
  c.mutable_hardware()->add_bridges()->set_handle(7);
  v1::Mapping* m = c.mutable_hardware()->add_mappings();
  m->add_permissions(v1::MAPPING_PERMISSION_READ);
  m->add_permissions(v1::MAPPING_PERMISSION_PRIVILEGED);
  m->set_owner(v1::MAPPING_OWNER_OS);
  c.mutable_hardware()->mutable_remoteproc()->set_device("remoteproc0");
  c.mutable_support()->set_backend(v1::BACKEND_SIM);
  c.add_problems("none really");
  return c;
}

TEST(JsonKeys, CoprocessorKeysAreItsFieldNames) {
  JsonWriter json;
  WriteCoprocessorJson(FullCoprocessor(), json);
  const std::set<std::string> keys = KeysOf(json.str());
  EXPECT_THAT(keys, IsSubsetOf(FieldNames(v1::Coprocessor::descriptor())));
  for (const char* key : {"node_path", "dt_status", "stream_ids",
                          "initial_backoff", "support", "remoteproc"}) {
    EXPECT_TRUE(keys.count(key)) << key;
  }
  EXPECT_THAT(json.str(), HasSubstr("\"initial_backoff\": \"0.250s\""));
  // A repeated enum: each value as the enum prints.
  EXPECT_THAT(json.str(), HasSubstr("\"permissions\": [\n          \"read\",\n"
                                    "          \"privileged\"\n        ]"));
}

TEST(JsonKeys, TransitionWatchHistoryAndInfoKeysAreFieldNames) {
  v1::TransitionResponse transition;
  *transition.mutable_coprocessor() = FullCoprocessor();
  transition.add_steps()->set_name("wait_ready");
  transition.mutable_steps(0)->mutable_duration()->set_nanos(120000);
  JsonWriter json;
  WriteTransitionJson("start", transition, json);
  std::set<std::string> allowed =
      FieldNames(v1::TransitionResponse::descriptor());
  allowed.insert("operation");  // the verb: pilctl's own
  EXPECT_THAT(KeysOf(json.str()), IsSubsetOf(allowed));
  EXPECT_THAT(json.str(), HasSubstr("\"duration\": \"0.000120s\""));

  v1::WatchEvent event;
  *event.mutable_coprocessor() = FullCoprocessor();
  event.set_epoch("e1");
  const std::string watched = WatchEventJson(event);
  EXPECT_THAT(KeysOf(watched),
              IsSubsetOf(FieldNames(v1::WatchEvent::descriptor())));
  EXPECT_THAT(watched, HasSubstr("\"epoch\":\"e1\""));

  v1::HistoryEntry entry;
  entry.mutable_duration()->set_seconds(2);
  const std::string history = HistoryJson({entry});
  EXPECT_THAT(KeysOf(history),
              IsSubsetOf(FieldNames(v1::HistoryEntry::descriptor())));
  EXPECT_THAT(history, HasSubstr("\"duration\": \"2s\""));

  EXPECT_THAT(KeysOf(InfoJson(v1::GetInfoResponse())),
              IsSubsetOf(FieldNames(v1::GetInfoResponse::descriptor())));
  v1::ImageReport report;
  report.add_segments();
  report.add_signers()->add_chain();
  report.mutable_identity();
  report.add_problems();
  JsonWriter image;
  WriteImageReportJson(report, image);
  EXPECT_THAT(KeysOf(image.str()),
              IsSubsetOf(FieldNames(v1::ImageReport::descriptor())));
}

TEST(DurationJson, ProtoJsonForm) {
  google::protobuf::Duration d;
  EXPECT_EQ(DurationJson(d), "0s");
  d.set_seconds(1);
  EXPECT_EQ(DurationJson(d), "1s");
  d.set_nanos(500000000);
  EXPECT_EQ(DurationJson(d), "1.500s");
  d.set_seconds(0);
  d.set_nanos(1500);
  EXPECT_EQ(DurationJson(d), "0.000001500s");
  d.set_seconds(-2);
  d.set_nanos(-1000);
  EXPECT_EQ(DurationJson(d), "-2.000001s");
}

v1::CoredumpInfo Coredump() {
  v1::CoredumpInfo info;
  info.set_name("cdsp");
  info.set_crash_id(2);
  info.set_reason("WATCHDOG");
  info.mutable_time()->set_seconds(1764460800);
  info.set_size(4096);
  info.set_sha256(std::string(64, 'a'));
  return info;
}

TEST(StoreFormat, Coredumps) {
  EXPECT_EQ(CoredumpsTable({}), "no coredumps\n");
  EXPECT_EQ(CoredumpsJson({}), "[]\n");
  const std::string table = CoredumpsTable({Coredump()});
  EXPECT_THAT(table, HasSubstr("NAME  CRASH  TIME"));
  EXPECT_THAT(table, HasSubstr("cdsp  2      2025-11-30T00:00:00.000Z  "
                               "WATCHDOG  4096  aaaa"));
  const std::string json = CoredumpsJson({Coredump()});
  EXPECT_THAT(KeysOf(json),
              IsSubsetOf(FieldNames(v1::CoredumpInfo::descriptor())));
  EXPECT_EQ(KeysOf(json).size(), 6u);
  EXPECT_THAT(json, HasSubstr("\"crash_id\": 2"));
}

TEST(StoreFormat, Uploads) {
  EXPECT_EQ(UploadsTable({}), "no uploads\n");
  v1::Upload upload;
  upload.set_sha256(std::string(64, 'b'));
  upload.set_size(123);
  upload.set_name("adsp.mbn");
  upload.mutable_time()->set_seconds(1764460800);
  EXPECT_THAT(UploadsTable({upload}),
              HasSubstr("123   2025-11-30T00:00:00.000Z  adsp.mbn"));
  const std::string json = UploadsJson({upload});
  EXPECT_EQ(KeysOf(json), FieldNames(v1::Upload::descriptor()));
  EXPECT_THAT(json, HasSubstr("\"name\": \"adsp.mbn\""));
}

TEST(LeaseFormat, TextAndOneJsonLine) {
  v1::LeaseResponse lease;
  lease.set_lease_id(3);
  lease.add_names("adsp");
  lease.add_names("cdsp");
  lease.set_holder("uid 0 pid 7 (audio HAL)");
  lease.mutable_granted()->set_seconds(1764460800);
  EXPECT_EQ(LeaseText(lease),
            "lease 3: adsp, cdsp held by uid 0 pid 7 (audio HAL) since "
            "2025-11-30T00:00:00.000Z\n");
  EXPECT_EQ(LeaseJson(lease),
            "{\"lease_id\":3,\"names\":[\"adsp\",\"cdsp\"],\"holder\":\"uid "
            "0 pid 7 (audio HAL)\",\"granted\":\"2025-11-30T00:00:00.000Z\"}"
            "\n");
}

TEST(RecoveryText, RestartOrNot) {
  v1::RecoveryPolicy policy;
  EXPECT_EQ(RecoveryText(policy), "none: stays crashed");
  policy.set_restart(true);
  policy.set_max_restarts(3);
  policy.mutable_initial_backoff()->set_nanos(500000000);
  EXPECT_EQ(RecoveryText(policy), "restart up to 3 times, first after 500ms");
}

}  // namespace
}  // namespace pil::client
