// pilctl's lifecycle commands: list, status, the transitions and watch.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/command.h"
#include "client/exit_codes.h"
#include "client/format.h"
#include "client/json.h"
#include "client/lifecycle_format.h"
#include "common/error.h"

namespace pil::client {
namespace {

int RunList(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto list = client.ListCoprocessors(ctx.args.Has("hardware"));
  if (!list.ok()) return Fail(ctx, list.status());
  std::cout << (ctx.json ? CoprocessorsJson(*list)
                         : CoprocessorTable(*list, /*live=*/true));
  return kExitOk;
}

int RunStatus(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto coprocessor =
      client.GetCoprocessor(ctx.args.positional[1], ctx.args.Has("hardware"));
  if (!coprocessor.ok()) return Fail(ctx, coprocessor.status());
  if (ctx.json) {
    JsonWriter json;
    WriteCoprocessorJson(*coprocessor, json);
    std::cout << json.str();
  } else {
    std::cout << CoprocessorDetail(*coprocessor);
  }
  return kExitOk;
}

int PrintTransition(const Context& ctx, const std::string& operation,
                    const absl::StatusOr<v1::TransitionResponse>& response) {
  if (!response.ok()) return Fail(ctx, response.status());
  if (ctx.json) {
    JsonWriter json;
    WriteTransitionJson(operation, *response, json);
    std::cout << json.str();
  } else {
    std::cout << TransitionText(operation, *response);
  }
  return kExitOk;
}

// authenticate, map, reset, start, stop.
int RunTransition(const Context& ctx) {
  const std::string& operation = ctx.args.positional[0];
  const std::string& name = ctx.args.positional[1];
  const std::string request_id = ctx.args.Value("request-id").value_or("");
  PildClient client(ctx.client_options);
  auto ready = DurationOption(ctx, "ready-timeout");
  if (!ready.ok()) return Fail(ctx, ready.status());
  auto stop_timeout = DurationOption(ctx, "stop-timeout");
  if (!stop_timeout.ok()) return Fail(ctx, stop_timeout.status());
  if (operation == "map") {
    return PrintTransition(ctx, operation, client.Map(name, request_id));
  }
  if (operation == "reset") {
    return PrintTransition(ctx, operation,
                           client.Reset(name, *ready, request_id));
  }
  if (operation == "stop") {
    return PrintTransition(ctx, operation,
                           client.Stop(name, *stop_timeout, request_id));
  }
  auto firmware = FirmwareOf(ctx, client);
  if (!firmware.ok()) return Fail(ctx, firmware.status());
  if (operation == "authenticate") {
    return PrintTransition(ctx, operation,
                           client.Authenticate(name, *firmware, request_id));
  }
  if (ctx.args.Has("dry-run")) {
    return PrintTransition(ctx, operation, client.DryRunStart(name, *firmware));
  }
  return PrintTransition(ctx, operation,
                         client.Start(name, *firmware, *ready, request_id));
}

int RunWatch(const Context& ctx) {
  const std::string name =
      ctx.args.positional.size() > 1 ? ctx.args.positional[1] : "";
  uint64_t count = 0;
  if (auto text = ctx.args.Value("count")) {
    if (!ParseNumber(*text, &count) || count == 0) {
      return UsageError(
          ctx,
          absl::StrCat("--count expects a positive number, got '", *text, "'"));
    }
  }
  auto duration = DurationOption(ctx, "for");
  if (!duration.ok()) return Fail(ctx, duration.status());
  const bool changes_only = ctx.args.Has("changes");
  PildClient client(ctx.client_options);
  uint64_t seen = 0;
  absl::Status status = client.Watch(
      name,
      [&](const v1::WatchEvent& event) {
        if (changes_only && event.initial()) return true;
        std::cout << (ctx.json ? WatchEventJson(event) : WatchEventLine(event))
                  << std::endl;
        return count == 0 || ++seen < count;
      },
      *duration > absl::ZeroDuration() ? *duration : absl::InfiniteDuration());
  if (!status.ok()) return Fail(ctx, status);
  return kExitOk;
}

}  // namespace

std::vector<Command> LifecycleCommands() {
  return {
      {"list",
       "[--hardware]",
       "coprocessors pild manages and their state",
       1,
       1,
       RunList,
       {{"hardware", false}}},
      {"status",
       "NAME [--hardware]",
       "one coprocessor in detail (--hardware: as the platform sees it)",
       2,
       2,
       RunStatus,
       {{"hardware", false}}},
      {"start",
       "NAME [--firmware=NAME|--upload=SHA256|--file=PATH] "
       "[--ready-timeout=D] [--request-id=ID] [--dry-run]",
       "authenticate, map and reset in one transaction (--dry-run: every "
       "check short of the secure world, nothing done)",
       2,
       2,
       RunTransition,
       {{"firmware", true},
        {"upload", true},
        {"file", true},
        {"ready-timeout", true},
        {"request-id", true},
        {"dry-run", false}}},
      {"stop",
       "NAME [--stop-timeout=D] [--request-id=ID]",
       "stop and release everything the coprocessor holds",
       2,
       2,
       RunTransition,
       {{"stop-timeout", true}, {"request-id", true}}},
      {"authenticate",
       "NAME [--firmware=NAME|--upload=SHA256|--file=PATH] [--request-id=ID]",
       "validate, hand the metadata to the secure world, load the segments",
       2,
       2,
       RunTransition,
       {{"firmware", true},
        {"upload", true},
        {"file", true},
        {"request-id", true}}},
      {"map",
       "NAME [--request-id=ID]",
       "map the firmware memory to its stream ID (Linux-owned IOMMU)",
       2,
       2,
       RunTransition,
       {{"request-id", true}}},
      {"reset",
       "NAME [--ready-timeout=D] [--request-id=ID]",
       "bridge, authenticate and release from reset; wait for ready",
       2,
       2,
       RunTransition,
       {{"ready-timeout", true}, {"request-id", true}}},
      {"watch",
       "[NAME] [--count=N] [--for=D] [--changes]",
       "current states, then every change as it happens",
       1,
       2,
       RunWatch,
       {{"count", true}, {"for", true}, {"changes", false}}},
  };
}

}  // namespace pil::client
