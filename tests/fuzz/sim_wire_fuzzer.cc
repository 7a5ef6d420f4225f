// Fuzz target: what pild accepts from pilsim — hardware states and signals
// as pil.sim.v1 messages, turned into the PAS tier's values. Besides never
// crashing, what is accepted turns back into a message that is accepted
// again and reads the same.
//
// Input: [kind u8][serialized message]; kind even: a HardwareState (as
// Observe answers), odd: a Signal (as the signal stream delivers).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "platform/sim/proto/sim.pb.h"
#include "platform/sim/wire.h"

namespace {

template <typename Message, typename From, typename To>
void RoundTrip(const uint8_t* data, size_t size, From from, To to) {
  Message message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;
  auto value = from(message);
  if (!value.ok()) return;
  const Message again = to(*value);
  auto reread = from(again);
  if (!reread.ok()) std::abort();  // pild's own words refused
  std::string first, second;
  if (!again.SerializeToString(&first) ||
      !to(*reread).SerializeToString(&second) || first != second) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    RoundTrip<pil::sim::v1::HardwareState>(
        data + 1, size - 1, pil::sim::StateFromProto, pil::sim::StateToProto);
  } else {
    RoundTrip<pil::sim::v1::Signal>(
        data + 1, size - 1, pil::sim::SignalFromProto, pil::sim::SignalToProto);
  }
  return 0;
}
