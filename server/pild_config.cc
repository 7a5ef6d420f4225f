#include "server/pild_config.h"

#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/endpoint.h"
#include "common/error.h"
#include "common/file.h"
#include "common/log.h"
#include "common/unix_socket.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/boards.h"
#include "platform/sim/launcher.h"
#include "platform/sim/remote_platform.h"

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
ABSL_FLAG(std::string, sysfs_root, "/sys",
          "linux only: where sysfs is mounted (tests mount a fake kernel "
          "elsewhere)");
ABSL_FLAG(std::string, kernel_firmware_dir, "",
          "linux only: a directory the kernel searches for firmware; pild "
          "stages validated images in its pild/ subdirectory. Default: the "
          "firmware_class.path module parameter when set, else /lib/firmware");
ABSL_FLAG(absl::Duration, remoteproc_poll, absl::Milliseconds(250),
          "linux only: how often the remoteproc states are re-read (they are "
          "also read at once where the kernel notifies a change)");
ABSL_FLAG(std::string, sim, "",
          "sim only: unix:PATH of the simulated SoC (pilsim); started when "
          "none answers there. Default: pilsim.sock beside pild's socket");
ABSL_FLAG(std::string, profile, "",
          "sim only: profile for a pilsim started by pild (textproto, "
          "docs/SIM.md)");
ABSL_FLAG(std::string, pilsim, "",
          "sim only: the pilsim binary (default: beside pild, or on PATH)");
ABSL_FLAG(std::string, recovery, "restart",
          "after a crash: 'restart' (coredump, then restart with backoff up "
          "to --max-restarts times) or 'none' (stay crashed)");
ABSL_FLAG(uint32_t, max_restarts, 3,
          "restarts after crashes before a coprocessor is left crashed");
ABSL_FLAG(absl::Duration, restart_backoff, absl::Milliseconds(100),
          "delay before the first restart; doubled for each further one");
ABSL_FLAG(absl::Duration, ready_timeout, absl::Seconds(5),
          "how long Reset/Start wait for 'ready' when the caller names none");
ABSL_FLAG(absl::Duration, stop_timeout, absl::Seconds(5),
          "how long Stop waits for the stop-ack when the caller names none");
ABSL_FLAG(int32_t, verify_threads, 2, "threads verifying one image");
ABSL_FLAG(std::string, metrics_file, "",
          "write metrics for Prometheus to this file (NAME.prom in the node "
          "exporter's --collector.textfile.directory), rewritten atomically "
          "on change; default: none (docs/METRICS.md)");
ABSL_FLAG(absl::Duration, metrics_interval, absl::Seconds(15),
          "rewrite --metrics-file at least this often (1s..1h), so that its "
          "pild_metrics_written_timestamp_seconds shows pild alive");

