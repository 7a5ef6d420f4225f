#include "platform/sim/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/unix_socket.h"

namespace pil::sim {
namespace {

namespace fs = std::filesystem;

// pilsim beside the running executable: installed side by side, in Bazel's
// output tree (bazel-bin/server/pild -> bazel-bin/platform/sim/pilsim), or
// in its runfiles; else on PATH.
std::string FindPilsim() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& candidate :
         {self.parent_path() / "pilsim",
          self.parent_path().parent_path() / "platform" / "sim" / "pilsim",
          fs::path(self.string() + ".runfiles") / "pild" / "platform" / "sim" /
              "pilsim"}) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/pilsim");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace

absl::Status EnsurePilsim(const LaunchOptions& options, bool* started) {
  *started = false;
  const std::string socket = UnixSocketPath(options.address);
  if (socket.empty()) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
                 absl::StrCat("the sim address must be unix:PATH, got ",
                              options.address));
  }
  if (UnixSocketAnswers(socket)) return absl::OkStatus();
  const std::string binary =
      options.binary.empty() ? FindPilsim() : options.binary;
  if (binary.empty()) {
    return Error(absl::StatusCode::kFailedPrecondition, "SIM_UNAVAILABLE",
                 "no pilsim answers at " + options.address +
                     " and no pilsim binary was found beside pild or on "
                     "PATH; pass --pilsim=PATH");
  }
  std::error_code ec;
  fs::create_directories(fs::path(socket).parent_path(), ec);
  std::vector<std::string> argv = {binary, "--listen=" + options.address};
  argv.insert(argv.end(), options.flags.begin(), options.flags.end());
  const std::string log = socket + ".log";

  // Double fork: the simulated SoC is reparented to init, in a session of
  // its own, so that it outlives this process and its terminal.
  const pid_t child = ::fork();
  if (child < 0) {
    return Error(absl::StatusCode::kInternal, "SIM_UNAVAILABLE",
                 "cannot fork to start pilsim");
  }
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  const absl::Time deadline = absl::Now() + options.timeout;
  while (!UnixSocketAnswers(socket)) {
    if (absl::Now() >= deadline) {
      return Error(
          absl::StatusCode::kUnavailable, "SIM_UNAVAILABLE",
          absl::StrCat("started ", binary, " but it does not answer at ",
                       options.address, "; see ", log));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  *started = true;
  return absl::OkStatus();
}

}  // namespace pil::sim
