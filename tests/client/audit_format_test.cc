// The audit trail and GetInfo as pilctl prints them.
#include "client/audit_format.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pil::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AuditFormat, RefusedCallsAndCertificateCallersReadAsSuch) {
  v1::HistoryEntry denied;
  denied.set_id(7);
  denied.set_name("adsp");
  denied.set_operation(v1::OPERATION_STOP);
  denied.set_outcome(v1::OUTCOME_DENIED);
  denied.set_reason("ACCESS_DENIED");
  denied.mutable_caller()->set_uid(1013);
  denied.mutable_caller()->set_pid(42);
  v1::HistoryEntry handshake;
  handshake.set_id(8);
  handshake.set_operation(v1::OPERATION_CONNECT);
  handshake.set_outcome(v1::OUTCOME_REFUSED);
  handshake.set_reason("CERTIFICATE_EXPIRED");
  handshake.mutable_caller()->set_uid(-1);
  handshake.mutable_caller()->set_peer("tls");
  v1::HistoryEntry remote;
  remote.set_id(9);
  remote.set_name("video");
  remote.set_operation(v1::OPERATION_START);
  remote.set_from_state(v1::STATE_OFFLINE);
  remote.set_to_state(v1::STATE_RUNNING);
  remote.set_outcome(v1::OUTCOME_OK);
  remote.mutable_caller()->set_uid(-1);
  remote.mutable_caller()->set_certificate("fleet-1");
  const std::string table = HistoryTable({denied, handshake, remote});
  EXPECT_THAT(table, HasSubstr("adsp   stop       denied"));
  EXPECT_THAT(table, HasSubstr("uid 1013 pid 42"));
  EXPECT_THAT(table, HasSubstr("-      connect    refused"));
  EXPECT_THAT(table, HasSubstr("offline -> running"));
  EXPECT_THAT(table, HasSubstr("cert fleet-1"));
  const std::string json = HistoryJson({denied});
  EXPECT_THAT(json, HasSubstr("\"outcome\": \"denied\""));
  EXPECT_THAT(json, HasSubstr("\"operation\": \"stop\""));
  EXPECT_THAT(json, HasSubstr("\"certificate\": \"\""));
}

// What a client certificate or a peer says reaches a terminal: control
// characters are shown, not obeyed.
TEST(AuditFormat, ControlCharactersAreShownNotObeyed) {
  v1::HistoryEntry entry;
  entry.set_id(1);
  entry.set_operation(v1::OPERATION_CONNECT);
  entry.set_outcome(v1::OUTCOME_REFUSED);
  entry.set_reason("CERTIFICATE_UNTRUSTED");
  entry.mutable_caller()->set_certificate("evil\x1b[2J\nuid 0 start adsp");
  const std::string table = HistoryTable({entry});
  EXPECT_THAT(table, HasSubstr("cert evil\\x1b[2J\\x0auid 0 start adsp"));
  EXPECT_THAT(table, Not(HasSubstr("\x1b")));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);  // header, row
}

TEST(AuditFormat, InfoSaysWhoTheCallerIsAndWhatItMay) {
  v1::GetInfoResponse info;
  info.set_version("0.5.0");
  info.set_backend(v1::BACKEND_LINUX);
  info.mutable_admission()->set_policy("2 rules from /etc/pild/p, and root");
  info.mutable_audit()->set_enabled(false);
  info.mutable_caller()->set_uid(1013);
  info.mutable_caller()->set_pid(5);
  v1::Grant* read = info.add_grants();
  read->set_verb(v1::VERB_READ);
  read->set_all_coprocessors(true);
  v1::Grant* start = info.add_grants();
  start->set_verb(v1::VERB_START);
  start->add_coprocessors("video");
  const std::string text = InfoText(info);
  EXPECT_THAT(text, HasSubstr("policy:      2 rules from /etc/pild/p"));
  EXPECT_THAT(text, HasSubstr("NONE ON DISK"));
  EXPECT_THAT(text, HasSubstr("you:         uid 1013 pid 5"));
  EXPECT_THAT(text, HasSubstr("you may:     read (every coprocessor)"));
  EXPECT_THAT(text, HasSubstr("you may:     start (video)"));
  EXPECT_THAT(text, Not(HasSubstr("nothing")));
  info.clear_grants();
  EXPECT_THAT(InfoText(info), HasSubstr("you may:     nothing"));
  EXPECT_THAT(InfoJson(info), HasSubstr("\"enabled\": false"));
  EXPECT_THAT(InfoJson(info), HasSubstr("\"backend\": \"linux\""));
}

}  // namespace
}  // namespace pil::client
