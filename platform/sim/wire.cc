#include "platform/sim/wire.h"

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/error.h"

namespace pil::sim {
namespace {

using pas::CoreState;
using pas::PasState;
using pas::SignalKind;
using platform::AccessType;
using platform::FaultKind;
using platform::MappingOwner;

int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }
absl::Time FromNanos(int64_t n) { return absl::FromUnixNanos(n); }

// The value of `values` whose name is `word`.
template <typename T>
absl::Status Parse(const std::string& word, std::initializer_list<T> values,
                   const char* (*name)(T), const char* what, T* out) {
  for (T value : values) {
    if (word == name(value)) {
      *out = value;
      return absl::OkStatus();
    }
  }
  return Error(absl::StatusCode::kInvalidArgument, "SIM_WIRE_INVALID",
               absl::StrCat("pilsim sent an unknown ", what, " '", word, "'"));
}

absl::Status ParseOwner(const std::string& word, MappingOwner* out) {
  return Parse(word, {MappingOwner::kOs, MappingOwner::kHypervisor},
               platform::MappingOwnerName, "mapping owner", out);
}

absl::Status ParseFault(const std::string& kind, const std::string& access,
                        bool write, platform::SmmuFault* out) {
  if (absl::Status s = Parse(kind,
                             {FaultKind::kTranslation, FaultKind::kPermission,
                              FaultKind::kUnmatchedStream},
                             platform::FaultKindName, "fault kind", &out->kind);
      !s.ok()) {
    return s;
  }
  if (access.empty()) {  // from a pilsim that names only writes
    out->access = write ? AccessType::kWrite : AccessType::kRead;
    return absl::OkStatus();
  }
  return Parse(access,
               {AccessType::kRead, AccessType::kWrite, AccessType::kExecute},
               platform::AccessTypeName, "access", &out->access);
}

}  // namespace

v1::Signal SignalToProto(const pas::Signal& s) {
  v1::Signal out;
  out.set_sequence(s.sequence);
  out.set_coprocessor(s.coprocessor);
  out.set_kind(pas::SignalName(s.kind));
  out.set_detail(s.detail);
  if (s.fault) {
    out.set_sid(s.fault->sid);
    out.set_iova(s.fault->iova);
    out.set_write(s.fault->access == AccessType::kWrite);
    out.set_access(platform::AccessTypeName(s.fault->access));
    out.set_fault_type(platform::FaultKindName(s.fault->kind));
  }
  out.set_time_unix_nanos(Nanos(s.time));
  return out;
}

absl::StatusOr<pas::Signal> SignalFromProto(const v1::Signal& s) {
  pas::Signal out;
  out.sequence = s.sequence();
  out.coprocessor = s.coprocessor();
  if (absl::Status st = Parse(
          s.kind(),
          {SignalKind::kReady, SignalKind::kHandover, SignalKind::kStopAck,
           SignalKind::kWatchdog, SignalKind::kFatal, SignalKind::kSmmuFault},
          pas::SignalName, "signal", &out.kind);
      !st.ok()) {
    return st;
  }
  out.detail = s.detail();
  if (out.kind == SignalKind::kSmmuFault) {
    platform::SmmuFault fault;
    fault.sid = s.sid();
    fault.iova = s.iova();
    if (absl::Status st =
            ParseFault(s.fault_type(), s.access(), s.write(), &fault);
        !st.ok()) {
      return st;
    }
    out.fault = fault;
  }
  out.time = FromNanos(s.time_unix_nanos());
  return out;
}

