// The metrics text: exact output for a small registry, escaping and
// truncation of label values (no series twice), and the registry's
// counting (what is timed, what a failure without a reason is called).
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/history.h"
#include "server/metrics/exposition.h"
#include "server/metrics/registry.h"

namespace pil::server::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

HistoryEntry Record(const std::string& operation, const std::string& result,
                    absl::Duration duration, bool refused = false) {
  HistoryEntry entry;
  entry.coprocessor = "cdsp";
  entry.operation = operation;
  entry.result = result;
  entry.duration = duration;
  entry.refused = refused;
  return entry;
}

TEST(Exposition, FormatsASmallRegistryExactly) {
  Registry registry;
  registry.Transition(Record("start", "OK", absl::Milliseconds(300)), true);
  registry.Transition(Record("start", "OK", absl::Seconds(2)), true);
  registry.Transition(Record("start", "WRONG_STATE", absl::ZeroDuration(),
                             /*refused=*/true),
                      false);
  registry.Transition(Record("recover", "OK", absl::Milliseconds(5)), true);
  Snapshot s;
  s.version = "0.5.0";
  s.backend = "sim";
  s.board = "Board \"A\"";
  CoprocessorSample& c = s.coprocessors.emplace_back();
  c.name = "cdsp";
  c.state = State::kRunning;
  c.state_since = absl::FromUnixMillis(1700000000500);
  c.crashes = 1;
  c.last_error = CoprocessorSample::Error{"WATCHDOG", "crash",
                                          absl::FromUnixSeconds(1700000001)};
  c.image = CoprocessorSample::Image{"ab01", "v1\nx", "qcom/a\\b.mbn"};
  s.coprocessors.emplace_back().name = "adsp";
  registry.Fill(&s);
  s.audit_write_failures = 2;
  s.audit_dropped = 3;
  s.denied_calls = 4;
  s.watch_streams = 5;
  s.write_failures = 6;
  s.metrics_interval = absl::Seconds(15);

  const std::string text = Format(s);
  const char kExpected[] =
      R"(# HELP pild_build_info pild's version, backend and board (model); always 1.
# TYPE pild_build_info gauge
pild_build_info{version="0.5.0",backend="sim",board="Board \"A\""} 1
# HELP pild_coprocessor_state Lifecycle state of the coprocessor: 1 for the state it is in, 0 for every other.
# TYPE pild_coprocessor_state gauge
pild_coprocessor_state{coprocessor="cdsp",state="offline"} 0
pild_coprocessor_state{coprocessor="cdsp",state="authenticated"} 0
pild_coprocessor_state{coprocessor="cdsp",state="mapped"} 0
pild_coprocessor_state{coprocessor="cdsp",state="running"} 1
pild_coprocessor_state{coprocessor="cdsp",state="stopping"} 0
pild_coprocessor_state{coprocessor="cdsp",state="crashed"} 0
pild_coprocessor_state{coprocessor="cdsp",state="recovering"} 0
pild_coprocessor_state{coprocessor="adsp",state="offline"} 1
pild_coprocessor_state{coprocessor="adsp",state="authenticated"} 0
pild_coprocessor_state{coprocessor="adsp",state="mapped"} 0
pild_coprocessor_state{coprocessor="adsp",state="running"} 0
pild_coprocessor_state{coprocessor="adsp",state="stopping"} 0
pild_coprocessor_state{coprocessor="adsp",state="crashed"} 0
pild_coprocessor_state{coprocessor="adsp",state="recovering"} 0
# HELP pild_coprocessor_state_since_seconds Unix time of the coprocessor's last state change (or of pild's start).
# TYPE pild_coprocessor_state_since_seconds gauge
pild_coprocessor_state_since_seconds{coprocessor="cdsp"} 1700000000.500
pild_coprocessor_state_since_seconds{coprocessor="adsp"} 0.000
# HELP pild_coprocessor_crashes_total Crashes of the coprocessor since pild started.
# TYPE pild_coprocessor_crashes_total counter
pild_coprocessor_crashes_total{coprocessor="cdsp"} 1
pild_coprocessor_crashes_total{coprocessor="adsp"} 0
# HELP pild_coprocessor_restarts_total Automatic restarts after crashes (recoveries, whatever their result) since pild started.
# TYPE pild_coprocessor_restarts_total counter
pild_coprocessor_restarts_total{coprocessor="cdsp"} 1
pild_coprocessor_restarts_total{coprocessor="adsp"} 0
# HELP pild_coprocessor_last_error The coprocessor's last failure (reason, and the operation that failed); absent when its last transition succeeded.
# TYPE pild_coprocessor_last_error gauge
pild_coprocessor_last_error{coprocessor="cdsp",reason="WATCHDOG",operation="crash"} 1
# HELP pild_coprocessor_last_error_timestamp_seconds Unix time of the coprocessor's last failure.
# TYPE pild_coprocessor_last_error_timestamp_seconds gauge
pild_coprocessor_last_error_timestamp_seconds{coprocessor="cdsp"} 1700000001.000
# HELP pild_coprocessor_image_info The image the coprocessor was booted with (SHA-256 of its metadata, version string, where it came from); always 1, absent when none is loaded.
# TYPE pild_coprocessor_image_info gauge
pild_coprocessor_image_info{coprocessor="cdsp",sha256="ab01",version="v1\nx",source="qcom/a\\b.mbn"} 1
# HELP pild_transitions_total Transitions asked of pild or made on its own, by operation and result (OK or the failure's reason).
# TYPE pild_transitions_total counter
pild_transitions_total{coprocessor="cdsp",operation="recover",result="OK"} 1
pild_transitions_total{coprocessor="cdsp",operation="start",result="OK"} 2
pild_transitions_total{coprocessor="cdsp",operation="start",result="WRONG_STATE"} 1
# HELP pild_transition_duration_seconds How long transitions that ran took, refusals aside.
# TYPE pild_transition_duration_seconds histogram
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.005"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.01"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.025"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.05"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.1"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.25"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="0.5"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="1"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="2.5"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="5"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="10"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="30"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="60"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="recover",le="+Inf"} 1
pild_transition_duration_seconds_sum{coprocessor="cdsp",operation="recover"} 0.005000
pild_transition_duration_seconds_count{coprocessor="cdsp",operation="recover"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.005"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.01"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.025"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.05"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.1"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.25"} 0
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="0.5"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="1"} 1
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="2.5"} 2
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="5"} 2
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="10"} 2
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="30"} 2
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="60"} 2
pild_transition_duration_seconds_bucket{coprocessor="cdsp",operation="start",le="+Inf"} 2
pild_transition_duration_seconds_sum{coprocessor="cdsp",operation="start"} 2.300000
pild_transition_duration_seconds_count{coprocessor="cdsp",operation="start"} 2
# HELP pild_audit_write_failures_total Audit records the database refused to write.
# TYPE pild_audit_write_failures_total counter
pild_audit_write_failures_total 2
# HELP pild_audit_dropped_total Audit records of refusals dropped because the audit queue was full.
# TYPE pild_audit_dropped_total counter
pild_audit_dropped_total 3
# HELP pild_denied_calls_total Calls the access policy denied.
# TYPE pild_denied_calls_total counter
pild_denied_calls_total 4
# HELP pild_watch_streams Watch streams open.
# TYPE pild_watch_streams gauge
pild_watch_streams 5
# HELP pild_metrics_write_failures_total Failed writes of this metrics file.
# TYPE pild_metrics_write_failures_total counter
pild_metrics_write_failures_total 6
# HELP pild_metrics_interval_seconds How often pild rewrites this file at least (--metrics-interval).
# TYPE pild_metrics_interval_seconds gauge
pild_metrics_interval_seconds 15
)";
  EXPECT_EQ(text, kExpected);
}

