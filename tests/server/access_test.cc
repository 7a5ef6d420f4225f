// Who may do what: the policy file, its rules, and the gate that records
// every refusal.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "common/error.h"
#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/access/policy.h"
#include "server/gate.h"
#include "server/history.h"

namespace pil::server {
namespace {

using access::Policy;
using ::testing::HasSubstr;

const std::vector<std::string> kBoard = {"adsp", "video", "cdsp"};

Caller Unix(int64_t uid, int64_t gid = 1000, std::vector<int64_t> groups = {}) {
  Caller c;
  c.uid = uid;
  c.gid = gid;
  c.pid = 4242;
  c.groups = std::move(groups);
  c.peer = "fd:7";
  return c;
}

Caller Certificate(const std::string& identity) {
  Caller c;
  c.certificate = identity;
  c.peer = "ipv4:10.0.0.2:40000";
  return c;
}

// The example of docs/SECURITY.md.
constexpr char kExample[] = R"(
  # The media HAL starts and stops the video codec, nothing else.
  rule { uid: 1013 role: OPERATOR coprocessor: "video" }
  # Monitoring reads and watches everything.
  rule { gid: 2000 role: OBSERVER }
  # Crash triage may download coredumps of the DSPs.
  rule { uid: 1500 role: DEBUGGER coprocessor: "adsp" coprocessor: "cdsp" }
  # The fleet controller, over mutual TLS.
  rule { certificate: "fleet-controller" role: ADMIN }
  # A bring-up account may drive the separate steps of the codec.
  rule { uid: 1600 verb: AUTHENTICATE verb: MAP verb: RESET coprocessor: "video" }
)";

Policy Example() {
  auto policy = Policy::Parse(kExample, "example", kBoard);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *policy;
}

TEST(Policy, WithoutAFileOnlyRootMayDoAnything) {
  Policy root_only;
  EXPECT_TRUE(root_only.Allows(Unix(0), Verb::kStop, "adsp"));
  EXPECT_TRUE(root_only.Allows(Unix(0), Verb::kUpload, ""));
  EXPECT_FALSE(root_only.Allows(Unix(1000), Verb::kRead, "adsp"));
  EXPECT_FALSE(root_only.Allows(Unix(1000), Verb::kRead, ""));
  EXPECT_FALSE(root_only.Allows(Caller(), Verb::kRead, ""));  // unidentified
  EXPECT_TRUE(root_only.GrantsOf(Unix(1000)).empty());
  EXPECT_THAT(root_only.Describe(), HasSubstr("root only"));
}

TEST(Policy, TheMediaHalMayStartAndStopTheCodecAndNothingElse) {
  const Policy policy = Example();
  const Caller hal = Unix(1013);
  EXPECT_TRUE(policy.Allows(hal, Verb::kStart, "video"));
  EXPECT_TRUE(policy.Allows(hal, Verb::kStop, "video"));
  EXPECT_TRUE(policy.Allows(hal, Verb::kRead, "video"));
  EXPECT_FALSE(policy.Allows(hal, Verb::kStart, "adsp"));
  EXPECT_FALSE(policy.Allows(hal, Verb::kStop, "cdsp"));
  EXPECT_FALSE(policy.Allows(hal, Verb::kCoredump, "video"));
  EXPECT_FALSE(policy.Allows(hal, Verb::kAuthenticate, "video"));
  EXPECT_FALSE(policy.Allows(hal, Verb::kUpload, ""));
  EXPECT_FALSE(policy.Allows(hal, Verb::kRead, "adsp"));
}

TEST(Policy, GroupsMatchPrimaryOrSupplementary) {
  const Policy policy = Example();
  EXPECT_TRUE(policy.Allows(Unix(3000, 2000), Verb::kRead, "adsp"));
  EXPECT_TRUE(policy.Allows(Unix(3000, 100, {27, 2000}), Verb::kHistory, ""));
  EXPECT_FALSE(policy.Allows(Unix(3000, 100, {27, 2000}), Verb::kStop, "adsp"));
  EXPECT_FALSE(policy.Allows(Unix(3000, 100, {27}), Verb::kRead, "adsp"));
}

TEST(Policy, CertificatesAndUnixIdentitiesNeverStandInForEachOther) {
  const Policy policy = Example();
  EXPECT_TRUE(
      policy.Allows(Certificate("fleet-controller"), Verb::kUpload, ""));
  EXPECT_FALSE(
      policy.Allows(Certificate("fleet-controller-2"), Verb::kRead, "adsp"));
  // A TLS caller is never root, whatever its uid field says.
  Caller forged = Certificate("someone");
  forged.uid = 0;
  EXPECT_FALSE(policy.Allows(forged, Verb::kRead, "adsp"));
  // A uid rule does not match a certificate caller with that uid.
  Caller odd = Certificate("x");
  odd.uid = 1013;
  EXPECT_FALSE(policy.Allows(odd, Verb::kStart, "video"));
}

TEST(Policy, RolesAndVerbsCombine) {
  const Policy policy = Example();
  EXPECT_TRUE(policy.Allows(Unix(1500), Verb::kCoredump, "cdsp"));
  EXPECT_FALSE(policy.Allows(Unix(1500), Verb::kCoredump, "video"));
  EXPECT_FALSE(policy.Allows(Unix(1500), Verb::kStart, "cdsp"));
  EXPECT_TRUE(policy.Allows(Unix(1600), Verb::kMap, "video"));
  EXPECT_FALSE(policy.Allows(Unix(1600), Verb::kStart, "video"));
  EXPECT_FALSE(policy.Allows(Unix(1600), Verb::kRead, "video"));
}

TEST(Policy, GrantsListWhatACallerMayDo) {
  const std::vector<access::Grant> grants = Example().GrantsOf(Unix(1013));
  std::vector<std::string> verbs;
  for (const access::Grant& g : grants) {
    verbs.push_back(access::VerbName(g.verb));
    EXPECT_FALSE(g.all_coprocessors);
    EXPECT_EQ(g.coprocessors, std::vector<std::string>{"video"});
  }
  EXPECT_EQ(verbs, (std::vector<std::string>{"read", "history", "start", "stop",
                                             "inspect"}));
  const auto admin = Example().GrantsOf(Certificate("fleet-controller"));
  ASSERT_EQ(admin.size(), static_cast<size_t>(access::kVerbCount));
  EXPECT_TRUE(admin[0].all_coprocessors);
}

void ExpectBad(const std::string& text, const std::string& expected) {
  auto policy = Policy::Parse(text, "/etc/pild/policy.textproto", kBoard);
  ASSERT_FALSE(policy.ok()) << text;
  EXPECT_EQ(ReasonOf(policy.status()), "BAD_POLICY");
  EXPECT_THAT(policy.status().message(), HasSubstr(expected)) << text;
  EXPECT_THAT(policy.status().message(),
              HasSubstr("/etc/pild/policy.textproto"));
}

TEST(Policy, MistakesAreRefusedNamingTheRule) {
  ExpectBad("rule { uid: 5 role: OPERATOR coprocessor: \"vidoe\" }",
            "rule 1: no coprocessor 'vidoe' on this board (it has: adsp, "
            "video, cdsp)");
  ExpectBad("rule { uid: 5 role: OBSERVER }\nrule { role: ADMIN }",
            "rule 2: names nobody");
  ExpectBad("rule { uid: 5 }", "rule 1: grants nothing");
  ExpectBad("rule { user: \"no-such-user-here\" role: OBSERVER }",
            "no user 'no-such-user-here'");
  ExpectBad("rule { group: \"no-such-group-here\" role: OBSERVER }",
            "no group 'no-such-group-here'");
  ExpectBad("rule { certificate: \"\" role: OBSERVER }",
            "certificate is empty");
  ExpectBad("rule { uid: 5 role: OPERATOR\n", "line 2");
  ExpectBad("rule { uid: 5 role: SUPERUSER }", "SUPERUSER");
  ExpectBad("rule { uid: 5 verb: 42 }", "unknown verb 42");
}

TEST(Policy, APolicyFileIsAtMostOneMebibyte) {
  const std::string path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/big.textproto");
  {
    std::ofstream out(path);
    out << std::string((1 << 20) + 1, '#');
  }
  auto policy = Policy::Load(path, kBoard);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(ReasonOf(policy.status()), "BAD_POLICY");
  EXPECT_THAT(policy.status().message(), HasSubstr(path));
}

TEST(Policy, NamesResolveAtLoad) {
  auto policy = Policy::Parse(
      "rule { user: \"root\" role: OBSERVER }\n"
      "rule { group: \"root\" role: OBSERVER }",
      "names", kBoard);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->Describe(), HasSubstr("2 rules from names"));
}

