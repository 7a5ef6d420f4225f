// Platform values <-> pil.sim.v1 messages, for pilsim and its clients.
#ifndef PILD_PLATFORM_SIM_WIRE_H_
#define PILD_PLATFORM_SIM_WIRE_H_

#include "platform/platform.h"
#include "platform/sim/proto/sim.pb.h"

namespace pil::sim {

v1::Signal SignalToProto(const platform::Signal& signal);
platform::Signal SignalFromProto(const v1::Signal& signal);

v1::HardwareState StateToProto(const platform::HardwareState& state);
platform::HardwareState StateFromProto(const v1::HardwareState& state);

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_WIRE_H_