TEST(Exposition, ConnectionsOnlyWithASocket) {
  Snapshot s;
  EXPECT_THAT(Format(s), Not(HasSubstr("pild_connections")));
  s.connections = Snapshot::Connections{1, 7, 2};
  const std::string text = Format(s);
  EXPECT_THAT(text, HasSubstr("# TYPE pild_connections_open gauge\n"
                              "pild_connections_open 1\n"));
  EXPECT_THAT(text, HasSubstr("\npild_connections_admitted_total 7\n"));
  EXPECT_THAT(text, HasSubstr("\npild_connections_refused_total 2\n"));
}

TEST(Exposition, LabelValuesAreEscapedAndBounded) {
  EXPECT_EQ(LabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(LabelValue(std::string("x\0y\t\x7f\xc3\xa9", 7)), "x?y????");
  const std::string long_name(300, 'n');
  EXPECT_EQ(LabelValue(long_name), std::string(kMaxLabelValue, 'n'));
  // Cut before escaping: a value never ends in half an escape.
  EXPECT_EQ(LabelValue(std::string(kMaxLabelValue - 1, 'q') + "\"\""),
            std::string(kMaxLabelValue - 1, 'q') + "\\\"");
}

TEST(Exposition, RepeatedCoprocessorNamesAreWrittenOnce) {
  Snapshot s;
  s.coprocessors.emplace_back().name = std::string(200, 'c') + "1";
  s.coprocessors.emplace_back().name = std::string(200, 'c') + "2";
  const std::string text = Format(s);
  const std::string sample =
      absl::StrCat("pild_coprocessor_crashes_total{coprocessor=\"",
                   std::string(kMaxLabelValue, 'c'), "\"} 0\n");
  const size_t first = text.find(sample);
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find(sample, first + 1), std::string::npos);
}

