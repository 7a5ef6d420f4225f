// Who may do what: pild's --policy file (server/access/proto/policy.proto,
// docs/SECURITY.md) resolved into rules that answer one question, Allows().
// Root on the Unix socket may do everything; without a policy file nobody
// else may do anything. Immutable once built; thread-safe.
//
//   auto policy = Policy::Load("/etc/pild/policy.textproto", {"video"});
//   if (!policy->Allows(caller, Verb::kStart, "video")) ... deny ...
#ifndef PILD_SERVER_ACCESS_POLICY_H_
#define PILD_SERVER_ACCESS_POLICY_H_

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/access/caller.h"

namespace pil::access {

// What a call does; policy.proto's Verb.
enum class Verb {
  kRead,
  kHistory,
  kStart,
  kStop,
  kAuthenticate,
  kMap,
  kReset,
  kInspect,
  kUpload,
  kCoredump,
};
inline constexpr int kVerbCount = 10;

// "read", "history", "start", ... (as in ErrorInfo metadata and the audit
// trail).
const char* VerbName(Verb verb);

// What one caller may do: each verb with the coprocessors it covers.
struct Grant {
  Verb verb;
  bool all_coprocessors = false;
  std::vector<std::string> coprocessors;  // when not all
};

// One rule, resolved: whom it matches and what it grants where.
struct PolicyRule {
  enum class Who { kUid, kGid, kCertificate } who = Who::kUid;
  int64_t id = -1;  // uid or gid
  std::string certificate;
  std::bitset<kVerbCount> verbs;
  std::vector<std::string> coprocessors;  // all when empty
};

class Policy {
 public:
  // Root only.
  Policy() = default;

  // The rules in `text` (a pil.access.v1.Policy in text format; `origin`
  // names it in errors). User and group names are resolved now; every
  // coprocessor a rule names must be one of `coprocessors`. INVALID_ARGUMENT
  // (BAD_POLICY) naming the rule and what is wrong.
  static absl::StatusOr<Policy> Parse(
      absl::string_view text, absl::string_view origin,
      const std::vector<std::string>& coprocessors);
  // Parse() of the file at `path` (at most 1 MiB).
  static absl::StatusOr<Policy> Load(
      const std::string& path, const std::vector<std::string>& coprocessors);

  // Whether `caller` may `verb` on `coprocessor`. "" asks whether it may
  // on some coprocessor (for upload and inspect, which name none, and for
  // list, watch and history of all, whose answers are then filtered by
  // coprocessor).
  bool Allows(const Caller& caller, Verb verb,
              absl::string_view coprocessor) const;
  // Everything `caller` may do, verb by verb (empty: nothing).
  std::vector<Grant> GrantsOf(const Caller& caller) const;

  // "root only" or "N rules from PATH".
  std::string Describe() const;

 private:
  using Rule = PolicyRule;
  static bool Matches(const Rule& rule, const Caller& caller);

  std::vector<Rule> rules_;
  std::string origin_;
};

}  // namespace pil::access

#endif  // PILD_SERVER_ACCESS_POLICY_H_
