// SimSoc: the coprocessors: boot (fetching through the SMMU), crashes,
// stop requests, and the fault plan.
#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/pas/smmu_rules.h"
#include "platform/sim/soc.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {

using pas::SignalKind;

bool SimSoc::Fires(PlannedFault& planned, uint32_t occurrence) {
  const uint32_t seen = ++planned.seen;
  const uint32_t nth = std::max(occurrence, 1u);
  return seen == nth || (planned.fault.repeat() && seen > nth);
}

absl::Status SimSoc::InjectedScmFailure(const char* call, Peripheral& p) {
  for (auto it = fault_plan_.begin(); it != fault_plan_.end(); ++it) {
    const v1::Fault& f = it->fault;
    if (f.kind_case() != v1::Fault::kScmFailure ||
        f.coprocessor() != p.core->node.name ||
        f.scm_failure().call() != call ||
        !Fires(*it, f.scm_failure().occurrence())) {
      continue;
    }
    const int32_t status = f.scm_failure().status() != 0
                               ? f.scm_failure().status()
                               : static_cast<int32_t>(kScmError);
    if (!f.repeat()) fault_plan_.erase(it);
    return Scm(absl::StatusCode::kInternal, "SCM_CALL_FAILED", status,
               absl::StrCat(call, " for PAS id ", p.pas_id,
                            " failed with SCM status ", status, " (injected)"),
               {{"pas_id", absl::StrCat(p.pas_id)}});
  }
  return absl::OkStatus();
}

void SimSoc::ReleaseReset(Core& core) {
  core.state = pas::CoreState::kBooting;
  const uint64_t generation = ++core.generation;
  Schedule(boot_time_,
           [this, &core, generation]()
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Boot(core, generation); });
}

std::optional<v1::Fault> SimSoc::TakeFault(Core& core,
                                           v1::Fault::KindCase kind) {
  for (auto it = fault_plan_.begin(); it != fault_plan_.end(); ++it) {
    if (it->fault.kind_case() == kind &&
        it->fault.coprocessor() == core.node.name) {
      v1::Fault fault = it->fault;
      if (!fault.repeat()) fault_plan_.erase(it);
      return fault;
    }
  }
  return std::nullopt;
}

bool SimSoc::Fetch(Core& core, uint64_t iova, bool write, bool exec,
                   const std::string& what, uint64_t* pa) {
  SmmuModel::Access access;
  access.sid = core.sid;
  access.iova = iova;
  access.write = write;
  access.exec = exec;
  access.privileged = core.window.privileged;
  SmmuModel::Result r = smmu_.Translate(access, core.node.path);
  if (r.ok) {
    *pa = r.pa;
    return true;
  }
  const platform::SmmuFault fault = smmu_.faults().back().fault;
  Crash(
      core, SignalKind::kSmmuFault,
      absl::StrCat("SMMU ", platform::FaultKindName(r.fault), " fault: stream ",
                   Hex(access.sid), " ", write ? "writing" : "reading", " ",
                   what, " at iova ", Hex(iova)),
      &fault);
  return false;
}