v1::HardwareState StateToProto(const pas::HardwareState& s) {
  v1::HardwareState out;
  out.set_hypervisor(s.hypervisor);
  for (const auto& b : s.bridges) {
    auto* p = out.add_bridges();
    p->set_handle(b.handle);
    p->set_base(b.base);
    p->set_size(b.size);
  }
  for (const auto& x : s.streams) {
    auto* p = out.add_streams();
    p->set_domain(x.domain);
    p->set_sid(x.sid);
    p->set_mask(x.mask);
    p->set_owner(platform::MappingOwnerName(x.owner));
  }
  for (const auto& m : s.mappings) {
    auto* p = out.add_mappings();
    p->set_domain(m.domain);
    p->set_sid(m.sid);
    p->set_mask(m.mask);
    p->set_iova(m.iova);
    p->set_pa(m.pa);
    p->set_size(m.size);
    p->set_prot(m.prot);
    p->set_owner(platform::MappingOwnerName(m.owner));
  }
  for (const auto& f : s.faults) {
    auto* p = out.add_faults();
    p->set_sid(f.fault.sid);
    p->set_iova(f.fault.iova);
    p->set_write(f.fault.access == AccessType::kWrite);
    p->set_access(platform::AccessTypeName(f.fault.access));
    p->set_type(platform::FaultKindName(f.fault.kind));
    p->set_coprocessor(f.coprocessor);
    p->set_time_unix_nanos(Nanos(f.time));
  }
  for (const auto& x : s.peripherals) {
    auto* p = out.add_peripherals();
    p->set_pas_id(x.pas_id);
    p->set_state(pas::PasStateName(x.state));
    p->set_metadata_held(x.metadata_held);
  }
  for (const auto& c : s.cores) {
    auto* p = out.add_cores();
    p->set_coprocessor(c.coprocessor);
    p->set_state(pas::CoreStateName(c.state));
  }
  for (const auto& c : s.calls) {
    auto* p = out.add_calls();
    p->set_call(c.call);
    p->set_pas_id(c.pas_id);
    p->set_detail(c.detail);
    p->set_status(c.status);
    p->set_time_unix_nanos(Nanos(c.time));
  }
  return out;
}

absl::StatusOr<pas::HardwareState> StateFromProto(const v1::HardwareState& s) {
  pas::HardwareState out;
  out.hypervisor = s.hypervisor();
  for (const auto& b : s.bridges()) {
    out.bridges.push_back({b.handle(), b.base(), b.size()});
  }
  for (const auto& x : s.streams()) {
    pas::HardwareState::Stream stream{x.domain(), x.sid(), x.mask()};
    if (absl::Status st = ParseOwner(x.owner(), &stream.owner); !st.ok()) {
      return st;
    }
    out.streams.push_back(stream);
  }
  for (const auto& m : s.mappings()) {
    pas::HardwareState::Mapping x;
    x.domain = m.domain();
    x.sid = m.sid();
    x.mask = m.mask();
    x.iova = m.iova();
    x.pa = m.pa();
    x.size = m.size();
    x.prot = m.prot();
    if (absl::Status st = ParseOwner(m.owner(), &x.owner); !st.ok()) return st;
    out.mappings.push_back(x);
  }
  for (const auto& f : s.faults()) {
    pas::HardwareState::Fault x;
    x.fault.sid = f.sid();
    x.fault.iova = f.iova();
    if (absl::Status st = ParseFault(f.type(), f.access(), f.write(), &x.fault);
        !st.ok()) {
      return st;
    }
    x.coprocessor = f.coprocessor();
    x.time = FromNanos(f.time_unix_nanos());
    out.faults.push_back(x);
  }
  for (const auto& p : s.peripherals()) {
    pas::HardwareState::Peripheral x{p.pas_id(), PasState::kIdle,
                                     p.metadata_held()};
    if (absl::Status st =
            Parse(p.state(),
                  {PasState::kIdle, PasState::kInitialized, PasState::kRunning},
                  pas::PasStateName, "PAS state", &x.state);
        !st.ok()) {
      return st;
    }
    out.peripherals.push_back(x);
  }
  for (const auto& c : s.cores()) {
    pas::HardwareState::Core x{c.coprocessor(), CoreState::kOff};
    if (absl::Status st = Parse(
            c.state(),
            {CoreState::kOff, CoreState::kBooting, CoreState::kRunning,
             CoreState::kStopping, CoreState::kStopped, CoreState::kCrashed},
            pas::CoreStateName, "core state", &x.state);
        !st.ok()) {
      return st;
    }
    out.cores.push_back(x);
  }
  for (const auto& c : s.calls()) {
    pas::HardwareState::Call x;
    x.call = c.call();
    x.pas_id = c.pas_id();
    x.detail = c.detail();
    x.status = c.status();
    x.time = FromNanos(c.time_unix_nanos());
    out.calls.push_back(x);
  }
  return out;
}

}  // namespace pil::sim
