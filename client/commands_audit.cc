// pilctl's audit commands: history (the audit trail, a page at a time) and
// info (pild, and who it takes the caller for).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/audit_format.h"
#include "client/command.h"
#include "client/exit_codes.h"

namespace pil::client {
namespace {

// --since: an RFC 3339 time, or a duration meaning that long ago.
bool ParseSince(const std::string& text, absl::Time* since) {
  absl::Duration ago;
  if (absl::ParseDuration(text, &ago) && ago > absl::ZeroDuration()) {
    *since = absl::Now() - ago;
    return true;
  }
  std::string error;
  return absl::ParseTime(absl::RFC3339_full, text, since, &error);
}

int RunHistory(const Context& ctx) {
  v1::GetHistoryRequest request;
  if (ctx.args.positional.size() > 1) request.set_name(ctx.args.positional[1]);
  uint64_t number = 0;
  if (auto text = ctx.args.Value("limit")) {
    if (!ParseNumber(*text, &number) || number == 0 || number > 1000) {
      return UsageError(
          ctx, absl::StrCat("--limit expects 1..1000, got '", *text, "'"));
    }
    request.set_limit(static_cast<uint32_t>(number));
  }
  if (auto text = ctx.args.Value("uid")) {
    if (!ParseNumber(*text, &number) || number > 0xffffffffu) {
      return UsageError(ctx,
                        absl::StrCat("--uid expects a uid, got '", *text, "'"));
    }
    request.set_caller_uid(static_cast<int64_t>(number));
  }
  if (auto text = ctx.args.Value("certificate")) {
    request.set_caller_certificate(*text);
  }
  if (auto text = ctx.args.Value("since")) {
    absl::Time since;
    if (!ParseSince(*text, &since)) {
      return UsageError(
          ctx,
          absl::StrCat(
              "--since expects a duration (1h: an hour ago) or an RFC 3339 "
              "time, got '",
              *text, "'"));
    }
    request.mutable_since()->set_seconds(absl::ToUnixSeconds(since));
  }
  if (auto text = ctx.args.Value("page-token")) request.set_page_token(*text);
  const bool all = ctx.args.Has("all");
  PildClient client(ctx.client_options);
  std::vector<v1::HistoryEntry> entries;
  std::string next;
  do {
    auto page = client.GetHistory(request);
    if (!page.ok()) return Fail(ctx, page.status());
    entries.insert(entries.end(), page->entries().begin(),
                   page->entries().end());
    next = page->next_page_token();
    request.set_page_token(next);
  } while (all && !next.empty());
  std::cout << (ctx.json ? HistoryJson(entries) : HistoryTable(entries));
  if (!next.empty()) {
    std::cerr << "pilctl: older entries follow: --page-token=" << next
              << " (or --all)\n";
  }
  return kExitOk;
}

int RunInfo(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto info = client.GetInfo();
  if (!info.ok()) return Fail(ctx, info.status());
  std::cout << (ctx.json ? InfoJson(*info) : InfoText(*info));
  return kExitOk;
}

}  // namespace

std::vector<Command> AuditCommands() {
  return {
      {"history",
       "[NAME] [--limit=N] [--uid=UID] [--certificate=ID] [--since=T] "
       "[--page-token=T | --all]",
       "the audit trail, newest first: transitions, refused and denied "
       "calls, uploads, coredump downloads",
       1,
       2,
       RunHistory,
       {{"limit", true},
        {"uid", true},
        {"certificate", true},
        {"since", true},
        {"page-token", true},
        {"all", false}}},
      {"info", "",
       "pild's version, backend, policy and audit trail; who you are "
       "to it and what you may do",
       1, 1, RunInfo},
  };
}

}  // namespace pil::client
