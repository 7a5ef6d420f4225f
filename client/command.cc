#include "client/command.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/exit_codes.h"
#include "client/json.h"
#include "client/table.h"
#include "common/error.h"

namespace pil::client {

bool ParseNumber(absl::string_view text, uint64_t* value) {
  if (absl::ConsumePrefix(&text, "0x") || absl::ConsumePrefix(&text, "0X")) {
    return absl::SimpleHexAtoi(text, value);
  }
  return absl::SimpleAtoi(text, value);
}

int Fail(const Context& ctx, const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  std::cerr << "pilctl: ";
  if (ExitCodeFor(status) == kExitUnavailable) {
    std::cerr << "cannot reach pild at " << ctx.client_options.address << ": ";
  } else if (status.code() == absl::StatusCode::kDeadlineExceeded &&
             reason.empty()) {
    std::cerr << "no answer from pild within the deadline (--timeout); the "
                 "call may still complete there (pilctl status and history "
                 "tell): ";
  }
  std::cerr << Printable(std::string(status.message()));
  if (!reason.empty()) std::cerr << " [" << Printable(reason) << "]";
  std::cerr << "\n";
  if (ctx.json) {
    JsonWriter json;
    json.BeginObject().Key("error").BeginObject();
    json.Key("code").String(absl::StatusCodeToString(status.code()));
    json.Key("reason").String(reason);
    json.Key("message").String(status.message());
    json.Key("metadata").BeginObject();
    for (const auto& [key, value] : MetadataOf(status)) {
      json.Key(key).String(value);
    }
    json.EndObject().EndObject().EndObject();
    std::cout << json.str();
  }
  return ExitCodeFor(status);
}

int UsageError(const Context& ctx, const std::string& message) {
  return Fail(ctx, Error(absl::StatusCode::kInvalidArgument, "USAGE", message));
}

absl::StatusOr<absl::Duration> DurationOption(const Context& ctx,
                                              const std::string& name) {
  auto text = ctx.args.Value(name);
  if (!text) return absl::ZeroDuration();
  absl::Duration d;
  if (!absl::ParseDuration(*text, &d) || d <= absl::ZeroDuration()) {
    return Error(absl::StatusCode::kInvalidArgument, "USAGE",
                 absl::StrCat("--", name,
                              " expects a positive duration such as 5s or "
                              "500ms, got '",
                              *text, "'"));
  }
  return d;
}

}  // namespace pil::client
