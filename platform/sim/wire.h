// pas::Hardware values <-> pil.sim.v1 messages, for pilsim and its
// clients. The messages spell states, owners, fault kinds and accesses as
// words (the *Name functions' words); an unknown word is an error.
#ifndef PILD_PLATFORM_SIM_WIRE_H_
#define PILD_PLATFORM_SIM_WIRE_H_

#include "absl/status/statusor.h"
#include "platform/pas/hardware.h"
#include "platform/sim/proto/sim.pb.h"

namespace pil::sim {

v1::Signal SignalToProto(const pas::Signal& signal);
absl::StatusOr<pas::Signal> SignalFromProto(const v1::Signal& signal);

v1::HardwareState StateToProto(const pas::HardwareState& state);
absl::StatusOr<pas::HardwareState> StateFromProto(
    const v1::HardwareState& state);

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_WIRE_H_
