// What pild holds for clients to fetch or reuse: ListCoredumps, ListUploads
// and DeleteUpload.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "server/access/identity.h"
#include "server/requests.h"
#include "server/service.h"
#include "server/service_internal.h"
#include "server/status_proto.h"

namespace pil::server {

grpc::ServerUnaryReactor* LifecycleService::ListCoredumps(
    grpc::CallbackServerContext* context,
    const v1::ListCoredumpsRequest* request,
    v1::ListCoredumpsResponse* response) {
  const Caller caller = access::Identify(*context);
  const std::string& name = request->name();
  if (!name.empty()) {
    if (absl::Status s = RequireName(name); !s.ok()) return Finish(context, s);
  }
  if (auto* denied = Deny(context, caller, Verb::kCoredump, name)) {
    return denied;
  }
  if (!name.empty()) {
    if (auto known = engine_->Get(name); !known.ok()) {
      return Finish(context, known.status());
    }
  }
  std::vector<Coredump> dumps;
  for (const CoprocessorStatus& c : engine_->List()) {
    const std::string& n = c.node->name;
    if (!name.empty() && n != name) continue;
    if (!gate_->Allows(caller, Verb::kCoredump, n)) continue;
    auto held = engine_->ListCoredumps(n);
    if (held.ok()) dumps.insert(dumps.end(), held->begin(), held->end());
  }
  std::sort(
      dumps.begin(), dumps.end(),
      [](const Coredump& a, const Coredump& b) { return a.time > b.time; });
  for (const Coredump& dump : dumps) {
    CoredumpInfoToProto(dump, response->add_coredumps());
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* LifecycleService::ListUploads(
    grpc::CallbackServerContext* context, const v1::ListUploadsRequest*,
    v1::ListUploadsResponse* response) {
  const Caller caller = access::Identify(*context);
  if (auto* denied = Deny(context, caller, Verb::kUpload, "")) return denied;
  for (const FirmwareStore::UploadInfo& kept : firmware_->Uploads()) {
    v1::Upload* out = response->add_uploads();
    out->set_sha256(kept.sha256);
    out->set_size(kept.size);
    out->set_name(kept.name);
    TimeToProto(kept.time, out->mutable_time());
  }
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* LifecycleService::DeleteUpload(
    grpc::CallbackServerContext* context,
    const v1::DeleteUploadRequest* request, v1::DeleteUploadResponse*) {
  const Caller caller = access::Identify(*context);
  const std::string sha256 = request->sha256();
  if (!IsSha256Hex(sha256)) {
    return Finish(
        context,
        Error(absl::StatusCode::kInvalidArgument, "BAD_SHA256",
              absl::StrCat("sha256 must be 64 lower-case hex "
                           "digits; got '",
                           absl::CHexEscape(sha256.substr(0, 80)), "'")));
  }
  if (auto* denied = Deny(context, caller, Verb::kUpload, "")) return denied;
  return Blocking(context, caller, [this, caller, sha256] {
    const absl::Time start = absl::Now();
    absl::Status status;
    const std::string source = "upload:" + sha256;
    for (const CoprocessorStatus& c : engine_->List()) {
      if (c.state != State::kOffline && c.image && c.image->source == source) {
        status = Error(absl::StatusCode::kFailedPrecondition, "UPLOAD_IN_USE",
                       absl::StrCat(c.node->name, " was booted from upload ",
                                    sha256, " and is ", StateName(c.state),
                                    ": its recovery would need it; stop it "
                                    "first"),
                       {{"coprocessor", c.node->name}, {"sha256", sha256}});
        break;
      }
    }
    if (status.ok() && !firmware_->RemoveUpload(sha256)) {
      status = Error(absl::StatusCode::kNotFound, "UPLOAD_NOT_FOUND",
                     absl::StrCat("no uploaded image has SHA-256 ", sha256),
                     {{"sha256", sha256}});
    }
    HistoryEntry entry;
    entry.time = start;
    entry.operation = "delete_upload";
    entry.caller = caller;
    entry.image_sha256 = sha256;
    entry.result = status.ok() ? "OK" : ReasonOf(status);
    entry.message = std::string(status.message());
    entry.refused = !status.ok();
    entry.duration = absl::Now() - start;
    if (gate_->history().Add(std::move(entry)) == 0 && status.ok()) {
      return AuditUnavailable("delete upload");
    }
    return status;
  });
}

}  // namespace pil::server