TEST(Policy, TheShippedExampleIsAValidPolicy) {
  auto text = ReadFile("deploy/policy/policy.example.textproto", 1 << 20);
  ASSERT_TRUE(text.ok()) << text.status();
  // Its users and groups are the site's; here they are root's.
  std::string local = *text;
  for (const char* name : {"mediacodec", "monitoring", "triage"}) {
    local = absl::StrReplaceAll(local, {{name, "root"}});
  }
  auto policy = Policy::Parse(local, "example", kBoard);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(policy->Describe(), HasSubstr("4 rules"));
  EXPECT_TRUE(
      policy->Allows(Certificate("fleet-controller"), Verb::kUpload, ""));
}

TEST(Gate, ADenialChangesNothingAndIsRecorded) {
  History history;
  Gate gate(&history, Example());
  EXPECT_TRUE(gate.Check(Unix(1013), Verb::kStart, "video", "r1").ok());
  EXPECT_TRUE(history.Latest("", 10).empty());  // allowed calls: the engine
  const absl::Status denied = gate.Check(Unix(1013), Verb::kStop, "adsp", "r2");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(denied), "ACCESS_DENIED");
  const ErrorMetadata metadata = MetadataOf(denied);
  EXPECT_EQ(metadata.at("verb"), "stop");
  EXPECT_EQ(metadata.at("coprocessor"), "adsp");
  EXPECT_EQ(metadata.at("caller"), "uid 1013 pid 4242");
  auto entries = history.Latest("adsp", 10);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].refused);
  EXPECT_EQ(entries[0].operation, "stop");
  EXPECT_EQ(entries[0].result, "ACCESS_DENIED");
  EXPECT_EQ(entries[0].request_id, "r2");
  EXPECT_EQ(entries[0].caller.uid, 1013);
  EXPECT_EQ(gate.denials(), 1u);  // the allowed call is not counted
}

