// pilctl: the command-line client of pild. See docs/CLI.md.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
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
#include "client/lifecycle_format.h"
#include "client/pild_client.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/file.h"
#include "common/grpc_runtime.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"
#include "messages/devicetree_proto.h"
#include "messages/image_proto.h"

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

int RunDevicetree(const Context& ctx) {
  const std::string& path = ctx.args.positional[1];
  auto blob = ReadFile(path, size_t{64} << 20);
  if (!blob.ok()) return Fail(ctx, blob.status());
  auto board = devicetree::Discover(*blob);
  if (!board.ok()) return Fail(ctx, Annotate(board.status(), path));
  std::vector<v1::Coprocessor> list;
  for (const auto& node : board->coprocessors) {
    list.push_back(messages::CoprocessorFromNode(node));
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

// The image a transition or inspection names: --firmware=NAME,
// --upload=SHA256, or --file=PATH (uploaded first).
absl::StatusOr<Firmware> FirmwareOf(const Context& ctx, PildClient& client);

int PrintReport(const Context& ctx, const v1::ImageReport& report) {
  if (ctx.json) {
    JsonWriter json;
    WriteImageReportJson(report, json);
    std::cout << json.str();
  } else {
    std::cout << ImageReportText(report);
  }
  return report.ok() ? kExitOk : kExitNotVerified;
}

int RunInspect(const Context& ctx) {
  const bool remote = ctx.args.Has("firmware") || ctx.args.Has("upload") ||
                      ctx.args.Has("coprocessor");
  if (remote == (ctx.args.positional.size() == 2)) {
    std::cerr << "pilctl: inspect takes FILE (offline) or "
                 "--firmware/--upload/--coprocessor (asks pild), not both\n";
    return kExitUsage;
  }
  if (remote) {
    if (ctx.args.Has("carveout")) {
      std::cerr << "pilctl: --carveout applies to offline inspection; pild "
                   "checks against --coprocessor's carveout\n";
      return kExitUsage;
    }
    PildClient client(ctx.client_options);
    auto firmware = FirmwareOf(ctx, client);
    if (!firmware.ok()) return Fail(ctx, firmware.status());
    auto report = client.InspectImage(
        *firmware, ctx.args.Value("coprocessor").value_or(""));
    if (!report.ok()) return Fail(ctx, report.status());
    return PrintReport(ctx, *report);
  }
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
  return PrintReport(
      ctx, messages::ImageReportToProto(image::Inspect(*image, options)));
}

// A progress callback drawing on stderr when it is a terminal (and not
// with --json); null otherwise.
std::function<void(uint64_t, uint64_t)> Progress(const Context& ctx,
                                                 const std::string& what) {
  if (ctx.json || !::isatty(STDERR_FILENO)) return nullptr;
  return [what](uint64_t done, uint64_t total) {
    std::cerr << "\r" << what << " " << ProgressBar(done, total)
              << (done >= total ? "\n" : "") << std::flush;
  };
}

// Reads a local image (joining an .mdt's .bNN parts) and uploads it.
absl::StatusOr<v1::UploadFirmwareResponse> UploadFile(const Context& ctx,
                                                      PildClient& client,
                                                      const std::string& path) {
  auto image = image::FirmwareImage::LoadFile(path);
  if (!image.ok()) return image.status();
  std::string bytes;
  if (image->split()) {
    auto squashed = image->Squash();
    if (!squashed.ok()) return squashed.status();
    bytes = std::move(*squashed);
  } else {
    auto read = ReadFile(path, image::FirmwareImage::kMaxFileSize);
    if (!read.ok()) return read.status();
    bytes = std::move(*read);
  }
  const std::string name = std::filesystem::path(path).filename().string();
  return client.Upload(name, bytes, Progress(ctx, "uploading " + name));
}

absl::StatusOr<Firmware> FirmwareOf(const Context& ctx, PildClient& client) {
  const int given =
      ctx.args.Has("firmware") + ctx.args.Has("upload") + ctx.args.Has("file");
  if (given > 1) {
    return Error(absl::StatusCode::kInvalidArgument, "USAGE",
                 "give one of --firmware, --upload and --file");
  }
  if (auto name = ctx.args.Value("firmware")) return Firmware::Named(*name);
  if (auto sha = ctx.args.Value("upload")) return Firmware::Upload(*sha);
  if (auto path = ctx.args.Value("file")) {
    auto uploaded = UploadFile(ctx, client, *path);
    if (!uploaded.ok()) return Annotate(uploaded.status(), *path);
    return Firmware::Upload(uploaded->sha256());
  }
  return Firmware::Default();
}

// --NAME as a positive duration; zero when absent.
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
  return PrintTransition(ctx, operation,
                         client.Start(name, *firmware, *ready, request_id));
}

int RunWatch(const Context& ctx) {
  const std::string name =
      ctx.args.positional.size() > 1 ? ctx.args.positional[1] : "";
  uint64_t count = 0;
  if (auto text = ctx.args.Value("count")) {
    if (!ParseNumber(*text, &count) || count == 0) {
      std::cerr << "pilctl: --count expects a positive number, got '" << *text
                << "'\n";
      return kExitUsage;
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

int RunUpload(const Context& ctx) {
  PildClient client(ctx.client_options);
  auto uploaded = UploadFile(ctx, client, ctx.args.positional[1]);
  if (!uploaded.ok()) {
    return Fail(ctx, Annotate(uploaded.status(), ctx.args.positional[1]));
  }
  if (ctx.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("sha256").String(uploaded->sha256());
    json.Key("size").Uint(uploaded->size());
    json.Key("report");
    WriteImageReportJson(uploaded->report(), json);
    json.EndObject();
    std::cout << json.str();
  } else {
    std::cout << "accepted: " << uploaded->size() << " bytes, sha256 "
              << uploaded->sha256() << "\n"
              << "use: --upload=" << uploaded->sha256() << "\n";
  }
  return kExitOk;
}

int RunCoredump(const Context& ctx) {
  const std::string& name = ctx.args.positional[1];
  uint64_t crash_id = 0;
  if (auto text = ctx.args.Value("crash-id")) {
    if (!ParseNumber(*text, &crash_id)) {
      std::cerr << "pilctl: --crash-id expects a number, got '" << *text
                << "'\n";
      return kExitUsage;
    }
  }
  PildClient client(ctx.client_options);
  std::string bytes;
  auto info =
      client.GetCoredump(name, crash_id, &bytes, Progress(ctx, "downloading"));
  if (!info.ok()) return Fail(ctx, info.status());
  const std::string output = ctx.args.Value("output").value_or(
      absl::StrCat(name, "-", info->crash_id(), ".core"));
  if (absl::Status s = WriteFile(output, bytes); !s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    JsonWriter json;
    json.BeginObject();
    json.Key("name").String(info->name());
    json.Key("crash_id").Uint(info->crash_id());
    json.Key("reason").String(info->reason());
    json.Key("time").String(TimestampText(info->time()));
    json.Key("size").Uint(info->size());
    json.Key("sha256").String(info->sha256());
    json.Key("file").String(output);
    json.EndObject();
    std::cout << json.str();
  } else {
    std::cout << name << " crash " << info->crash_id() << " (" << info->reason()
              << ", " << TimestampText(info->time()) << "): " << info->size()
              << " bytes written to " << output << "\nsha256 " << info->sha256()
              << "\n";
  }
  return kExitOk;
}

int RunHistory(const Context& ctx) {
  const std::string name =
      ctx.args.positional.size() > 1 ? ctx.args.positional[1] : "";
  uint64_t limit = 0;
  if (auto text = ctx.args.Value("limit")) {
    if (!ParseNumber(*text, &limit) || limit == 0 || limit > 10000) {
      std::cerr << "pilctl: --limit expects 1..10000, got '" << *text << "'\n";
      return kExitUsage;
    }
  }
  PildClient client(ctx.client_options);
  auto entries = client.GetHistory(name, static_cast<uint32_t>(limit));
  if (!entries.ok()) return Fail(ctx, entries.status());
  std::cout << (ctx.json ? HistoryJson(*entries) : HistoryTable(*entries));
  return kExitOk;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
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
       "[--ready-timeout=D] [--request-id=ID]",
       "authenticate, map and reset in one transaction",
       2,
       2,
       RunTransition,
       {{"firmware", true},
        {"upload", true},
        {"file", true},
        {"ready-timeout", true},
        {"request-id", true}}},
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
      {"upload", "FILE.mbn|FILE.mdt",
       "send an image to pild, which validates and keeps it by SHA-256", 2, 2,
       RunUpload},
      {"coredump",
       "NAME [--crash-id=N] [--output=FILE]",
       "download the ELF coredump of a crash (default: the latest)",
       2,
       2,
       RunCoredump,
       {{"crash-id", true}, {"output", true}}},
      {"history",
       "[NAME] [--limit=N]",
       "recorded transitions, newest first",
       1,
       2,
       RunHistory,
       {{"limit", true}}},
      {"devicetree", "FILE.dtb",
       "coprocessors a device tree describes (offline, no server)", 2, 2,
       RunDevicetree},
      {"inspect",
       "FILE.mbn|FILE.mdt [--carveout=BASE+SIZE] | "
       "--firmware=NAME|--upload=SHA256 [--coprocessor=NAME]",
       "validate an image: segments, hash table, signatures (a local file "
       "offline, or one pild can read)",
       1,
       2,
       RunInspect,
       {{"carveout", true},
        {"firmware", true},
        {"upload", true},
        {"coprocessor", true}}},
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

int main(int argc, char** argv) {
  pil::KeepGrpcRuntime();
  return pil::client::Main(argc, argv);
}
