// pild: the privileged coprocessor-firmware loader. See README.md and
// docs/OPERATIONS.md. main() only wires things together.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/file.h"
#include "common/log.h"
#include "platform/devicetree/discovery.h"
#include "platform/linux/remoteproc_sysfs.h"
#include "platform/sim/boards.h"
#include "server/engine.h"
#include "server/service.h"

ABSL_FLAG(std::string, platform, "sim",
          "backend: 'sim' (software model of the SoC) or 'linux' (remoteproc "
          "sysfs on a real device)");
ABSL_FLAG(std::string, dtb, "",
          "device tree blob to discover coprocessors from; default: the "
          "bundled --board (sim) or /sys/firmware/fdt (linux)");
ABSL_FLAG(std::string, board, pil::sim::kDefaultBoard,
          "sim only: bundled board to simulate when --dtb is not given");
ABSL_FLAG(std::string, firmware_path, "/lib/firmware",
          "colon-separated directories firmware names are resolved in");
ABSL_FLAG(std::string, listen, "",
          "unix:PATH or HOST:PORT (loopback only); default: $PILD_SOCKET, "
          "/run/pild/pild.sock (root), $XDG_RUNTIME_DIR/pild/pild.sock or "
          "/tmp/pild-UID/pild.sock");
ABSL_FLAG(std::string, sysfs, "/sys",
          "linux only: where sysfs is mounted (tests point it elsewhere)");

namespace pil::server {
namespace {

constexpr char kServiceName[] = "pil.v1.Lifecycle";

struct Config {
  std::string platform;
  std::string dtb_source;  // for logs
  std::string dtb;
  std::vector<std::string> firmware_path;
  std::string listen;
};

absl::StatusOr<Config> LoadConfig() {
  Config config;
  config.platform = absl::GetFlag(FLAGS_platform);
  const std::string dtb_path = absl::GetFlag(FLAGS_dtb);
  if (config.platform == "sim") {
    if (dtb_path.empty()) {
      const std::string board = absl::GetFlag(FLAGS_board);
      auto dtb = sim::BundledBoard(board);
      if (!dtb.ok()) return dtb.status();
      config.dtb = std::string(*dtb);
      config.dtb_source = absl::StrCat("bundled board ", board);
    }
  } else if (config.platform == "linux") {
    if (dtb_path.empty()) {
      const std::string fdt = absl::GetFlag(FLAGS_sysfs) + "/firmware/fdt";
      auto dtb = ReadFile(fdt, size_t{64} << 20);
      if (!dtb.ok())
        return Annotate(dtb.status(), "reading the live device tree");
      config.dtb = std::move(*dtb);
      config.dtb_source = fdt;
    }
  } else {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("--platform must be 'sim' or 'linux', got '",
                              config.platform, "'"));
  }
  if (!dtb_path.empty()) {
    auto dtb = ReadFile(dtb_path, size_t{64} << 20);
    if (!dtb.ok()) return dtb.status();
    config.dtb = std::move(*dtb);
    config.dtb_source = dtb_path;
  }
  for (absl::string_view dir : absl::StrSplit(
           absl::GetFlag(FLAGS_firmware_path), ':', absl::SkipEmpty())) {
    std::error_code ec;
    if (!std::filesystem::is_directory(std::string(dir), ec)) {
      PILD_LOG(WARNING) << "firmware directory " << dir
                        << " does not exist (yet)";
    }
    config.firmware_path.emplace_back(dir);
  }
  config.listen = absl::GetFlag(FLAGS_listen);
  if (config.listen.empty()) config.listen = DefaultEndpoint();
  return config;
}

// For unix:PATH: creates the directory and removes a stale socket left by a
// previous pild. FAILED_PRECONDITION when another server answers there.
absl::Status PrepareUnixSocket(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return Error(absl::StatusCode::kFailedPrecondition, "ADDRESS_IN_USE",
                 absl::StrCat(path, " exists and is not a socket"));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("socket path ", path, " is longer than ",
                              sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool in_use =
      fd >= 0 &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (fd >= 0) ::close(fd);
  if (in_use) {
    return Error(absl::StatusCode::kFailedPrecondition, "ADDRESS_IN_USE",
                 absl::StrCat("another server is listening on ", path));
  }
  ::unlink(path.c_str());
  return absl::OkStatus();
}

bool IsLoopback(absl::string_view address) {
  return absl::StartsWith(address, "127.") ||
         absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:");
}

State ObservedState(const std::string& kernel_state) {
  if (kernel_state == "running" || kernel_state == "attached") {
    return State::kRunning;
  }
  if (kernel_state == "crashed") return State::kCrashed;
  return State::kOffline;
}

int Run() {
  auto config = LoadConfig();
  if (!config.ok()) {
    PILD_LOG(ERROR) << config.status().message();
    return 2;
  }
  auto board = devicetree::Discover(config->dtb);
  if (!board.ok()) {
    PILD_LOG(ERROR) << config->dtb_source << ": " << board.status().message();
    return 1;
  }

  std::map<std::string, State> initial_states;
  if (config->platform == "linux") {
    auto remoteprocs =
        linux_platform::ReadRemoteprocs(absl::GetFlag(FLAGS_sysfs));
    if (!remoteprocs.ok()) {
      PILD_LOG(ERROR) << remoteprocs.status().message();
      return 1;
    }
    for (const auto& [path, entry] : *remoteprocs) {
      initial_states[path] = ObservedState(entry.state);
    }
  }
  LifecycleEngine engine(*board, initial_states);

  std::string socket_path;
  if (absl::StartsWith(config->listen, "unix:")) {
    socket_path = config->listen.substr(5);
    if (absl::StartsWith(socket_path, "//"))
      socket_path = socket_path.substr(2);
    if (absl::Status s = PrepareUnixSocket(socket_path); !s.ok()) {
      PILD_LOG(ERROR) << s.message();
      return 1;
    }
  } else if (!IsLoopback(config->listen)) {
    PILD_LOG(ERROR) << "refusing to listen on " << config->listen
                    << ": TCP is allowed on loopback addresses only; use a "
                       "unix: socket";
    return 2;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  LifecycleService service(&engine);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config->listen, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    PILD_LOG(ERROR) << "cannot listen on " << config->listen;
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(kServiceName, true);

  std::vector<std::string> names;
  for (const CoprocessorStatus& c : engine.List()) {
    names.push_back(c.node.name);
  }
  PILD_LOG(INFO) << "platform " << config->platform << ", "
                 << (board->model.empty() ? "(no model)" : board->model)
                 << " from " << config->dtb_source
                 << "; coprocessors: " << absl::StrJoin(names, " ");
  PILD_LOG(INFO) << "firmware path: "
                 << absl::StrJoin(config->firmware_path, ":");
  PILD_LOG(INFO) << "listening on " << config->listen;

  // Signals were blocked in main(); wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int signal = 0;
  sigwait(&signals, &signal);
  PILD_LOG(INFO) << "signal " << signal << ": shutting down";
  server->GetHealthCheckService()->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!socket_path.empty()) ::unlink(socket_path.c_str());
  return 0;
}

}  // namespace
}  // namespace pil::server

int main(int argc, char** argv) {
  // Block the termination signals before gRPC starts threads, so that only
  // Run()'s sigwait receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage(
      "pild --platform=sim|linux [--dtb=FILE] [--firmware-path=DIR[:DIR...]] "
      "[--listen=unix:PATH]");
  absl::ParseCommandLine(argc, argv);
  return pil::server::Run();
}
