// pilctl: the command-line client of pild. See docs/CLI.md.
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/args.h"
#include "client/command.h"
#include "client/exit_codes.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/grpc_runtime.h"
#include "common/version.h"

namespace pil::client {
namespace {

// Options every command accepts.
const std::map<std::string, bool> kGlobalOptions = {
    {"server", true}, {"timeout", true},         {"json", false},
    {"help", false},  {"tls-cert", true},        {"tls-key", true},
    {"tls-ca", true}, {"tls-server-name", true}, {"version", false}};

// The mutual-TLS material --tls-* (or $PILD_TLS_CERT, $PILD_TLS_KEY,
// $PILD_TLS_CA) names; none when nothing does.
absl::StatusOr<std::optional<TlsMaterial>> TlsOf(const Args& args) {
  auto value = [&args](const char* option, const char* env) {
    if (auto v = args.Value(option)) return *v;
    const char* text = std::getenv(env);
    return std::string(text ? text : "");
  };
  const std::string cert = value("tls-cert", "PILD_TLS_CERT");
  const std::string key = value("tls-key", "PILD_TLS_KEY");
  const std::string ca = value("tls-ca", "PILD_TLS_CA");
  if (cert.empty() && key.empty() && ca.empty()) {
    return std::optional<TlsMaterial>();
  }
  if (cert.empty() || key.empty() || ca.empty()) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 "--tls-cert, --tls-key and --tls-ca go together");
  }
  auto tls = LoadTlsMaterial(cert, key, ca);
  if (!tls.ok()) return tls.status();
  tls->server_name = args.Value("tls-server-name").value_or("");
  return std::optional<TlsMaterial>(std::move(*tls));
}

const std::vector<Command>& Commands() {
  static const auto* commands = [] {
    auto* all = new std::vector<Command>(LifecycleCommands());
    for (auto group : {ImageCommands(), PolicyCommands(), AuditCommands()}) {
      all->insert(all->end(), group.begin(), group.end());
    }
    return all;
  }();
  return *commands;
}

std::string Usage() {
  std::string out =
      "usage: pilctl [--server=ADDR] [--timeout=DURATION] [--json] COMMAND "
      "[ARGS]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    std::string head = absl::StrCat("  ", c.name, " ", c.usage);
    head.resize(std::max<size_t>(head.size() + 2, 28), ' ');
    absl::StrAppend(&out, head, c.summary, "\n");
  }
  absl::StrAppend(
      &out,
      "\noptions:\n"
      "  --server=ADDR        pild's address (default ",
      DefaultEndpoint(),
      ";\n"
      "                       $PILD_SOCKET overrides the socket path)\n"
      "  --timeout=DURATION   deadline of each call, e.g. 500ms, 10s "
      "(default 10s)\n"
      "  --tls-cert=PEM --tls-key=PEM --tls-ca=PEM\n"
      "                       mutual TLS for a TCP address (or "
      "$PILD_TLS_CERT,\n"
      "                       $PILD_TLS_KEY, $PILD_TLS_CA); "
      "--tls-server-name=N\n"
      "                       when pild's certificate names another host\n"
      "  --json               machine-readable output (errors too)\n"
      "  --version            pilctl's version\n"
      "  COMMAND --help       that command's arguments and options\n"
      "\nexit codes: 0 ok, 1 failed, 2 usage, 3 pild unreachable, 4 not "
      "found,\n5 invalid input, 6 refused in this state, 7 permission "
      "denied,\n8 not implemented, 9 image does not verify "
      "(docs/CLI.md)\n");
  return out;
}

// `pilctl COMMAND --help`.
std::string CommandHelp(const Command& c) {
  std::string out = absl::StrCat("usage: pilctl [OPTIONS] ", c.name, " ",
                                 c.usage, "\n\n", c.summary, "\n");
  if (!c.options.empty()) {
    absl::StrAppend(&out, "\noptions of ", c.name, ":");
    for (const auto& [option, takes_value] : c.options) {
      absl::StrAppend(&out, " --", option, takes_value ? "=..." : "");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out,
                  "\nglobal options and exit codes: pilctl --help "
                  "(docs/CLI.md)\n");
  return out;
}

const Command* FindCommand(const std::string& name) {
  static const std::vector<Command>* const kCommands =
      new std::vector<Command>(Commands());
  for (const Command& c : *kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int Main(int argc, char** argv) {
  std::map<std::string, bool> known = kGlobalOptions;
  for (const Command& c : Commands())
    known.insert(c.options.begin(), c.options.end());
  Context ctx;
  // Known before the rest parses, so that even a usage error is JSON.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") break;
    if (std::string(argv[i]) == "--json") ctx.json = true;
  }
  auto args = ParseArgs(argc, argv, known);
  if (!args.ok()) {
    if (!ctx.json) std::cerr << Usage() << "\n";
    return UsageError(ctx, std::string(args.status().message()));
  }
  if (args->Has("version")) {
    if (ctx.json) {
      std::cout << "{\"version\": \"" << kVersion << "\"}\n";
    } else {
      std::cout << "pilctl " << kVersion << "\n";
    }
    return kExitOk;
  }
  if (args->Has("help")) {
    const Command* c =
        args->positional.empty() ? nullptr : FindCommand(args->positional[0]);
    std::cout << (c != nullptr ? CommandHelp(*c) : Usage());
    return kExitOk;
  }
  if (args->positional.empty()) {
    if (!ctx.json) std::cerr << Usage() << "\n";
    return UsageError(ctx, "no command given");
  }
  ctx.args = std::move(*args);
  ctx.client_options.address =
      ctx.args.Value("server").value_or(DefaultEndpoint());
  if (auto timeout = ctx.args.Value("timeout")) {
    if (!absl::ParseDuration(*timeout, &ctx.client_options.timeout) ||
        ctx.client_options.timeout <= absl::ZeroDuration()) {
      return UsageError(ctx,
                        absl::StrCat("--timeout expects a positive duration "
                                     "such as 10s or 500ms, got '",
                                     *timeout, "'"));
    }
    // Queries and transitions alike.
    ctx.client_options.transition_timeout = ctx.client_options.timeout;
  }
  auto tls = TlsOf(ctx.args);
  if (!tls.ok()) return Fail(ctx, tls.status());
  ctx.client_options.tls = std::move(*tls);
  const std::string& name = ctx.args.positional[0];
  for (const Command& c : Commands()) {
    if (name != c.name) continue;
    for (const auto& [option, value] : ctx.args.options) {
      if (!kGlobalOptions.count(option) && !c.options.count(option)) {
        return UsageError(
            ctx, absl::StrCat("option --", option, " does not apply to '",
                              c.name, "'"));
      }
    }
    const size_t n = ctx.args.positional.size();
    if (n < c.min_args || n > c.max_args) {
      return UsageError(ctx,
                        absl::StrCat("usage: pilctl ", c.name, " ", c.usage));
    }
    return c.run(ctx);
  }
  if (!ctx.json) std::cerr << Usage() << "\n";
  return UsageError(ctx, absl::StrCat("unknown command '", name, "'"));
}

}  // namespace
}  // namespace pil::client

int main(int argc, char** argv) {
  pil::KeepGrpcRuntime();
  return pil::client::Main(argc, argv);
}
