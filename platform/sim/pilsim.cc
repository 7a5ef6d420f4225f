// pilsim: the simulated SoC in its own process, as hardware that outlives
// the pild process driving it. See docs/SIM.md.
//
//   pilsim --board=sm8550-el2-sim --listen=unix:/run/pild/pilsim.sock
//   pilsim --dtb=board.dtb --profile=board.textproto --listen=unix:PATH
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/flags.h"
#include "common/grpc_runtime.h"
#include "common/log.h"
#include "common/termination.h"
#include "common/unix_socket.h"
#include "google/protobuf/text_format.h"
#include "platform/sim/boards.h"
#include "platform/sim/service.h"
#include "platform/sim/soc.h"

ABSL_FLAG(std::string, board, pil::sim::kDefaultBoard,
          "bundled board to simulate when --dtb is not given");
ABSL_FLAG(std::string, dtb, "", "device tree of the board to simulate");
ABSL_FLAG(std::string, profile, "",
          "profile (protobuf text format, pil.sim.v1.Profile)");
ABSL_FLAG(std::string, listen, "", "unix:PATH to serve on");
ABSL_FLAG(std::string, memory, "",
          "file backing the carveouts; default: PATH.memory beside the "
          "socket");

namespace pil::sim {
namespace {

int Run() {
  const std::string socket = UnixSocketPath(absl::GetFlag(FLAGS_listen));
  if (socket.empty()) {
    PILD_LOG(ERROR) << "--listen must be unix:PATH";
    return 2;
  }
  std::string dtb;
  std::string source;
  if (!absl::GetFlag(FLAGS_dtb).empty()) {
    auto bytes = ReadFile(absl::GetFlag(FLAGS_dtb), size_t{64} << 20);
    if (!bytes.ok()) {
      PILD_LOG(ERROR) << bytes.status().message();
      return 2;
    }
    dtb = std::move(*bytes);
    source = absl::GetFlag(FLAGS_dtb);
  } else {
    auto bundled = BundledBoard(absl::GetFlag(FLAGS_board));
    if (!bundled.ok()) {
      PILD_LOG(ERROR) << bundled.status().message();
      return 2;
    }
    dtb = std::string(*bundled);
    source = absl::StrCat("bundled board ", absl::GetFlag(FLAGS_board));
  }
  v1::Profile profile;
  if (!absl::GetFlag(FLAGS_profile).empty()) {
    auto text = ReadFile(absl::GetFlag(FLAGS_profile), 1 << 20);
    if (!text.ok() ||
        !google::protobuf::TextFormat::ParseFromString(*text, &profile)) {
      PILD_LOG(ERROR) << "cannot read the profile "
                      << absl::GetFlag(FLAGS_profile)
                      << (text.ok()
                              ? ": not a pil.sim.v1.Profile in text "
                                "format"
                              : absl::StrCat(": ", text.status().message()));
      return 2;
    }
  }
  if (absl::Status s = PrepareUnixSocket(socket); !s.ok()) {
    PILD_LOG(ERROR) << s.message();
    return 1;
  }
  const std::string memory_path = absl::GetFlag(FLAGS_memory).empty()
                                      ? socket + ".memory"
                                      : absl::GetFlag(FLAGS_memory);
  auto soc = SimSoc::Create(dtb, profile, memory_path);
  if (!soc.ok()) {
    PILD_LOG(ERROR) << source << ": " << soc.status().message();
    return 1;
  }
  const uint64_t boot_id =
      std::random_device()() | (uint64_t{std::random_device()()} << 32);
  SimSocService service(soc->get(), dtb, boot_id);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", socket),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    PILD_LOG(ERROR) << "cannot listen on unix:" << socket;
    return 1;
  }
  std::ofstream(socket + ".pid") << ::getpid() << "\n";
  size_t cores = 0;
  for (const auto& c : (*soc)->board().coprocessors) cores += c.enabled();
  PILD_LOG(INFO) << "simulating " << (*soc)->board().model << " (" << source
                 << "): " << cores << " coprocessors, "
                 << ((*soc)->hypervisor() ? "hypervisor manages the SMMU"
                                          : "Linux owns the SMMU")
                 << "; memory " << memory_path
                 << "; listening on unix:" << socket;

  const int signal = AwaitTerminationSignal();
  PILD_LOG(INFO) << "signal " << signal << ": the simulated SoC powers off";
  service.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ::unlink(socket.c_str());
  ::unlink((socket + ".pid").c_str());
  ::unlink(memory_path.c_str());
  return 0;
}

}  // namespace
}  // namespace pil::sim

int main(int argc, char** argv) {
  // The simulated hardware answers its owner only: its socket and memory
  // file are made owner-only from the start.
  ::umask(0077);
  pil::BlockTerminationSignals();
  pil::KeepGrpcRuntime();
  absl::SetProgramUsageMessage(
      "pilsim [--board=NAME | --dtb=FILE] [--profile=FILE] --listen=unix:PATH");
  pil::ParseFlags(argc, argv);
  return pil::sim::Run();
}
