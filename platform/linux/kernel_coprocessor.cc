#include "platform/linux/kernel_coprocessor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "platform/verify.h"

namespace pil::linux_platform {
namespace {

using platform::Steps;

// How often a wait reads the `state` attribute.
constexpr absl::Duration kStatePoll = absl::Milliseconds(10);

bool Running(const std::string& state) {
  return state == "running" || state == "attached";
}

}  // namespace

KernelCoprocessor::KernelCoprocessor(std::string sysfs_root,
                                     const RemoteprocEntry& entry,
                                     const devicetree::CoprocessorNode& node,
                                     const FirmwareStaging* staging,
                                     int verify_threads,
                                     std::function<void()> report_state)
    : root_(std::move(sysfs_root)),
      dir_(entry.dir),
      sysfs_name_(entry.sysfs_name),
      node_(node),
      staging_(*staging),
      verify_threads_(verify_threads),
      report_state_(std::move(report_state)),
      seen_state_(entry.state),
      firmware_(entry.firmware) {}

platform::Capabilities KernelCoprocessor::capabilities() const {
  return {/*separate_steps=*/false,
          "the kernel's remoteproc authenticates, maps and releases reset "
          "in one 'start'"};
}

void KernelCoprocessor::Seen(const std::string& state) {
  absl::MutexLock lock(&mu_);
  seen_state_ = state;
}

absl::StatusOr<std::string> KernelCoprocessor::State(Steps& steps) {
  std::string state;
  absl::Status s = steps.Step(
      "read_state",
      [&](std::string* d) {
        auto read = ReadAttribute(dir_, "state");
        if (!read.ok()) return read.status();
        state = *read;
        *d = absl::StrCat(sysfs_name_, " is ", state);
        return absl::OkStatus();
      },
      /*even_if_interrupted=*/true);
  if (!s.ok()) return s;
  Seen(state);
  return state;
}

absl::Status KernelCoprocessor::WaitFor(const std::set<std::string>& wanted,
                                        absl::Duration timeout,
                                        const std::string& what, Steps& steps) {
  return steps.Step(
      what,
      [&](std::string* d) {
        const absl::Time start = absl::Now();
        const absl::Time until = start + timeout;
        while (true) {
          auto state = ReadAttribute(dir_, "state");
          if (!state.ok()) return state.status();
          Seen(*state);
          if (wanted.count(*state)) {
            *d = absl::StrCat(sysfs_name_, " ", *state, " after ",
                              absl::FormatDuration(absl::Now() - start));
            return absl::OkStatus();
          }
          if (*state == "crashed" && wanted.count("running")) {
            platform::Event crash;
            crash.kind = platform::Event::Kind::kCrash;
            crash.detail = absl::StrCat("the kernel reports ", sysfs_name_,
                                        " crashed while it started");
            return platform::CrashError(node_.name, crash);
          }
          if (absl::Now() >= until) {
            return Error(
                absl::StatusCode::kDeadlineExceeded, "KERNEL_TIMEOUT",
                absl::StrCat(sysfs_name_, " is ", *state, " ",
                             absl::FormatDuration(timeout),
                             " after pild asked for ", *wanted.begin()),
                {{"coprocessor", node_.name}, {"state", *state}});
          }
          absl::SleepFor(kStatePoll);
        }
      },
      /*even_if_interrupted=*/true);
}

absl::StatusOr<std::string> KernelCoprocessor::VerifyAndStage(
    const platform::BootImages& images, Steps& steps,
    platform::VerifiedImage* verified) {
  auto verify = [&](const image::FirmwareImage& image, size_t carveout,
                    const std::string& step) {
    return steps.Step(step, [&](std::string* d) {
      auto v = platform::VerifyForCarveout(image, node_.carveouts[carveout],
                                           verify_threads_, nullptr);
      if (!v.ok()) return v.status();
      if (carveout == 0) *verified = v->image;
      *d = v->summary;
      return absl::OkStatus();
    });
  };
  if (absl::Status s = verify(*images.main, 0, "verify"); !s.ok()) return s;
  if (images.dtb != nullptr && node_.carveouts.size() >= 2) {
    if (absl::Status s = verify(*images.dtb, 1, "verify_dtb"); !s.ok()) {
      return s;
    }
    steps.Note(
        "the kernel loads the DTB image by its device-tree name from its own "
        "firmware path; pild verified the one in its firmware directories");
  }
  std::string name;
  absl::Status staged = steps.Step("stage_firmware", [&](std::string* d) {
    auto staged = staging_.Stage(*images.main, verified->metadata_sha256);
    if (!staged.ok()) return staged.status();
    name = *staged;
    *d = absl::StrCat(images.main_source, " as ", name);
    return absl::OkStatus();
  });
  if (!staged.ok()) return staged;
  return name;
}

absl::StatusOr<platform::VerifiedImage> KernelCoprocessor::Start(
    const platform::BootImages& images, absl::Duration ready_timeout,
    Steps& steps) {
  platform::VerifiedImage verified;
  auto staged = VerifyAndStage(images, steps, &verified);
  if (!staged.ok()) return staged.status();
  const std::string& name = *staged;
  auto state = State(steps);
  if (!state.ok()) return state.status();
  if (Running(*state)) {
    auto firmware = ReadAttribute(dir_, "firmware");
    if (firmware.ok() && *firmware == name) {
      steps.Note(absl::StrCat(sysfs_name_,
                              " already runs this image (started outside "
                              "pild); nothing written"));
      return verified;
    }
    return Error(absl::StatusCode::kFailedPrecondition, "ALREADY_RUNNING",
                 absl::StrCat(sysfs_name_, " already runs '",
                              firmware.ok() ? *firmware : "?",
                              "' (started outside pild); stop it first"),
                 {{"coprocessor", node_.name}});
  }
  if (*state != "offline") {
    return Error(absl::StatusCode::kFailedPrecondition, "KERNEL_STATE",
                 absl::StrCat(sysfs_name_, " is ", *state,
                              " in the kernel; expected offline to start it"),
                 {{"coprocessor", node_.name}, {"state", *state}});
  }
  if (absl::Status s = steps.Step("set_firmware",
                                  [&](std::string* d) {
                                    *d = name;
                                    absl::Status w =
                                        WriteAttribute(dir_, "firmware", name);
                                    if (w.ok()) {
                                      absl::MutexLock lock(&mu_);
                                      firmware_ = name;
                                    }
                                    return w;
                                  });
      !s.ok()) {
    return s;
  }
  // The kernel loads, authenticates, maps and releases reset here, and
  // waits for ready itself before the write returns.
  if (absl::Status s =
          steps.Step("start",
                     [&](std::string* d) {
                       *d = absl::StrCat("'start' to ", sysfs_name_, "/state");
                       {
                         absl::MutexLock lock(&mu_);
                         started_ = true;
                       }
                       return WriteAttribute(dir_, "state", "start");
                     });
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          WaitFor({"running"}, ready_timeout, "wait_running", steps);
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  started_ = false;
  return verified;
}

absl::Status KernelCoprocessor::WriteStop(Steps& steps) {
  return steps.Step(
      "stop",
      [&](std::string* d) {
        *d = absl::StrCat("'stop' to ", sysfs_name_, "/state");
        return WriteAttribute(dir_, "state", "stop");
      },
      /*even_if_interrupted=*/true);
}

absl::Status KernelCoprocessor::Stop(bool, absl::Duration stop_ack_timeout,
                                     Steps& steps) {
  auto state = State(steps);
  if (!state.ok()) return state.status();
  {
    absl::MutexLock lock(&mu_);
    started_ = false;
  }
  if (*state == "offline") {
    steps.Note(absl::StrCat(sysfs_name_, " is already offline"));
    return absl::OkStatus();
  }
  if (*state == "crashed") {
    // Only a running core can be stopped: recover it (the kernel writes
    // its devcoredump), then stop it.
    if (absl::Status s = WriteRecover(steps); !s.ok()) return s;
    if (absl::Status s =
            WaitFor({"running"}, stop_ack_timeout, "wait_running", steps);
        !s.ok()) {
      return s;
    }
  }
  // The kernel asks the core to stop, waits for its ack (it has its own
  // timeout), shuts it down and unmaps before the write returns.
  if (absl::Status s = WriteStop(steps); !s.ok()) return s;
  absl::Status offline =
      WaitFor({"offline"}, stop_ack_timeout, "wait_offline", steps);
  if (!offline.ok() && ReasonOf(offline) == "KERNEL_TIMEOUT") {
    return Error(absl::StatusCode::kFailedPrecondition, "KERNEL_STILL_RUNNING",
                 absl::StrCat(sysfs_name_,
                              " is still powered after 'stop': another "
                              "holder keeps it up (a 'start' written outside "
                              "pild?)"),
                 {{"coprocessor", node_.name}});
  }
  return offline;
}

absl::Status KernelCoprocessor::WriteRecover(Steps& steps) {
  return steps.Step(
      "recover",
      [&](std::string* d) {
        *d = absl::StrCat("'recover' to ", sysfs_name_, "/recovery");
        return WriteAttribute(dir_, "recovery", "recover");
      },
      /*even_if_interrupted=*/true);
}

void KernelCoprocessor::Rollback(Steps& steps) {
  bool started;
  {
    absl::MutexLock lock(&mu_);
    started = started_;
    started_ = false;
  }
  if (!started) return;
  auto state = State(steps);
  if (state.ok() && *state != "offline") (void)WriteStop(steps);
}

absl::Status KernelCoprocessor::Restart(const platform::BootImages& images,
                                        absl::Duration ready_timeout,
                                        Steps& steps) {
  auto state = State(steps);
  if (!state.ok()) return state.status();
  if (*state == "offline") {
    return Start(images, ready_timeout, steps).status();
  }
  if (*state != "crashed") {
    steps.Note(absl::StrCat(sysfs_name_, " is ", *state, "; not restarted"));
    return Running(*state)
               ? absl::OkStatus()
               : Error(absl::StatusCode::kFailedPrecondition, "KERNEL_STATE",
                       absl::StrCat(sysfs_name_, " is ", *state,
                                    "; cannot restart it"));
  }
  // The kernel stops the core, writes its devcoredump, reloads the staged
  // firmware and starts it again.
  if (absl::Status s = WriteRecover(steps); !s.ok()) return s;
  return WaitFor({"running"}, ready_timeout, "wait_running", steps);
}

absl::StatusOr<std::string> KernelCoprocessor::Coredump(absl::string_view) {
  const std::optional<std::string> devcd = FindDevcoredump(root_, dir_);
  if (!devcd) {
    return Error(
        absl::StatusCode::kNotFound, "NO_COREDUMP",
        absl::StrCat("the kernel holds no devcoredump of ", sysfs_name_),
        {{"coprocessor", node_.name}});
  }
  uint64_t bound = uint64_t{16} << 20;
  for (const devicetree::CarveoutRange& c : node_.carveouts) bound += c.size;
  return TakeDevcoredump(
      *devcd, static_cast<size_t>(std::min(bound, uint64_t{1} << 30)));
}

platform::HardwareView KernelCoprocessor::Held() const {
  absl::MutexLock lock(&mu_);
  platform::HardwareView view;
  view.remoteproc =
      platform::HardwareView::Remoteproc{sysfs_name_, seen_state_, firmware_};
  return view;
}

absl::StatusOr<platform::HardwareView> KernelCoprocessor::Observe() {
  auto state = ReadAttribute(dir_, "state");
  if (!state.ok()) return state.status();
  auto firmware = ReadAttribute(dir_, "firmware");
  if (!firmware.ok()) return firmware.status();
  Seen(*state);
  {
    absl::MutexLock lock(&mu_);
    firmware_ = *firmware;
  }
  return Held();
}

absl::StatusOr<platform::Adoption> KernelCoprocessor::Adopt(
    const platform::AdoptRequest& request, Steps& steps) {
  auto state = State(steps);
  if (!state.ok()) return state.status();
  // pild applies the recovery policy itself (the kernel writes a
  // devcoredump when pild has it recover a core) and wants the dumps.
  for (const auto& [knob, value] : {std::make_pair("recovery", "disabled"),
                                    std::make_pair("coredump", "enabled")}) {
    auto current = ReadAttribute(dir_, knob);
    if (current.ok() && *current == value) continue;
    (void)steps.Step(
        absl::StrCat("set_", knob),
        [&](std::string* d) {
          *d = absl::StrCat(sysfs_name_, "/", knob, " = ", value);
          return WriteAttribute(dir_, knob, value);
        },
        /*even_if_interrupted=*/true);
  }
  platform::Adoption out;
  if (request.interrupted == "stop" && *state != "offline") {
    // A stop pild accepted before it was killed is finished.
    absl::Status stopped = Stop(true, request.stop_ack_timeout, steps);
    if (stopped.ok()) return out;
    out.actions.push_back(absl::StrCat(node_.name,
                                       ": could not finish the "
                                       "interrupted stop: ",
                                       stopped.message()));
    auto now = State(steps);
    if (!now.ok()) return now.status();
    *state = *now;
  }
  if (Running(*state)) {
    out.found = platform::Adoption::Found::kRunning;
  } else if (*state == "crashed") {
    out.found = platform::Adoption::Found::kCrashed;
  }
  if (out.found != platform::Adoption::Found::kOffline) {
    out.actions.push_back(absl::StrCat(node_.name, ": ", *state, " (",
                                       sysfs_name_, "); adopted"));
  }
  return out;
}

}  // namespace pil::linux_platform
