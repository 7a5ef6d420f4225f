// pilctl's image commands: upload, uploads, coredump, coredumps,
// devicetree, inspect, and the firmware options transitions share.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/command.h"
#include "client/exit_codes.h"
#include "client/format.h"
#include "client/image_format.h"
#include "client/json.h"
#include "client/lifecycle_format.h"
#include "client/store_format.h"
#include "common/error.h"
#include "common/file.h"
#include "common/rpc_status.h"
#include "messages/devicetree_proto.h"
#include "messages/image_proto.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"

namespace pil::client {
namespace {

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
    return UsageError(
        ctx,
        "inspect takes FILE (offline) or "
        "--firmware/--upload/--coprocessor (asks pild), not both");
  }
  if (remote) {
    if (ctx.args.Has("carveout")) {
      return UsageError(ctx,
                        "--carveout applies to offline inspection; pild "
                        "checks against --coprocessor's carveout");
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
      return UsageError(ctx,
                        absl::StrCat("--carveout expects BASE+SIZE such as "
                                     "0x9bb00000+0x700000, got '",
                                     *carveout, "'"));
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

}  // namespace

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

namespace {

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
      return UsageError(
          ctx, absl::StrCat("--crash-id expects a number, got '", *text, "'"));
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
    WriteCoredumpInfoKeys(*info, json);
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

int RunCoredumps(const Context& ctx) {
  v1::ListCoredumpsRequest request;
  if (ctx.args.positional.size() > 1) request.set_name(ctx.args.positional[1]);
  PildClient client(ctx.client_options);
  v1::ListCoredumpsResponse response;
  grpc::Status status = client.stub().ListCoredumps(client.NewContext().get(),
                                                    request, &response);
  if (!status.ok()) return Fail(ctx, FromGrpcStatus(status));
  const std::vector<v1::CoredumpInfo> list(response.coredumps().begin(),
                                           response.coredumps().end());
  std::cout << (ctx.json ? CoredumpsJson(list) : CoredumpsTable(list));
  return kExitOk;
}

// uploads, or uploads delete SHA256.
int RunUploads(const Context& ctx) {
  const std::vector<std::string>& words = ctx.args.positional;
  if (words.size() != 1 && (words.size() != 3 || words[1] != "delete")) {
    return UsageError(ctx, "usage: pilctl uploads [delete SHA256]");
  }
  PildClient client(ctx.client_options);
  if (words.size() == 3) {
    v1::DeleteUploadRequest request;
    request.set_sha256(words[2]);
    v1::DeleteUploadResponse response;
    grpc::Status status = client.stub().DeleteUpload(client.NewContext().get(),
                                                     request, &response);
    if (!status.ok()) return Fail(ctx, FromGrpcStatus(status));
    if (ctx.json) {
      JsonWriter json;
      json.BeginObject().Key("sha256").String(words[2]).EndObject();
      std::cout << json.str();
    } else {
      std::cout << "deleted upload " << words[2] << "\n";
    }
    return kExitOk;
  }
  v1::ListUploadsResponse response;
  grpc::Status status = client.stub().ListUploads(
      client.NewContext().get(), v1::ListUploadsRequest(), &response);
  if (!status.ok()) return Fail(ctx, FromGrpcStatus(status));
  const std::vector<v1::Upload> list(response.uploads().begin(),
                                     response.uploads().end());
  std::cout << (ctx.json ? UploadsJson(list) : UploadsTable(list));
  return kExitOk;
}

}  // namespace

std::vector<Command> ImageCommands() {
  return {
      {"upload", "FILE.mbn|FILE.mdt",
       "send an image to pild, which validates and keeps it by SHA-256", 2, 2,
       RunUpload},
      {"uploads", "[delete SHA256]",
       "the images pild keeps, newest first; delete: forget one (refused "
       "while a coprocessor booted from it is not offline)",
       1, 3, RunUploads},
      {"coredump",
       "NAME [--crash-id=N] [--output=FILE]",
       "download the ELF coredump of a crash (default: the latest)",
       2,
       2,
       RunCoredump,
       {{"crash-id", true}, {"output", true}}},
      {"coredumps", "[NAME]",
       "the coredumps pild keeps (of NAME, or of every coprocessor), "
       "newest first",
       1, 2, RunCoredumps},
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
}

}  // namespace pil::client
