#include "client/store_format.h"

#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/table.h"

namespace pil::client {

void WriteCoredumpInfoKeys(const v1::CoredumpInfo& info, JsonWriter& json) {
  json.Key("name").String(info.name());
  json.Key("crash_id").Uint(info.crash_id());
  json.Key("reason").String(info.reason());
  json.Key("time").String(TimestampText(info.time()));
  json.Key("size").Uint(info.size());
  json.Key("sha256").String(info.sha256());
}

std::string CoredumpsTable(const std::vector<v1::CoredumpInfo>& coredumps) {
  if (coredumps.empty()) return "no coredumps\n";
  Table table({"NAME", "CRASH", "TIME", "REASON", "SIZE", "SHA256"});
  for (const v1::CoredumpInfo& info : coredumps) {
    table.AddRow({info.name(), absl::StrCat(info.crash_id()),
                  TimestampText(info.time()), info.reason(),
                  absl::StrCat(info.size()), info.sha256()});
  }
  return table.Render();
}

std::string CoredumpsJson(const std::vector<v1::CoredumpInfo>& coredumps) {
  JsonWriter json;
  json.BeginArray();
  for (const v1::CoredumpInfo& info : coredumps) {
    json.BeginObject();
    WriteCoredumpInfoKeys(info, json);
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

std::string UploadsTable(const std::vector<v1::Upload>& uploads) {
  if (uploads.empty()) return "no uploads\n";
  Table table({"SHA256", "SIZE", "TIME", "NAME"});
  for (const v1::Upload& upload : uploads) {
    table.AddRow({upload.sha256(), absl::StrCat(upload.size()),
                  TimestampText(upload.time()), upload.name()});
  }
  return table.Render();
}

std::string UploadsJson(const std::vector<v1::Upload>& uploads) {
  JsonWriter json;
  json.BeginArray();
  for (const v1::Upload& upload : uploads) {
    json.BeginObject();
    json.Key("sha256").String(upload.sha256());
    json.Key("size").Uint(upload.size());
    json.Key("name").String(upload.name());
    json.Key("time").String(TimestampText(upload.time()));
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

}  // namespace pil::client
