// pild: the privileged coprocessor-firmware loader. See README.md and
// docs/OPERATIONS.md. main() only wires things together; pild_config.cc
// turns the flags into the parts.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/grpc_runtime.h"
#include "common/log.h"
#include "common/termination.h"
#include "common/unix_socket.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "platform/devicetree/discovery.h"
#include "server/activation.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/history.h"
#include "server/pild_config.h"
#include "server/service.h"
#include "server/unix_listener.h"

namespace pil::server {
namespace {

constexpr char kServiceName[] = "pil.v1.Lifecycle";

// Server reflection answers from the descriptors linked into pild. gRPC's
// health service and the ErrorInfo in error details have none of their own
// there (gRPC implements health without generated code), so that clients
// that learn the schema from reflection alone can call health and decode
// errors, their generated descriptors are linked in here.
void LinkReflectedDescriptors() {
  grpc::health::v1::HealthCheckRequest::descriptor();
  google::rpc::ErrorInfo::descriptor();
}

// Exit status for a start-up failure: 2 for the caller's mistakes.
int ExitCode(const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  return reason == "BAD_FLAG" || reason == "UNKNOWN_BOARD" ||
                 reason == "FILE_NOT_FOUND"
             ? 2
             : 1;
}

// pild's own Unix socket for `listen` (pild accepts connections itself, so
// that it knows who connects); none for a TCP address.
absl::StatusOr<std::unique_ptr<UnixListener>> OpenListener(
    const std::string& listen) {
  const std::string path = UnixSocketPath(listen);
  if (path.empty()) return std::unique_ptr<UnixListener>();
  return UnixListener::Listen(path);
}

// Serves until SIGTERM or SIGINT (blocked in main()).
int Serve(LifecycleEngine& engine, FirmwareStore& firmware,
          const Config& config, std::unique_ptr<UnixListener> listener,
          const std::string& summary) {
  grpc::EnableDefaultHealthCheckService(true);
  LinkReflectedDescriptors();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  ServiceOptions service_options;
  service_options.verify_threads = config.verify_threads;
  if (listener != nullptr) {
    service_options.identify = [&listener](const std::string& peer) {
      return listener->CallerOf(peer);
    };
  }
  LifecycleService service(&engine, &firmware, service_options);
  grpc::ServerBuilder builder;
  if (listener == nullptr) {
    builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials());
  }
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    PILD_LOG(ERROR) << "cannot listen on " << config.listen;
    return 1;
  }
  if (listener != nullptr) listener->Start(server.get());
  server->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  service.ReportHealth(server->GetHealthCheckService());
  PILD_LOG(INFO) << "listening on " << config.listen;
  NotifyReady(summary);

  const int signal = AwaitTerminationSignal();
  PILD_LOG(INFO) << "signal " << signal << ": shutting down";
  NotifyStopping();
  if (listener != nullptr) listener->Stop();
  server->GetHealthCheckService()->Shutdown();
  service.ReportHealth(nullptr);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server.reset();
  listener.reset();  // removes the socket file pild made
  return 0;
}

int Run() {
  auto activated = ActivatedSocket();
  if (!activated.ok()) {
    PILD_LOG(ERROR) << activated.status().message();
    return 1;
  }
  std::unique_ptr<UnixListener> adopted_listener;
  std::optional<std::string> activated_path;
  if (*activated) {
    auto listener = UnixListener::Adopt(**activated);
    if (!listener.ok()) {
      PILD_LOG(ERROR) << listener.status().message();
      return 1;
    }
    activated_path = (*listener)->path();
    adopted_listener = std::move(*listener);
  }
  auto config = LoadConfig(activated_path);
  if (!config.ok()) {
    PILD_LOG(ERROR) << config.status().message();
    return ExitCode(config.status());
  }
  auto board = devicetree::Discover(config->dtb);
  if (!board.ok()) {
    PILD_LOG(ERROR) << config->dtb_source << ": " << board.status().message();
    return 1;
  }
  auto backend = OpenBackend(*config, *board);
  if (!backend.ok()) {
    PILD_LOG(ERROR) << backend.status().message();
    return 1;
  }
  FirmwareStore firmware(config->firmware_path);
  History history;
  LifecycleEngine engine(backend->get(), *board, &firmware, &history,
                         config->engine);
  // What a previous pild left behind: running cores are adopted, anything
  // half-done is released.
  auto adopted = engine.Adopt();
  if (!adopted.ok()) {
    PILD_LOG(ERROR) << "reading the hardware state: "
                    << adopted.status().message();
    return 1;
  }
  for (const std::string& action : *adopted) {
    PILD_LOG(INFO) << "startup: " << action;
  }
  // The socket systemd passed, else pild's own.
  std::unique_ptr<UnixListener> listener = std::move(adopted_listener);
  if (listener == nullptr) {
    auto own = OpenListener(config->listen);
    if (!own.ok()) {
      PILD_LOG(ERROR) << own.status().message();
      return 1;
    }
    listener = std::move(*own);
  }
  std::vector<std::string> names;
  for (const CoprocessorStatus& c : engine.List()) {
    names.push_back(c.node->name);
  }
  const std::string summary =
      absl::StrCat(config->platform, " backend, ",
                   board->model.empty() ? "(no model)" : board->model, ": ",
                   absl::StrJoin(names, " "));
  PILD_LOG(INFO) << summary << " (device tree from " << config->dtb_source
                 << ")";
  PILD_LOG(INFO) << "firmware path: "
                 << absl::StrJoin(config->firmware_path, ":");
  return Serve(engine, firmware, *config, std::move(listener), summary);
}

}  // namespace
}  // namespace pil::server

int main(int argc, char** argv) {
  // Block the termination signals before gRPC starts threads, so that only
  // Serve()'s sigwait receives them.
  pil::BlockTerminationSignals();

  absl::SetProgramUsageMessage(
      "pild --platform=sim|linux [--dtb=FILE] [--firmware-path=DIR[:DIR...]] "
      "[--listen=unix:PATH]");
  pil::ParseFlags(argc, argv);
  pil::KeepGrpcRuntime();
  return pil::server::Run();
}