void SimSoc::Boot(Core& core, uint64_t generation) {
  if (core.generation != generation || core.state != pas::CoreState::kBooting) {
    return;
  }
  if (TakeFault(core, v1::Fault::kNeverReady)) return;  // stays booting
  if (TakeFault(core, v1::Fault::kCrashWhileBooting)) {
    Crash(core, SignalKind::kFatal,
          "fatal error while booting: err_qdi.c:101:EF:sim:injected fault");
    return;
  }
  if (core.dtb != nullptr && core.dtb->state != pas::PasState::kRunning) {
    Crash(core, SignalKind::kFatal,
          absl::StrCat("fatal error: no DTB image (PAS id ", core.dtb->pas_id,
                       " is ", pas::PasStateName(core.dtb->state), ")"));
    return;
  }
  if (core.main == nullptr) {
    // Booted by the OS through its wrapper: it runs what the wrapper's
    // firmware range names.
    if (!FetchWrapperRange(core)) return;
    core.state = pas::CoreState::kRunning;
    Raise(core, SignalKind::kReady, "");
    return;
  }
  // Fetch every loadable page through the SMMU with the core's stream, at
  // the firmware's window onto its carveout.
  const Peripheral& p = *core.main;
  for (const image::ProgramHeader& ph : p.elf.phdrs) {
    if (!ph.loadable()) continue;
    const uint64_t pa = p.Place(ph.paddr);
    const bool writable = (ph.flags & 2) != 0;
    const bool exec = (ph.flags & 1) != 0;
    for (uint64_t offset = 0; offset < ph.memsz; offset += kPageSize) {
      const uint64_t page_pa = (pa + offset) & ~(kPageSize - 1);
      const uint64_t iova = core.window.iova + (page_pa - p.carveout_base);
      for (bool write : {false, true}) {
        if (write && !writable) continue;
        uint64_t got = 0;
        if (!Fetch(core, iova, write, exec, "firmware", &got)) return;
        if (got != page_pa) {
          Crash(core, SignalKind::kFatal,
                absl::StrCat("fatal error: iova ", Hex(iova), " translates to ",
                             Hex(got), ", not the firmware at ", Hex(page_pa)));
          return;
        }
      }
    }
  }
  for (const v1::DevMem& d : core.devmem) {
    uint64_t got = 0;
    if (!Fetch(core, d.da(), false, false,
               absl::StrCat("device memory '", d.name(), "'"), &got)) {
      return;
    }
  }
  core.state = pas::CoreState::kRunning;
  Raise(core, SignalKind::kReady, "");
  const uint64_t now = core.generation;
  auto running = [&core, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return core.generation == now && core.state == pas::CoreState::kRunning;
  };
  Schedule(handover_time_,
           [this, &core, now]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
             if (core.generation == now) Raise(core, SignalKind::kHandover, "");
           });
  if (auto f = TakeFault(core, v1::Fault::kWatchdogAfterMs)) {
    Schedule(absl::Milliseconds(f->watchdog_after_ms()),
             [this, &core, running]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (running()) {
                 Crash(core, SignalKind::kWatchdog,
                       "watchdog bite: the DSP stopped petting its watchdog");
               }
             });
  }
  if (auto f = TakeFault(core, v1::Fault::kFatalAfterMs)) {
    Schedule(absl::Milliseconds(f->fatal_after_ms()),
             [this, &core, running]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (running()) {
                 Crash(core, SignalKind::kFatal,
                       "fatal error: err_qdi.c:456:EF:sim:injected fault");
               }
             });
  }
  if (auto f = TakeFault(core, v1::Fault::kSmmuFault)) {
    const v1::SmmuFaultAfter plan = f->smmu_fault();
    Schedule(absl::Milliseconds(plan.after_ms()),
             [this, &core, running, plan]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
               if (!running()) return;
               const uint64_t offset = plan.offset() != 0
                                           ? plan.offset()
                                           : core.node.carveouts[0].size;
               uint64_t got = 0;
               (void)Fetch(core, core.window.iova + offset, plan.write(), false,
                           "data", &got);
             });
  }
}

void SimSoc::Crash(Core& core, SignalKind kind, std::string detail,
                   const platform::SmmuFault* fault) {
  core.state = pas::CoreState::kCrashed;
  ++core.generation;
  Raise(core, kind, std::move(detail), fault);
}

void SimSoc::Raise(Core& core, SignalKind kind, std::string detail,
                   const platform::SmmuFault* fault) {
  pas::Signal signal;
  signal.sequence = next_signal_++;
  signal.coprocessor = core.node.path;
  signal.kind = kind;
  signal.detail = std::move(detail);
  signal.time = absl::Now();
  if (fault != nullptr) signal.fault = *fault;
  outbox_.push_back(std::move(signal));
  deliver_.Signal();
}

