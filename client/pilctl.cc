// pilctl: the command-line client of pild. See docs/CLI.md.
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/args.h"
#include "client/exit_codes.h"
#include "client/format.h"
#include "client/image_format.h"
#include "client/json.h"
#include "client/pild_client.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/file.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"
#include "server/devicetree_proto.h"
#include "server/image_proto.h"

namespace pil::client {
namespace {

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

// Options every command accepts.
const std::map<std::string, bool> kGlobalOptions = {
    {"server", true}, {"timeout", true}, {"json", false}, {"help", false}};

// Parses decimal or 0x-prefixed hexadecimal.
bool ParseNumber(absl::string_view text, uint64_t* value) {
  if (absl::ConsumePrefix(&text, "0x") || absl::ConsumePrefix(&text, "0X")) {
    return absl::SimpleHexAtoi(text, value);
  }
  return absl::SimpleAtoi(text, value);
}

// Reports `status` on stderr (and, with --json, as {"error": ...} on
// stdout) and returns its exit code.
int Fail(const Context& ctx, const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  std::cerr << "pilctl: ";
  if (ExitCodeFor(status) == kExitUnavailable) {
    std::cerr << "cannot reach pild at " << ctx.client_options.address << ": ";
  }
  std::cerr << status.message();
  if (!reason.empty()) std::cerr << " [" << reason << "]";
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

int RunList(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto list = client.ListCoprocessors();
  if (!list.ok()) return Fail(ctx, list.status());
  std::cout << (ctx.json ? CoprocessorsJson(*list)
                         : CoprocessorTable(*list, /*live=*/true));
  return kExitOk;
}

int RunStatus(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto coprocessor = client.GetCoprocessor(ctx.args.positional[1]);
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

int RunDevicetree(const Context& ctx) {
  const std::string& path = ctx.args.positional[1];
  auto blob = ReadFile(path, size_t{64} << 20);
  if (!blob.ok()) return Fail(ctx, blob.status());
  auto board = devicetree::Discover(*blob);
  if (!board.ok()) return Fail(ctx, Annotate(board.status(), path));
  std::vector<v1::Coprocessor> list;
  for (const auto& node : board->coprocessors) {
    list.push_back(server::CoprocessorFromNode(node));
  }
  if (ctx.json) {
    std::cout << CoprocessorsJson(list);
  } else {
    std::cout << (board->model.empty() ? "(no model)" : board->model) << "  ("
              << path << ")\n\n"
              << CoprocessorTable(list, /*live=*/false);
  }
  return kExitOk;
}

int RunInspect(const Context& ctx) {
  const std::string& path = ctx.args.positional[1];
  auto image = image::FirmwareImage::LoadFile(path);
  if (!image.ok()) return Fail(ctx, image.status());
  image::InspectOptions options;
  options.file_digest = true;
  if (auto carveout = ctx.args.Value("carveout")) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(*carveout, absl::MaxSplits('+', 1));
    uint64_t base = 0, size = 0;
    if (!ParseNumber(parts.first, &base) || !ParseNumber(parts.second, &size)) {
      std::cerr << "pilctl: --carveout expects BASE+SIZE such as "
                   "0x9bb00000+0x700000, got '"
                << *carveout << "'\n";
      return kExitUsage;
    }
    options.carveout = std::make_pair(base, size);
  }
  const v1::ImageReport report =
      server::ImageReportToProto(image::Inspect(*image, options));
  if (ctx.json) {
    JsonWriter json;
    WriteImageReportJson(report, json);
    std::cout << json.str();
  } else {
    std::cout << ImageReportText(report);
  }
  return report.ok() ? kExitOk : kExitNotVerified;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"list", "", "coprocessors pild manages and their state", 1, 1, RunList},
      {"status", "NAME", "one coprocessor in detail", 2, 2, RunStatus},
      {"devicetree", "FILE.dtb",
       "coprocessors a device tree describes (offline, no server)", 2, 2,
       RunDevicetree},
      {"inspect",
       "FILE.mbn|FILE.mdt [--carveout=BASE+SIZE]",
       "validate an image: segments, hash table, signatures (offline)",
       2,
       2,
       RunInspect,
       {{"carveout", true}}},
  };
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
      "  --json               machine-readable output\n"
      "\nexit codes: 0 ok, 1 failed, 2 usage, 3 pild unreachable, 4 not "
      "found,\n5 invalid input, 6 refused in this state, 7 permission "
      "denied,\n8 not implemented, 9 image does not verify "
      "(docs/CLI.md)\n");
  return out;
}

int Main(int argc, char** argv) {
  std::map<std::string, bool> known = kGlobalOptions;
  for (const Command& c : Commands())
    known.insert(c.options.begin(), c.options.end());
  auto args = ParseArgs(argc, argv, known);
  if (!args.ok()) {
    std::cerr << "pilctl: " << args.status().message() << "\n\n" << Usage();
    return kExitUsage;
  }
  if (args->Has("help") || args->positional.empty()) {
    (args->Has("help") ? std::cout : std::cerr) << Usage();
    return args->Has("help") ? kExitOk : kExitUsage;
  }
  Context ctx;
  ctx.args = std::move(*args);
  ctx.json = ctx.args.Has("json");
  ctx.client_options.address =
      ctx.args.Value("server").value_or(DefaultEndpoint());
  if (auto timeout = ctx.args.Value("timeout")) {
    if (!absl::ParseDuration(*timeout, &ctx.client_options.timeout) ||
        ctx.client_options.timeout <= absl::ZeroDuration()) {
      std::cerr << "pilctl: --timeout expects a positive duration such as "
                   "10s or 500ms, got '"
                << *timeout << "'\n";
      return kExitUsage;
    }
  }
  const std::string& name = ctx.args.positional[0];
  for (const Command& c : Commands()) {
    if (name != c.name) continue;
    for (const auto& [option, value] : ctx.args.options) {
      if (!kGlobalOptions.count(option) && !c.options.count(option)) {
        std::cerr << "pilctl: option --" << option << " does not apply to '"
                  << c.name << "'\n";
        return kExitUsage;
      }
    }
    const size_t n = ctx.args.positional.size();
    if (n < c.min_args || n > c.max_args) {
      std::cerr << "pilctl: usage: pilctl " << c.name << " " << c.usage << "\n";
      return kExitUsage;
    }
    return c.run(ctx);
  }
  std::cerr << "pilctl: unknown command '" << name << "'\n\n" << Usage();
  return kExitUsage;
}

}  // namespace
}  // namespace pil::client

int main(int argc, char** argv) { return pil::client::Main(argc, argv); }