namespace pil::server {
namespace {

// The sim: connects to pilsim (starting it when none answers), and checks
// that it simulates the board asked for.
absl::Status OpenSim(Config& config) {
  std::string address = absl::GetFlag(FLAGS_sim);
  if (address.empty()) {
    const std::string socket = UnixSocketPath(config.listen);
    const std::string dir =
        std::filesystem::path(socket.empty() ? UnixSocketPath(DefaultEndpoint())
                                             : socket)
            .parent_path()
            .string();
    address = absl::StrCat("unix:", dir, "/pilsim.sock");
  }
  std::string wanted;
  sim::LaunchOptions launch;
  launch.address = address;
  launch.binary = absl::GetFlag(FLAGS_pilsim);
  const std::string dtb_path = absl::GetFlag(FLAGS_dtb);
  if (!dtb_path.empty()) {
    auto dtb = ReadFile(dtb_path, size_t{64} << 20);
    if (!dtb.ok()) return dtb.status();
    wanted = std::move(*dtb);
    launch.flags.push_back("--dtb=" +
                           std::filesystem::absolute(dtb_path).string());
  } else {
    const std::string board = absl::GetFlag(FLAGS_board);
    auto dtb = sim::BundledBoard(board);
    if (!dtb.ok()) return dtb.status();
    wanted = std::string(*dtb);
    launch.flags.push_back("--board=" + board);
  }
  if (!absl::GetFlag(FLAGS_profile).empty()) {
    launch.flags.push_back(
        "--profile=" +
        std::filesystem::absolute(absl::GetFlag(FLAGS_profile)).string());
  }
  bool started = false;
  if (absl::Status s = sim::EnsurePilsim(launch, &started); !s.ok()) return s;
  auto remote = sim::RemotePlatform::Connect(address);
  if (!remote.ok()) return remote.status();
  if ((*remote)->board().dtb() != wanted) {
    return Error(absl::StatusCode::kFailedPrecondition, "SIM_BOARD_MISMATCH",
                 absl::StrCat("the pilsim at ", address,
                              " simulates another board than the one asked "
                              "for; stop it (kill the pid in its .pid file) "
                              "or pass --sim with another address"));
  }
  config.dtb = (*remote)->board().dtb();
  config.dtb_source = absl::StrCat("pilsim at ", address,
                                   started ? " (started)" : " (running)");
  config.hardware = std::move(*remote);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const std::string& unix_address) {
  Config config;
  config.platform = absl::GetFlag(FLAGS_platform);
  const std::string dtb_path = absl::GetFlag(FLAGS_dtb);
  config.listen = unix_address;
  // Before anything is started (the sim's pilsim).
  config.metrics_interval = absl::GetFlag(FLAGS_metrics_interval);
  if (const std::string path = absl::GetFlag(FLAGS_metrics_file);
      !path.empty()) {
    auto opened = metrics::MetricsPath::Open(path);
    if (!opened.ok()) return opened.status();
    config.metrics_file = *std::move(opened);
  }
  if (config.metrics_interval < absl::Seconds(1) ||
      config.metrics_interval > absl::Hours(1)) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("--metrics-interval must be 1s..1h, got ",
                              absl::FormatDuration(config.metrics_interval)));
  }
  if (config.platform == "sim") {
    if (absl::Status s = OpenSim(config); !s.ok()) return s;
  } else if (config.platform == "linux") {
    if (dtb_path.empty()) {
      const std::string fdt = absl::GetFlag(FLAGS_sysfs_root) + "/firmware/fdt";
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
  if (!dtb_path.empty() && config.platform == "linux") {
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
  EngineOptions& engine = config.engine;
  const std::string recovery = absl::GetFlag(FLAGS_recovery);
  if (recovery != "restart" && recovery != "none") {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("--recovery must be 'restart' or 'none', got '",
                              recovery, "'"));
  }
  engine.recovery.restart = recovery == "restart";
  engine.recovery.max_restarts = absl::GetFlag(FLAGS_max_restarts);
  engine.recovery.initial_backoff = absl::GetFlag(FLAGS_restart_backoff);
  engine.ready_timeout = absl::GetFlag(FLAGS_ready_timeout);
  engine.stop_ack_timeout = absl::GetFlag(FLAGS_stop_timeout);
  engine.verify_threads = absl::GetFlag(FLAGS_verify_threads);
  config.verify_threads = absl::GetFlag(FLAGS_verify_threads);
  for (const auto& [flag, value] :
       {std::make_pair("--ready-timeout", engine.ready_timeout),
        std::make_pair("--stop-timeout", engine.stop_ack_timeout),
        std::make_pair("--restart-backoff", engine.recovery.initial_backoff)}) {
    if (value <= absl::ZeroDuration() || value > absl::Hours(1)) {
      return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                   absl::StrCat(flag, " must be positive and at most 1h, got ",
                                absl::FormatDuration(value)));
    }
  }
  if (engine.recovery.max_restarts > 100) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("--max-restarts must be at most 100, got ",
                              engine.recovery.max_restarts));
  }
  if (config.verify_threads < 1 || config.verify_threads > 64) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("--verify-threads must be 1..64, got ",
                              config.verify_threads));
  }
  config.kernel.sysfs_root = absl::GetFlag(FLAGS_sysfs_root);
  config.kernel.firmware_root = absl::GetFlag(FLAGS_kernel_firmware_dir);
  config.kernel.poll_interval = absl::GetFlag(FLAGS_remoteproc_poll);
  config.kernel.verify_threads = config.verify_threads;
  if (config.kernel.poll_interval < absl::Milliseconds(10) ||
      config.kernel.poll_interval > absl::Minutes(1)) {
    return Error(
        absl::StatusCode::kInvalidArgument, "BAD_FLAG",
        absl::StrCat("--remoteproc-poll must be 10ms..1m, got ",
                     absl::FormatDuration(config.kernel.poll_interval)));
  }
  return config;
}

absl::StatusOr<std::unique_ptr<platform::Backend>> OpenBackend(
    Config& config, const devicetree::Board& board) {
  if (config.platform == "sim") {
    pas::PasOptions pas;
    pas.name = "sim";
    pas.verify_threads = config.verify_threads;
    return std::unique_ptr<platform::Backend>(
        new pas::PasBackend(config.hardware.get(), board, pas));
  }
  return linux_platform::OpenKernelBackend(board, config.kernel);
}

}  // namespace pil::server
