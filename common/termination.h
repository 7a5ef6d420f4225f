// Termination signals for daemons that stop in order: block SIGTERM and
// SIGINT in main() before any thread starts (every thread inherits the
// mask), then wait for one where the shutdown begins.
//
//   int main() { pil::BlockTerminationSignals(); ... }
//   const int signal = pil::AwaitTerminationSignal();  // then shut down
#ifndef PILD_COMMON_TERMINATION_H_
#define PILD_COMMON_TERMINATION_H_

namespace pil {

void BlockTerminationSignals();
// Waits until SIGTERM or SIGINT arrives; returns which.
int AwaitTerminationSignal();

}  // namespace pil

#endif  // PILD_COMMON_TERMINATION_H_