TEST(Gate, DenialsRecordedLaterAreCountedToo) {
  History history;
  Gate gate(&history, Example());
  const absl::Status denied = gate.Decide(Unix(1013), Verb::kStop, "adsp");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(gate.denials(), 0u);  // deciding records nothing
  absl::Notification recorded;
  gate.Record(Unix(1013), Verb::kStop, "adsp", "r3", denied,
              [&] { recorded.Notify(); });
  recorded.WaitForNotification();
  EXPECT_EQ(gate.denials(), 1u);
}

TEST(Gate, APolicyReloadAppliesToTheNextCall) {
  History history;
  Gate gate(&history, Policy());
  EXPECT_FALSE(gate.Allows(Unix(1013), Verb::kStart, "video"));
  gate.SetPolicy(Example());
  EXPECT_TRUE(gate.Allows(Unix(1013), Verb::kStart, "video"));
}

TEST(Gate, HistoryIsScopedToWhatTheCallerMaySee) {
  History history;
  Gate gate(&history, Example());
  EXPECT_EQ(gate.HistoryScope(Unix(1013)), std::vector<std::string>{"video"});
  EXPECT_EQ(gate.HistoryScope(Unix(3000, 2000)), std::nullopt);  // all
  EXPECT_EQ(gate.HistoryScope(Unix(0)), std::nullopt);
  EXPECT_EQ(gate.HistoryScope(Unix(1600)), std::vector<std::string>{});
}

}  // namespace
}  // namespace pil::server