absl::Status SimSoc::RequestStop(absl::string_view coprocessor) {
  absl::MutexLock lock(&mu_);
  Core* core = FindCore(coprocessor);
  if (core == nullptr) {
    return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
                 absl::StrCat("no coprocessor ", coprocessor));
  }
  if (core->state != pas::CoreState::kRunning) {
    return Error(
        absl::StatusCode::kFailedPrecondition, "NOT_RUNNING",
        absl::StrCat(core->node.name, " is ", pas::CoreStateName(core->state),
                     "; only a running core acknowledges a stop"));
  }
  core->state = pas::CoreState::kStopping;
  if (TakeFault(*core, v1::Fault::kStopAckTimeout)) return absl::OkStatus();
  if (TakeFault(*core, v1::Fault::kCrashOnStop)) {
    Crash(*core, SignalKind::kFatal,
          "fatal error while stopping: err_qdi.c:202:EF:sim:injected fault");
    return absl::OkStatus();
  }
  const uint64_t generation = core->generation;
  Core* c = core;
  Schedule(stop_ack_time_, [this, c,
                            generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (c->generation != generation || c->state != pas::CoreState::kStopping) {
      return;
    }
    c->state = pas::CoreState::kStopped;
    Raise(*c, SignalKind::kStopAck, "");
  });
  return absl::OkStatus();
}

namespace {

constexpr const char* kCalls[] = {
    "pas_init_image",    "pas_mem_setup",     "pas_auth_and_reset",
    "pas_shutdown",      "release_metadata",  "pas_get_resource_table",
    "shm_bridge_create", "shm_bridge_delete", "iommu_attach",
    "iommu_detach",      "iommu_map",         "iommu_unmap",
    "request_stop"};
constexpr uint32_t kMaxHoldMs = 60000;

absl::Status CheckCallFault(const v1::CallFault& fault) {
  if (std::find(std::begin(kCalls), std::end(kCalls), fault.call()) ==
      std::end(kCalls)) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FAULT",
                 absl::StrCat("call_fault.call '", fault.call(),
                              "' is not a call pild makes; expected one of ",
                              absl::StrJoin(kCalls, ", ")));
  }
  if ((fault.fail_status() != 0) == (fault.hold_ms() != 0)) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FAULT",
                 "call_fault sets exactly one of fail_status and hold_ms");
  }
  if (fault.hold_ms() > kMaxHoldMs) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FAULT",
                 absl::StrCat("call_fault.hold_ms ", fault.hold_ms(),
                              " is over ", kMaxHoldMs));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SimSoc::InjectFault(const v1::Fault& fault) {
  absl::MutexLock lock(&mu_);
  if (fault.kind_case() == v1::Fault::KIND_NOT_SET) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_FAULT",
                 "the fault names no kind");
  }
  if (fault.kind_case() == v1::Fault::kCallFault) {
    if (absl::Status s = CheckCallFault(fault.call_fault()); !s.ok()) return s;
    if (fault.coprocessor().empty()) {
      fault_plan_.push_back({fault, 0});
      return absl::OkStatus();
    }
  }
  if (FindCore(fault.coprocessor()) == nullptr) {
    return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
                 absl::StrCat("no coprocessor ", fault.coprocessor()));
  }
  v1::Fault named = fault;
  named.set_coprocessor(FindCore(fault.coprocessor())->node.name);
  fault_plan_.push_back({named, 0});
  return absl::OkStatus();
}

std::optional<v1::CallFault> SimSoc::TakeCallFault(const std::string& call) {
  absl::MutexLock lock(&mu_);
  for (auto it = fault_plan_.begin(); it != fault_plan_.end(); ++it) {
    if (it->fault.kind_case() != v1::Fault::kCallFault ||
        it->fault.call_fault().call() != call ||
        !Fires(*it, it->fault.call_fault().occurrence())) {
      continue;
    }
    v1::CallFault fault = it->fault.call_fault();
    if (!it->fault.repeat()) fault_plan_.erase(it);
    return fault;
  }
  return std::nullopt;
}

}  // namespace pil::sim
