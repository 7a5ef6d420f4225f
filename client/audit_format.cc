#include "client/audit_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "client/json.h"
#include "client/lifecycle_format.h"
#include "client/table.h"

namespace pil::client {
namespace {

void WriteCallerJson(const v1::Caller& caller, JsonWriter& json) {
  json.BeginObject();
  json.Key("uid").Int(caller.uid());
  json.Key("gid").Int(caller.gid());
  json.Key("pid").Int(caller.pid());
  json.Key("groups").BeginArray();
  for (int64_t group : caller.groups()) json.Int(group);
  json.EndArray();
  json.Key("certificate").String(caller.certificate());
  json.Key("peer").String(caller.peer());
  json.EndObject();
}

std::string GrantText(const v1::Grant& grant) {
  return absl::StrCat(EnumText(grant.verb()), " (",
                      absl::StrJoin(grant.coprocessors(), ", "), ")");
}

}  // namespace

std::string CallerText(const v1::Caller& caller) {
  if (!caller.certificate().empty()) {
    return absl::StrCat("cert ", caller.certificate());
  }
  if (caller.uid() >= 0) {
    return absl::StrCat("uid ", caller.uid(), " pid ", caller.pid());
  }
  return caller.peer().empty() ? "-" : caller.peer();
}

std::string HistoryTable(const std::vector<v1::HistoryEntry>& entries) {
  Table table({"ID", "TIME", "NAME", "OPERATION", "TRANSITION", "RESULT",
               "DURATION", "CALLER"});
  for (const v1::HistoryEntry& e : entries) {
    const bool refused =
        e.outcome() == v1::OUTCOME_REFUSED || e.outcome() == v1::OUTCOME_DENIED;
    const std::string transition =
        refused ? EnumText(e.outcome())
                : absl::StrCat(StateName(e.from_state()), " -> ",
                               StateName(e.to_state()));
    table.AddRow({absl::StrCat(e.id()), TimestampText(e.time()),
                  e.name().empty() ? "-" : e.name(), EnumText(e.operation()),
                  transition, e.reason().empty() ? "OK" : e.reason(),
                  DurationText(e.duration()), CallerText(e.caller())});
  }
  return table.Render();
}

std::string HistoryJson(const std::vector<v1::HistoryEntry>& entries) {
  JsonWriter json;
  json.BeginArray();
  for (const v1::HistoryEntry& e : entries) {
    json.BeginObject();
    json.Key("id").Uint(e.id());
    json.Key("time").String(TimestampText(e.time()));
    json.Key("name").String(e.name());
    json.Key("operation").String(EnumText(e.operation()));
    json.Key("request_id").String(e.request_id());
    json.Key("outcome").String(EnumText(e.outcome()));
    json.Key("caller");
    WriteCallerJson(e.caller(), json);
    json.Key("image_sha256").String(e.image_sha256());
    json.Key("from_state").String(StateName(e.from_state()));
    json.Key("to_state").String(StateName(e.to_state()));
    json.Key("reason").String(e.reason());
    json.Key("message").String(e.message());
    json.Key("duration").String(DurationJson(e.duration()));
    json.EndObject();
  }
  json.EndArray();
  return json.str();
}

namespace {

// What a caller that may read something also learns.
std::string PildText(const v1::GetInfoResponse& info) {
  std::string out;
  const v1::Admission& admission = info.admission();
  for (const std::string& listener : admission.listeners()) {
    absl::StrAppend(&out, "listening:   ", listener, "\n");
  }
  absl::StrAppend(&out, "policy:      ", admission.policy(), "\n");
  if (admission.plaintext_tcp()) {
    absl::StrAppend(&out, "WARNING:     plaintext TCP (tests only)\n");
  }
  if (admission.has_tls()) {
    const v1::TlsHandshakes& tls = admission.tls();
    absl::StrAppend(&out, "tls:         ", tls.accepted(),
                    " accepted; refused: ", tls.expired(), " expired, ",
                    tls.untrusted(), " untrusted, ", tls.missing(),
                    " without a certificate, ", tls.invalid(), " invalid\n");
  }
  const v1::AuditTrail& audit = info.audit();
  if (audit.enabled()) {
    absl::StrAppend(&out, "audit trail: ", audit.path(), " (",
                    audit.write_failures(), " failed writes)\n");
  } else {
    absl::StrAppend(&out,
                    "audit trail: NONE ON DISK (--no-audit-trail): kept in "
                    "memory only\n");
  }
  return out;
}

}  // namespace

std::string InfoText(const v1::GetInfoResponse& info) {
  std::string out = absl::StrCat("pild ", info.version());
  if (info.backend() != v1::BACKEND_UNSPECIFIED) {
    absl::StrAppend(&out, ", ", EnumText(info.backend()), " backend, ",
                    info.board_model());
  }
  absl::StrAppend(&out, "\nepoch:       ", info.epoch(), "\n");
  if (info.has_admission()) absl::StrAppend(&out, PildText(info));
  absl::StrAppend(&out, "you:         ", CallerText(info.caller()), "\n");
  if (info.grants().empty()) {
    absl::StrAppend(&out, "you may:     nothing\n");
  }
  std::vector<std::string> everywhere;
  for (const v1::Grant& grant : info.grants()) {
    if (grant.all_coprocessors()) everywhere.push_back(EnumText(grant.verb()));
  }
  if (!everywhere.empty()) {
    absl::StrAppend(&out, "you may:     ", absl::StrJoin(everywhere, ", "),
                    " (every coprocessor)\n");
  }
  for (const v1::Grant& grant : info.grants()) {
    if (!grant.all_coprocessors()) {
      absl::StrAppend(&out, "you may:     ", GrantText(grant), "\n");
    }
  }
  return out;
}

std::string InfoJson(const v1::GetInfoResponse& info) {
  JsonWriter json;
  json.BeginObject();
  json.Key("version").String(info.version());
  json.Key("epoch").String(info.epoch());
  json.Key("backend").String(EnumText(info.backend()));
  json.Key("board_model").String(info.board_model());
  json.Key("audit").BeginObject();
  json.Key("enabled").Bool(info.audit().enabled());
  json.Key("path").String(info.audit().path());
  json.Key("write_failures").Uint(info.audit().write_failures());
  json.EndObject();
  json.Key("admission").BeginObject();
  json.Key("policy").String(info.admission().policy());
  json.Key("listeners").BeginArray();
  for (const std::string& l : info.admission().listeners()) json.String(l);
  json.EndArray();
  json.Key("plaintext_tcp").Bool(info.admission().plaintext_tcp());
  json.EndObject();
  json.Key("caller");
  WriteCallerJson(info.caller(), json);
  json.Key("grants").BeginArray();
  for (const v1::Grant& grant : info.grants()) {
    json.BeginObject();
    json.Key("verb").String(EnumText(grant.verb()));
    json.Key("all_coprocessors").Bool(grant.all_coprocessors());
    json.Key("coprocessors").BeginArray();
    for (const std::string& name : grant.coprocessors()) json.String(name);
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str();
}

}  // namespace pil::client