TEST(Exposition, RepeatedCoprocessorNamesAreCountedOnceInTransitions) {
  Registry registry;
  const std::string first = std::string(200, 'c') + "1";
  const std::string second = std::string(200, 'c') + "2";
  for (const std::string& name : {first, second}) {
    HistoryEntry entry = Record("start", "OK", absl::Seconds(1));
    entry.coprocessor = name;
    registry.Transition(entry, true);
  }
  Snapshot s;
  registry.Fill(&s);
  const std::string text = Format(s);
  const std::string cut(kMaxLabelValue, 'c');
  for (const std::string& sample :
       {absl::StrCat("pild_transitions_total{coprocessor=\"", cut,
                     "\",operation=\"start\",result=\"OK\"} 1\n"),
        absl::StrCat("pild_transition_duration_seconds_count{coprocessor=\"",
                     cut, "\",operation=\"start\"} 1\n")}) {
    const size_t at = text.find(sample);
    ASSERT_NE(at, std::string::npos) << sample;
    EXPECT_EQ(text.find(sample, at + 1), std::string::npos) << sample;
  }
}

TEST(Registry, OnlyWhatRanIsTimedAndAFailureWithoutAReasonIsUnknown) {
  Registry registry;
  // A Stop with nothing to stop and a crash: counted, not timed.
  registry.Transition(Record("stop", "OK", absl::ZeroDuration()), false);
  registry.Transition(Record("crash", "WATCHDOG", absl::ZeroDuration()), false);
  registry.Transition(Record("stop", "OK", absl::Milliseconds(20)), true);
  registry.Transition(Record("start", "", absl::Milliseconds(20)), true);
  Snapshot s;
  s.coprocessors.emplace_back().name = "cdsp";
  s.coprocessors.back().last_error =
      CoprocessorSample::Error{"", "start", absl::UnixEpoch()};
  registry.Fill(&s);
  EXPECT_EQ(s.durations.at({"cdsp", "stop"}).count, 1u);
  EXPECT_EQ(s.durations.count({"cdsp", "crash"}), 0u);
  const std::string text = Format(s);
  EXPECT_THAT(text, HasSubstr("pild_transitions_total{coprocessor=\"cdsp\","
                              "operation=\"stop\",result=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pild_transitions_total{coprocessor=\"cdsp\","
                              "operation=\"crash\",result=\"WATCHDOG\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pild_transitions_total{coprocessor=\"cdsp\","
                              "operation=\"start\",result=\"UNKNOWN\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pild_coprocessor_last_error{coprocessor="
                              "\"cdsp\",reason=\"UNKNOWN\",operation="
                              "\"start\"} 1\n"));
}

TEST(Exposition, WrittenTimestampHasNoTimestampColumn) {
  EXPECT_EQ(FormatWritten(absl::FromUnixMillis(1700000002250)),
            "# HELP pild_metrics_written_timestamp_seconds Unix time pild "
            "wrote this file (at least every --metrics-interval while it "
            "runs).\n"
            "# TYPE pild_metrics_written_timestamp_seconds gauge\n"
            "pild_metrics_written_timestamp_seconds 1700000002.250\n");
}

TEST(Histogram, BoundsAreInclusiveAndTheRestIsInf) {
  Histogram h;
  h.Observe(0.005);
  h.Observe(0.0051);
  h.Observe(61);
  EXPECT_EQ(h.buckets[0], 1u);
  EXPECT_EQ(h.buckets[1], 1u);
  EXPECT_EQ(h.buckets.back(), 1u);
  EXPECT_EQ(h.count, 3u);
}

}  // namespace
}  // namespace pil::server::metrics
