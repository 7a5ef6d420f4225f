#include "server/access/policy.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/error.h"
#include "common/file.h"
#include "server/access/proto/policy.pb.h"

namespace pil::access {
namespace {

namespace pb = ::pil::access::v1;

constexpr uint64_t kMaxPolicySize = 1 << 20;

absl::Status BadPolicy(absl::string_view origin, absl::string_view what) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_POLICY",
               absl::StrCat("policy ", origin, ": ", what),
               {{"policy", std::string(origin)}});
}

// The first parse error, with its line and column.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat("line ", line + 1, " column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

std::bitset<kVerbCount> RoleVerbs(pb::Role role) {
  std::bitset<kVerbCount> verbs;
  auto add = [&verbs](std::initializer_list<Verb> list) {
    for (Verb v : list) verbs.set(static_cast<int>(v));
  };
  switch (role) {
    case pb::ADMIN:
      verbs.set();
      break;
    case pb::OPERATOR:
      add({Verb::kRead, Verb::kHistory, Verb::kStart, Verb::kStop,
           Verb::kInspect});
      break;
    case pb::DEBUGGER:
      add({Verb::kRead, Verb::kHistory, Verb::kCoredump});
      break;
    case pb::OBSERVER:
      add({Verb::kRead, Verb::kHistory});
      break;
    default:
      break;
  }
  return verbs;
}

std::optional<Verb> VerbOf(pb::Verb verb) {
  if (verb <= pb::VERB_UNSPECIFIED || verb > kVerbCount) return std::nullopt;
  // pb::Verb numbers are Verb's order, from 1.
  return static_cast<Verb>(static_cast<int>(verb) - 1);
}

std::optional<int64_t> UidOf(const std::string& user) {
  passwd entry{}, *found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) !=
          0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->pw_uid;
}

std::optional<int64_t> GidOf(const std::string& group) {
  struct group entry {
  }, *found = nullptr;
  std::vector<char> buffer(65536);
  if (getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found) !=
          0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

// Whom `in` names, into `rule`; what is wrong otherwise ("" when nothing).
std::string ResolveWho(const pb::Rule& in, PolicyRule* rule) {
  using Who = PolicyRule::Who;
  switch (in.who_case()) {
    case pb::Rule::kUid:
      rule->who = Who::kUid;
      rule->id = in.uid();
      return "";
    case pb::Rule::kUser: {
      auto uid = UidOf(in.user());
      if (!uid) return absl::StrCat("no user '", in.user(), "' on this system");
      rule->who = Who::kUid;
      rule->id = *uid;
      return "";
    }
    case pb::Rule::kGid:
      rule->who = Who::kGid;
      rule->id = in.gid();
      return "";
    case pb::Rule::kGroup: {
      auto gid = GidOf(in.group());
      if (!gid) {
        return absl::StrCat("no group '", in.group(), "' on this system");
      }
      rule->who = Who::kGid;
      rule->id = *gid;
      return "";
    }
    case pb::Rule::kCertificate:
      if (in.certificate().empty()) return "certificate is empty";
      rule->who = Who::kCertificate;
      rule->certificate = in.certificate();
      return "";
    case pb::Rule::WHO_NOT_SET:
      break;
  }
  return "names nobody (expected one of uid, user, gid, group, certificate)";
}

// `in` resolved into `rule`; what is wrong otherwise ("" when nothing).
std::string Resolve(const pb::Rule& in,
                    const std::vector<std::string>& coprocessors,
                    PolicyRule* rule) {
  if (std::string problem = ResolveWho(in, rule); !problem.empty()) {
    return problem;
  }
  rule->verbs = RoleVerbs(in.role());
  for (int verb : in.verb()) {
    auto v = VerbOf(static_cast<pb::Verb>(verb));
    if (!v) return absl::StrCat("unknown verb ", verb);
    rule->verbs.set(static_cast<int>(*v));
  }
  if (rule->verbs.none()) {
    return "grants nothing (expected a role or at least one verb)";
  }
  for (const std::string& name : in.coprocessor()) {
    if (std::find(coprocessors.begin(), coprocessors.end(), name) ==
        coprocessors.end()) {
      return absl::StrCat("no coprocessor '", name, "' on this board (it has: ",
                          absl::StrJoin(coprocessors, ", "), ")");
    }
    rule->coprocessors.push_back(name);
  }
  return "";
}

}  // namespace

