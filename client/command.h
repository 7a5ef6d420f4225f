// pilctl's commands: what each gets (the parsed command line and the
// client options) and the helpers they share. The commands themselves live
// in commands_*.cc, grouped by what they act on; pilctl.cc dispatches.
#ifndef PILD_CLIENT_COMMAND_H_
#define PILD_CLIENT_COMMAND_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/args.h"
#include "client/pild_client.h"

namespace pil::client {

struct Context {
  Args args;
  bool json = false;
  PildClient::Options client_options;
};

struct Command {
  const char* name;
  const char* usage;    // arguments after the command name
  const char* summary;  // one line
  size_t min_args;
  size_t max_args;
  std::function<int(const Context&)> run;
  // Options of this command (besides the global ones), name -> takes a value.
  std::map<std::string, bool> options = {};
};

// Reports `status` on stderr (and, with --json, as {"error": ...} on
// stdout) and returns its exit code.
int Fail(const Context& ctx, const absl::Status& status);

// A mistake in the command line: reported as Fail() does (with --json, as
// {"error": {"code": "INVALID_ARGUMENT", "reason": "USAGE", ...}} on
// stdout), exit code 2.
int UsageError(const Context& ctx, const std::string& message);

// Decimal or 0x-prefixed hexadecimal.
bool ParseNumber(absl::string_view text, uint64_t* value);

// --NAME as a positive duration; zero when absent.
absl::StatusOr<absl::Duration> DurationOption(const Context& ctx,
                                              const std::string& name);

// The image a transition or inspection names: --firmware=NAME,
// --upload=SHA256, or --file=PATH (uploaded first).
absl::StatusOr<Firmware> FirmwareOf(const Context& ctx, PildClient& client);

// The commands of each group.
std::vector<Command> LifecycleCommands();  // list, status, transitions, watch
// upload, uploads, coredump, coredumps, devicetree, inspect
std::vector<Command> ImageCommands();
std::vector<Command> PolicyCommands();  // recovery, lease
std::vector<Command> AuditCommands();   // history, info

}  // namespace pil::client

#endif  // PILD_CLIENT_COMMAND_H_
