// pild: the privileged coprocessor-firmware loader. See README.md and
// docs/OPERATIONS.md. main() only wires things together; pild_config.cc
// turns the flags into the parts.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/grpc_runtime.h"
#include "common/log.h"
#include "common/termination.h"
#include "common/unix_socket.h"
#include "common/version.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "platform/devicetree/discovery.h"
#include "server/activation.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/gate.h"
#include "server/health.h"
#include "server/history.h"
#include "server/metrics/collect.h"
#include "server/metrics/metrics_file.h"
#include "server/metrics/registry.h"
#include "server/pild_access.h"
#include "server/pild_config.h"
#include "server/pild_limits.h"
#include "server/resources.h"
#include "server/service.h"
#include "server/unix_listener.h"

namespace pil::server {
namespace {

// Server reflection answers from the descriptors linked into pild. The
// ErrorInfo in error details is never built by pild's own code, so that
// clients that learn the schema from reflection alone can decode errors its
// generated descriptor is linked in here (and health's, which pild serves).
void LinkReflectedDescriptors() {
  grpc::health::v1::HealthCheckRequest::descriptor();
  google::rpc::ErrorInfo::descriptor();
}

// Ends the process `timeout` from now unless it has ended by then.
void ExitAfter(absl::Duration timeout) {
  std::thread([timeout] {
    absl::SleepFor(timeout);
    PILD_LOG(ERROR) << "shutdown took longer than "
                    << absl::FormatDuration(timeout) << "; exiting now";
    std::_Exit(1);
  }).detach();
}

// Exit status for a start-up failure: 2 for the caller's mistakes.
int ExitCode(const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  return reason == "BAD_FLAG" || reason == "UNKNOWN_BOARD" ||
                 reason == "FILE_NOT_FOUND" || reason == "BAD_POLICY" ||
                 reason == "TLS_MATERIAL_INVALID"
             ? 2
             : 1;
}

// The socket systemd passed, else pild's own for `config` (none when it
// listens on TCP only). pild accepts connections itself, so that each call
// can be identified by its connection.
absl::StatusOr<std::unique_ptr<UnixListener>> OpenListener(
    const AccessConfig& config, std::unique_ptr<UnixListener> adopted) {
  if (adopted != nullptr) return adopted;
  const std::string path = UnixSocketPath(config.unix_address);
  if (path.empty()) return std::unique_ptr<UnixListener>();
  return UnixListener::Listen(path, config.socket_group);
}

// Where pild listens, as GetInfo and the log say it.
std::vector<std::string> Listeners(const AccessConfig& access,
                                   const UnixListener* listener) {
  std::vector<std::string> out;
  if (listener != nullptr) {
    out.push_back(absl::StrCat("unix:", listener->path(),
                               " (callers by uid and groups)"));
  }
  for (const std::string& address : access.tcp) {
    out.push_back(absl::StrCat(address, access.tls ? " (mutual TLS: callers by "
                                                     "client certificate)"
                                                   : " (PLAINTEXT, tests only: "
                                                     "callers unidentified)"));
  }
  return out;
}

// Serves until SIGTERM or SIGINT (blocked in main()); SIGHUP re-reads the
// policy.
int Serve(LifecycleEngine& engine, FirmwareStore& firmware, Gate& gate,
          const Config& config, const AccessConfig& access,
          const Limits& limits, std::unique_ptr<UnixListener> listener,
          ServerFacts facts, const std::vector<std::string>& names,
          const std::string& summary, const metrics::Registry& registry) {
  LinkReflectedDescriptors();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials;
  if (!access.tcp.empty()) {
    auto credentials = TcpCredentials(access, &gate.history(), &facts.tls);
    if (!credentials.ok()) {
      PILD_LOG(ERROR) << credentials.status().message();
      return ExitCode(credentials.status());
    }
    tcp_credentials = *credentials;
  }
  facts.listeners = Listeners(access, listener.get());
  ServiceOptions service_options = limits.service;
  service_options.verify_threads = config.verify_threads;
  LifecycleService service(&engine, &firmware, &gate, facts, service_options);
  HealthService health(&gate);
  grpc::ServerBuilder builder;
  ApplyTransportLimits(builder, TransportLimits());
  for (const std::string& address : access.tcp) {
    builder.AddListeningPort(address, tcp_credentials);
  }
  builder.RegisterService(&service);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    PILD_LOG(ERROR) << "cannot listen on " << absl::StrJoin(access.tcp, ", ");
    return 1;
  }
  if (listener != nullptr) listener->Start(server.get(), limits.connections);
  health.SetServingStatus(true);
  service.ReportHealth(&health);
  std::unique_ptr<metrics::MetricsFile> metrics_file;
  if (config.metrics_file != nullptr) {
    metrics::Sources sources;
    sources.version = kVersion;
    sources.backend = facts.backend;
    sources.board = facts.board_model;
    sources.engine = &engine;
    sources.registry = &registry;
    sources.history = &gate.history();
    sources.gate = &gate;
    sources.listener = listener.get();
    sources.watch_streams = [&service] { return service.watch_streams(); };
    metrics_file = std::make_unique<metrics::MetricsFile>(
        config.metrics_file.get(),
        [sources = std::move(sources)] { return metrics::Collect(sources); },
        metrics::MetricsFileOptions{absl::Seconds(1), config.metrics_interval});
    // A failure is logged and counted, and retried every second.
    if (metrics_file->Write().ok()) {
      PILD_LOG(INFO) << "metrics: " << config.metrics_file->path();
    }
    metrics_file->Start();
  }
  for (const std::string& where : facts.listeners) {
    PILD_LOG(INFO) << "listening on " << where;
  }
  NotifyReady(summary);

