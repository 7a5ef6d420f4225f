// Termination signals for daemons that stop in order: block SIGTERM,
// SIGINT and SIGHUP in main() before any thread starts (every thread
// inherits the mask), then wait for one where the shutdown begins; SIGHUP
// asks for a reload instead.
//
//   int main() { pil::BlockTerminationSignals(); ... }
//   const int signal = pil::AwaitTerminationSignal(reload);  // shut down
#ifndef PILD_COMMON_TERMINATION_H_
#define PILD_COMMON_TERMINATION_H_

#include <functional>

namespace pil {

void BlockTerminationSignals();
// Waits until SIGTERM or SIGINT arrives and returns which; calls
// `on_hangup` (when set) for each SIGHUP meanwhile.
int AwaitTerminationSignal(const std::function<void()>& on_hangup = nullptr);

}  // namespace pil

#endif  // PILD_COMMON_TERMINATION_H_
