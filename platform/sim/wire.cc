#include "platform/sim/wire.h"

#include "absl/time/time.h"

namespace pil::sim {
namespace {

using platform::SignalKind;

constexpr SignalKind kKinds[] = {SignalKind::kReady,   SignalKind::kHandover,
                                 SignalKind::kStopAck, SignalKind::kWatchdog,
                                 SignalKind::kFatal,   SignalKind::kSmmuFault};

int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }
absl::Time FromNanos(int64_t n) { return absl::FromUnixNanos(n); }

}  // namespace

v1::Signal SignalToProto(const platform::Signal& s) {
  v1::Signal out;
  out.set_sequence(s.sequence);
  out.set_coprocessor(s.coprocessor);
  out.set_kind(platform::SignalName(s.kind));
  out.set_detail(s.detail);
  out.set_sid(s.sid);
  out.set_iova(s.iova);
  out.set_write(s.write);
  out.set_fault_type(s.fault_type);
  out.set_time_unix_nanos(Nanos(s.time));
  return out;
}

platform::Signal SignalFromProto(const v1::Signal& s) {
  platform::Signal out;
  out.sequence = s.sequence();
  out.coprocessor = s.coprocessor();
  for (SignalKind kind : kKinds) {
    if (s.kind() == platform::SignalName(kind)) out.kind = kind;
  }
  out.detail = s.detail();
  out.sid = s.sid();
  out.iova = s.iova();
  out.write = s.write();
  out.fault_type = s.fault_type();
  out.time = FromNanos(s.time_unix_nanos());
  return out;
}

v1::HardwareState StateToProto(const platform::HardwareState& s) {
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
    p->set_owner(x.owner);
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
    p->set_owner(m.owner);
  }
  for (const auto& f : s.faults) {
    auto* p = out.add_faults();
    p->set_sid(f.sid);
    p->set_iova(f.iova);
    p->set_write(f.write);
    p->set_type(f.type);
    p->set_coprocessor(f.coprocessor);
    p->set_time_unix_nanos(Nanos(f.time));
  }
  for (const auto& x : s.peripherals) {
    auto* p = out.add_peripherals();
    p->set_pas_id(x.pas_id);
    p->set_state(x.state);
    p->set_metadata_held(x.metadata_held);
  }
  for (const auto& c : s.cores) {
    auto* p = out.add_cores();
    p->set_coprocessor(c.coprocessor);
    p->set_state(c.state);
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

platform::HardwareState StateFromProto(const v1::HardwareState& s) {
  platform::HardwareState out;
  out.hypervisor = s.hypervisor();
  for (const auto& b : s.bridges()) {
    out.bridges.push_back({b.handle(), b.base(), b.size()});
  }
  for (const auto& x : s.streams()) {
    out.streams.push_back({x.domain(), x.sid(), x.mask(), x.owner()});
  }
  for (const auto& m : s.mappings()) {
    platform::HardwareState::Mapping x;
    x.domain = m.domain();
    x.sid = m.sid();
    x.mask = m.mask();
    x.iova = m.iova();
    x.pa = m.pa();
    x.size = m.size();
    x.prot = m.prot();
    x.owner = m.owner();
    out.mappings.push_back(x);
  }
  for (const auto& f : s.faults()) {
    platform::HardwareState::Fault x;
    x.sid = f.sid();
    x.iova = f.iova();
    x.write = f.write();
    x.type = f.type();
    x.coprocessor = f.coprocessor();
    x.time = FromNanos(f.time_unix_nanos());
    out.faults.push_back(x);
  }
  for (const auto& p : s.peripherals()) {
    out.peripherals.push_back({p.pas_id(), p.state(), p.metadata_held()});
  }
  for (const auto& c : s.cores()) {
    out.cores.push_back({c.coprocessor(), c.state()});
  }
  for (const auto& c : s.calls()) {
    platform::HardwareState::Call x;
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
