#include "client/lifecycle_format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "client/table.h"

namespace pil::client {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

std::string DurationText(const google::protobuf::Duration& d) {
  const absl::Duration duration = FromProto(d);
  if (duration < absl::Milliseconds(1)) {
    return absl::StrFormat("%.0fus", absl::ToDoubleMicroseconds(duration));
  }
  if (duration < absl::Seconds(1)) {
    return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(duration));
  }
  return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(duration));
}

std::string TransitionText(const std::string& operation,
                           const v1::TransitionResponse& response) {
  const v1::Coprocessor& c = response.coprocessor();
  std::string out =
      absl::StrCat(c.name(), ": ", StateName(c.state()), " (", operation,
                   response.replayed() ? ", replayed" : "",
                   response.dry_run() ? ", dry run" : "", ")\n");
  if (!response.steps().empty()) {
    Table table({"STEP", "TIME", "DETAIL"});
    for (const v1::Step& step : response.steps()) {
      table.AddRow({step.name(), DurationText(step.duration()), step.detail()});
    }
    absl::StrAppend(&out, table.Render());
  }
  if (!response.note().empty())
    absl::StrAppend(&out, "note: ", response.note(), "\n");
  absl::StrAppend(&out, HardwareLines(c.hardware()));
  return out;
}

void WriteTransitionJson(const std::string& operation,
                         const v1::TransitionResponse& response,
                         JsonWriter& json) {
  json.BeginObject();
  json.Key("operation").String(operation);
  json.Key("replayed").Bool(response.replayed());
  json.Key("dry_run").Bool(response.dry_run());
  json.Key("request_id").String(response.request_id());
  json.Key("note").String(response.note());
  json.Key("steps").BeginArray();
  for (const v1::Step& step : response.steps()) {
    json.BeginObject();
    json.Key("name").String(step.name());
    json.Key("detail").String(step.detail());
    json.Key("duration").String(DurationJson(step.duration()));
    json.EndObject();
  }
  json.EndArray();
  json.Key("coprocessor");
  WriteCoprocessorJson(response.coprocessor(), json);
  json.EndObject();
}

std::string WatchEventLine(const v1::WatchEvent& event) {
  const v1::Coprocessor& c = event.coprocessor();
  std::string line = absl::StrCat(TimestampText(event.time()), "  #",
                                  event.sequence(), "  ", c.name(), "  ");
  if (event.initial()) {
    absl::StrAppend(&line, StateName(c.state()), "  (current)");
  } else {
    absl::StrAppend(&line, StateName(event.previous_state()), " -> ",
                    StateName(c.state()), "  (", EnumText(event.operation()),
                    event.reason().empty() ? "" : ": ", event.reason(), ")");
  }
  if (c.has_last_error() &&
      (c.state() == v1::STATE_CRASHED || c.state() == v1::STATE_OFFLINE ||
       c.state() == v1::STATE_RECOVERING) &&
      !event.initial()) {
    absl::StrAppend(&line, "  ", c.last_error().reason(), ": ",
                    c.last_error().message());
  }
  return line;
}

std::string WatchEventJson(const v1::WatchEvent& event) {
  const v1::Coprocessor& c = event.coprocessor();
  JsonWriter json(/*compact=*/true);
  json.BeginObject();
  json.Key("sequence").Uint(event.sequence());
  json.Key("epoch").String(event.epoch());
  json.Key("time").String(TimestampText(event.time()));
  json.Key("initial").Bool(event.initial());
  json.Key("name").String(c.name());
  json.Key("previous_state").String(StateName(event.previous_state()));
  json.Key("state").String(StateName(c.state()));
  json.Key("operation").String(EnumText(event.operation()));
  json.Key("reason").String(event.reason());
  json.Key("crash_count").Uint(c.crash_count());
  json.Key("last_error");
  if (c.has_last_error()) {
    json.BeginObject();
    json.Key("reason").String(c.last_error().reason());
    json.Key("message").String(c.last_error().message());
    json.Key("operation").String(EnumText(c.last_error().operation()));
    json.Key("time").String(TimestampText(c.last_error().time()));
    json.EndObject();
  } else {
    json.Null();
  }
  json.EndObject();
  std::string out = json.str();
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string LeaseText(const v1::LeaseResponse& lease) {
  return absl::StrCat("lease ", lease.lease_id(), ": ",
                      absl::StrJoin(lease.names(), ", "), " held by ",
                      lease.holder(), " since ", TimestampText(lease.granted()),
                      "\n");
}

std::string LeaseJson(const v1::LeaseResponse& lease) {
  JsonWriter json(/*compact=*/true);
  json.BeginObject();
  json.Key("lease_id").Uint(lease.lease_id());
  json.Key("names").BeginArray();
  for (const std::string& name : lease.names()) json.String(name);
  json.EndArray();
  json.Key("holder").String(lease.holder());
  json.Key("granted").String(TimestampText(lease.granted()));
  json.EndObject();
  return json.str();
}

std::string ProgressBar(uint64_t done, uint64_t total, int width) {
  done = std::min(done, total);
  const double fraction =
      total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * width);
  const double mib = 1024.0 * 1024.0;
  return absl::StrFormat(
      "[%s%s] %3d%%  %.1f/%.1f MiB", std::string(filled, '#'),
      std::string(width - filled, '.'), static_cast<int>(fraction * 100),
      done / mib, total / mib);
}

}  // namespace pil::client