  const int signal = AwaitTerminationSignal([&] {
    auto policy = LoadPolicy(access, names);
    if (!policy.ok()) {
      PILD_LOG(ERROR) << "SIGHUP: keeping the current policy: "
                      << policy.status().message();
      return;
    }
    gate.SetPolicy(std::move(*policy));
    PILD_LOG(INFO) << "SIGHUP: policy: " << gate.policy()->Describe();
  });
  PILD_LOG(INFO) << "signal " << signal << ": shutting down";
  NotifyStopping();
  // Bounded: work in progress is interrupted (and rolled back), and past
  // the timeout pild exits regardless; a later pild finds what is left.
  ExitAfter(limits.shutdown_timeout);
  engine.BeginShutdown();
  if (listener != nullptr) listener->Stop();
  health.Shutdown();
  service.ReportHealth(nullptr);
  // Calls get half of what is left before pild exits regardless.
  server->Shutdown(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(limits.shutdown_timeout / 2));
  server.reset();
  if (metrics_file != nullptr) metrics_file->Stop();  // the final state
  listener.reset();  // removes the socket file pild made
  return 0;
}

// Past the configuration: the backend, the engine and what the previous
// pild left, then the service until a termination signal.
int Operate(Config& config, const AccessConfig& access, const Limits& limits,
            const devicetree::Board& board,
            const std::vector<std::string>& names, access::Policy policy,
            History* history, std::unique_ptr<UnixListener> listener) {
  auto backend = OpenBackend(config, board);
  if (!backend.ok()) {
    PILD_LOG(ERROR) << backend.status().message();
    return 1;
  }
  FirmwareStore firmware(config.firmware_path);
  // Transitions in flight, beside the audit trail (in memory with it).
  auto journal = Journal::Open(history->path());
  if (!journal.ok()) {
    PILD_LOG(ERROR) << journal.status().message();
    return 1;
  }
  EngineOptions engine_options = config.engine;
  engine_options.journal = journal->get();
  metrics::Registry registry;
  engine_options.on_transition = [&registry](const HistoryEntry& entry,
                                             bool ran) {
    registry.Transition(entry, ran);
  };
  LifecycleEngine engine(backend->get(), board, &firmware, history,
                         engine_options);
  // What a previous pild left behind: running cores are adopted with the
  // image the journal names, a transition in flight is finished or undone.
  auto adopted = engine.Adopt();
  if (!adopted.ok()) {
    PILD_LOG(ERROR) << "reading the hardware state: "
                    << adopted.status().message();
    return 1;
  }
  for (const std::string& action : *adopted) {
    PILD_LOG(INFO) << "startup: " << action;
  }
  Gate gate(history, std::move(policy));
  ServerFacts facts;
  facts.backend = config.platform;
  facts.board_model = board.model;
  facts.plaintext_tcp = !access.tcp.empty() && !access.tls;
  facts.audit_enabled = access.audit_enabled;
  facts.audit_limits = access.audit_limits;
  std::vector<std::string> managed;
  for (const CoprocessorStatus& c : engine.List()) {
    managed.push_back(c.node->name);
  }
  const std::string summary =
      absl::StrCat(config.platform, " backend, ",
                   board.model.empty() ? "(no model)" : board.model, ": ",
                   absl::StrJoin(managed, " "));
  PILD_LOG(INFO) << summary << " (device tree from " << config.dtb_source
                 << ")";
  PILD_LOG(INFO) << "firmware path: "
                 << absl::StrJoin(config.firmware_path, ":");
  MemoryTrimmer trimmer;
  return Serve(engine, firmware, gate, config, access, limits,
               std::move(listener), std::move(facts), names, summary, registry);
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
  auto access = LoadAccessConfig(activated_path);
  if (!access.ok()) {
    PILD_LOG(ERROR) << access.status().message();
    return ExitCode(access.status());
  }
  // The socket first: it is created under a umask (process-wide), before
  // pild has threads of its own, and a second pild stops here.
  auto listener = OpenListener(*access, std::move(adopted_listener));
  if (!listener.ok()) {
    PILD_LOG(ERROR) << listener.status().message();
    return 1;
  }
  const size_t descriptors = RaiseDescriptorLimit();
  auto limits = LoadLimits(descriptors);
  if (!limits.ok()) {
    PILD_LOG(ERROR) << limits.status().message();
    return ExitCode(limits.status());
  }
  auto config = LoadConfig(access->unix_address);
  if (!config.ok()) {
    PILD_LOG(ERROR) << config.status().message();
    return ExitCode(config.status());
  }
  auto board = devicetree::Discover(config->dtb);
  if (!board.ok()) {
    PILD_LOG(ERROR) << config->dtb_source << ": " << board.status().message();
    return 1;
  }
  std::vector<std::string> names;
  for (const devicetree::CoprocessorNode& node : board->coprocessors) {
    names.push_back(node.name);
  }
  // Who may do what, and the record of what they did, before anything is
  // touched.
  auto policy = LoadPolicy(*access, names);
  if (!policy.ok()) {
    PILD_LOG(ERROR) << policy.status().message();
    return 2;
  }
  auto history = OpenAuditTrail(*access);
  if (!history.ok()) {
    PILD_LOG(ERROR) << history.status().message();
    return 1;
  }
  PILD_LOG(INFO) << "policy: " << policy->Describe();
  PILD_LOG(INFO) << "limits: " << DescribeLimits(*limits) << " (" << descriptors
                 << " descriptors)";
  PILD_LOG(INFO) << "audit trail: "
                 << ((*history)->path().empty() ? "in memory only"
                                                : (*history)->path());
  return Operate(*config, *access, *limits, *board, names, std::move(*policy),
                 history->get(), std::move(*listener));
}

}  // namespace
}  // namespace pil::server

int main(int argc, char** argv) {
  // Block the termination signals before gRPC starts threads, so that only
  // Serve()'s sigwait receives them.
  pil::BlockTerminationSignals();
  pil::server::ReturnMemoryAfterWork();

  absl::SetProgramUsageMessage(
      "pild --platform=sim|linux [--dtb=FILE] [--firmware-path=DIR[:DIR...]] "
      "[--listen=unix:PATH[,IP:PORT...]] [--policy=FILE] [--audit-db=FILE] "
      "[--tls-cert=PEM --tls-key=PEM --tls-client-ca=PEM] "
      "[--metrics-file=DIR/pild.prom]");
  pil::ParseFlags(argc, argv);
  pil::KeepGrpcRuntime();
  return pil::server::Run();
}