const char* VerbName(Verb verb) {
  switch (verb) {
    case Verb::kRead:
      return "read";
    case Verb::kHistory:
      return "history";
    case Verb::kStart:
      return "start";
    case Verb::kStop:
      return "stop";
    case Verb::kAuthenticate:
      return "authenticate";
    case Verb::kMap:
      return "map";
    case Verb::kReset:
      return "reset";
    case Verb::kInspect:
      return "inspect";
    case Verb::kUpload:
      return "upload";
    case Verb::kCoredump:
      return "coredump";
  }
  return "unknown";
}

absl::StatusOr<Policy> Policy::Parse(
    absl::string_view text, absl::string_view origin,
    const std::vector<std::string>& coprocessors) {
  pb::Policy proto;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return BadPolicy(origin,
                     absl::StrCat("not a pil.access.v1.Policy in text format: ",
                                  errors.error()));
  }
  Policy policy;
  policy.origin_ = std::string(origin);
  for (int i = 0; i < proto.rule_size(); ++i) {
    PolicyRule rule;
    std::string problem = Resolve(proto.rule(i), coprocessors, &rule);
    if (!problem.empty()) {
      return BadPolicy(origin, absl::StrCat("rule ", i + 1, ": ", problem));
    }
    policy.rules_.push_back(std::move(rule));
  }
  return policy;
}

absl::StatusOr<Policy> Policy::Load(
    const std::string& path, const std::vector<std::string>& coprocessors) {
  auto text = ReadFile(path, kMaxPolicySize);
  if (!text.ok()) return BadPolicy(path, text.status().message());
  return Parse(*text, path, coprocessors);
}

bool Policy::Matches(const Rule& rule, const Caller& caller) {
  switch (rule.who) {
    case Rule::Who::kUid:
      return caller.certificate.empty() && caller.uid >= 0 &&
             caller.uid == rule.id;
    case Rule::Who::kGid:
      return caller.certificate.empty() && caller.uid >= 0 &&
             (caller.gid == rule.id ||
              std::find(caller.groups.begin(), caller.groups.end(), rule.id) !=
                  caller.groups.end());
    case Rule::Who::kCertificate:
      return !caller.certificate.empty() &&
             caller.certificate == rule.certificate;
  }
  return false;
}

namespace {

bool IsRoot(const Caller& caller) {
  return caller.certificate.empty() && caller.uid == 0;
}

}  // namespace

bool Policy::Allows(const Caller& caller, Verb verb,
                    absl::string_view coprocessor) const {
  if (IsRoot(caller)) return true;
  for (const Rule& rule : rules_) {
    if (!rule.verbs.test(static_cast<int>(verb)) || !Matches(rule, caller)) {
      continue;
    }
    if (rule.coprocessors.empty() || coprocessor.empty() ||
        std::find(rule.coprocessors.begin(), rule.coprocessors.end(),
                  coprocessor) != rule.coprocessors.end()) {
      return true;
    }
  }
  return false;
}

std::vector<Grant> Policy::GrantsOf(const Caller& caller) const {
  std::vector<Grant> grants;
  for (int v = 0; v < kVerbCount; ++v) {
    Grant grant{static_cast<Verb>(v), IsRoot(caller), {}};
    for (const Rule& rule : rules_) {
      if (grant.all_coprocessors) break;
      if (!rule.verbs.test(v) || !Matches(rule, caller)) continue;
      if (rule.coprocessors.empty()) {
        grant.all_coprocessors = true;
        grant.coprocessors.clear();
        break;
      }
      for (const std::string& name : rule.coprocessors) {
        if (std::find(grant.coprocessors.begin(), grant.coprocessors.end(),
                      name) == grant.coprocessors.end()) {
          grant.coprocessors.push_back(name);
        }
      }
    }
    if (grant.all_coprocessors || !grant.coprocessors.empty()) {
      grants.push_back(std::move(grant));
    }
  }
  return grants;
}

std::string Policy::Describe() const {
  if (origin_.empty()) return "root only (no --policy)";
  return absl::StrCat(rules_.size(), " rule", rules_.size() == 1 ? "" : "s",
                      " from ", origin_, ", and root");
}

}  // namespace pil::access
