// GetHistory (the audit trail, a page at a time) and GetInfo (pild and the
// caller).
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/version.h"
#include "server/access/identity.h"
#include "server/redact.h"
#include "server/requests.h"
#include "server/service.h"
#include "server/service_internal.h"
#include "server/status_proto.h"
#include "server/watch_hub.h"

namespace pil::server {
namespace {

v1::Verb VerbToProto(Verb verb) {
  switch (verb) {
    case Verb::kRead:
      return v1::VERB_READ;
    case Verb::kHistory:
      return v1::VERB_HISTORY;
    case Verb::kStart:
      return v1::VERB_START;
    case Verb::kStop:
      return v1::VERB_STOP;
    case Verb::kAuthenticate:
      return v1::VERB_AUTHENTICATE;
    case Verb::kMap:
      return v1::VERB_MAP;
    case Verb::kReset:
      return v1::VERB_RESET;
    case Verb::kInspect:
      return v1::VERB_INSPECT;
    case Verb::kUpload:
      return v1::VERB_UPLOAD;
    case Verb::kCoredump:
      return v1::VERB_COREDUMP;
  }
  return v1::VERB_UNSPECIFIED;
}

constexpr uint32_t kDefaultPage = 100;
constexpr uint32_t kMaxPage = 1000;

absl::StatusOr<History::Query> QueryOf(const v1::GetHistoryRequest& request) {
  History::Query query;
  query.coprocessor = request.name();
  query.limit =
      request.limit() == 0 ? kDefaultPage : std::min(request.limit(), kMaxPage);
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &query.before_id) ||
       query.before_id == 0)) {
    return Invalid(
        "BAD_PAGE_TOKEN",
        absl::StrCat("page_token '", request.page_token().substr(0, 40),
                     "' is not one GetHistory returned"));
  }
  if (request.has_caller_uid()) query.caller_uid = request.caller_uid();
  if (request.caller_certificate().size() > 1024) {
    return Invalid("BAD_CALLER_CERTIFICATE",
                   "caller_certificate is longer than 1024 bytes");
  }
  query.caller_certificate = request.caller_certificate();
  if (request.has_since()) {
    query.since = absl::FromUnixSeconds(request.since().seconds()) +
                  absl::Nanoseconds(request.since().nanos());
  }
  return query;
}

}  // namespace

grpc::ServerUnaryReactor* LifecycleService::GetHistory(
    grpc::CallbackServerContext* context, const v1::GetHistoryRequest* request,
    v1::GetHistoryResponse* response) {
  const Caller caller = access::Identify(*context);
  auto query = QueryOf(*request);
  if (!query.ok()) return Finish(context, query.status());
  if (!request->name().empty()) {
    if (absl::Status s = RequireName(request->name()); !s.ok()) {
      return Finish(context, s);
    }
  }
  if (auto* denied = Deny(context, caller, Verb::kHistory, request->name())) {
    return denied;
  }
  if (!request->name().empty()) {
    if (absl::Status s = engine_->Get(request->name()).status(); !s.ok()) {
      return Finish(context, s);
    }
  }
  query->scope = gate_->HistoryScope(caller);
  // The database may be busy with a write: on a worker.
  return Blocking(context, caller, [this, caller, query = *query, response] {
    uint64_t next = 0;
    for (const HistoryEntry& entry : gate_->history().Find(query, &next)) {
      v1::HistoryEntry* out = response->add_entries();
      *out = HistoryToProto(entry);
      // Recorded in full; told as any failure is told to this caller.
      out->set_message(RedactText(caller, out->message()));
    }
    if (next != 0) response->set_next_page_token(absl::StrCat(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LifecycleService::GetInfo(
    grpc::CallbackServerContext* context, const v1::GetInfoRequest*,
    v1::GetInfoResponse* response) {
  const Caller caller = access::Identify(*context);
  if (caller.uid < 0 && caller.certificate.empty()) {
    // Nobody pild can name: plaintext TCP (tests only).
    return Deny(context, caller, Verb::kRead, "");
  }
  const auto policy = gate_->policy();
  const std::vector<access::Grant> grants = policy->GrantsOf(caller);
  CallerToProto(caller, response->mutable_caller());
  for (const access::Grant& grant : grants) {
    v1::Grant* out = response->add_grants();
    out->set_verb(VerbToProto(grant.verb));
    out->set_all_coprocessors(grant.all_coprocessors);
    for (const std::string& name : grant.coprocessors) {
      out->add_coprocessors(name);
    }
  }
  response->set_version(kVersion);
  response->set_epoch(hub_->epoch());
  v1::Capabilities* can = response->mutable_capabilities();
  for (const CoprocessorStatus& c : engine_->List()) {
    if (c.drivable && c.capabilities.separate_steps)
      can->set_separate_steps(true);
  }
  can->set_dry_run(true);
  can->set_watch_resume(true);
  can->set_watch_events_kept(static_cast<uint32_t>(options_.watch_queue));
  // As platform/image verifies them (docs/IMAGES.md).
  for (uint32_t version : {3, 5, 6, 7}) can->add_hash_table_versions(version);
  can->add_signature_schemes(v1::SIGNATURE_SCHEME_RSA_PKCS1_SHA256_HMAC);
  can->add_signature_schemes(v1::SIGNATURE_SCHEME_RSA_PSS_SHA256);
  can->add_signature_schemes(v1::SIGNATURE_SCHEME_ECDSA_P384_SHA384);
  can->set_max_upload_size(options_.max_upload_size);
  can->set_max_upload_chunk(kChunk);
  // The rest is for callers that may read something.
  const bool reads =
      std::any_of(grants.begin(), grants.end(),
                  [](const access::Grant& g) { return g.verb == Verb::kRead; });
  if (!reads) return Finish(context, absl::OkStatus());
  response->set_backend(BackendToProto(facts_.backend));
  response->set_board_model(facts_.board_model);
  History& history = gate_->history();
  v1::AuditTrail* audit = response->mutable_audit();
  audit->set_enabled(facts_.audit_enabled);
  audit->set_path(history.path());
  audit->set_write_failures(history.write_failures());
  audit->set_max_records(facts_.audit_limits.max_records);
  audit->set_max_refused(facts_.audit_limits.max_refused);
  DurationToProto(facts_.audit_limits.max_age, audit->mutable_max_age());
  v1::Admission* admission = response->mutable_admission();
  admission->set_policy(policy->Describe());
  for (const std::string& listener : facts_.listeners) {
    admission->add_listeners(listener);
  }
  admission->set_plaintext_tcp(facts_.plaintext_tcp);
  if (facts_.tls != nullptr) {
    const access::HandshakeCounts counts = facts_.tls->counts();
    v1::TlsHandshakes* tls = admission->mutable_tls();
    tls->set_accepted(counts.accepted);
    tls->set_expired(counts.expired);
    tls->set_untrusted(counts.untrusted);
    tls->set_missing(counts.missing);
    tls->set_invalid(counts.invalid);
  }
  return Finish(context, absl::OkStatus());
}

}  // namespace pil::server
