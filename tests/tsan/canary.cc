// The ThreadSanitizer canary: `canary race` updates a counter from two
// threads without a lock (TSan must report it); `canary locked` does the
// same under an absl::Mutex, handing the turn over with Await so that the
// lock's slow path runs (TSan must see the lock, which it can only when
// Abseil itself is built with TSan: tools/tsan-abseil.sh).
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

constexpr int kRounds = 20000;

int Race() {
  long counter = 0;
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) ++counter;
  });
  for (int i = 0; i < kRounds; ++i) ++counter;
  other.join();
  std::printf("counted %ld\n", counter);
  return 0;
}

struct Turn {
  int* turn;
  int me;
  bool Mine() const { return *turn == me; }
};

int Locked() {
  absl::Mutex mu;
  long counter = 0;
  int turn = 0;
  auto play = [&](int me) {
    const Turn mine{&turn, me};
    for (int i = 0; i < kRounds / 100; ++i) {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(&mine, &Turn::Mine));
      ++counter;
      turn = 1 - me;
    }
  };
  std::thread other(play, 1);
  play(0);
  other.join();
  std::printf("counted %ld\n", counter);
  return counter == 2 * (kRounds / 100) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "race") == 0) return Race();
  if (argc == 2 && std::strcmp(argv[1], "locked") == 0) return Locked();
  std::fprintf(stderr, "usage: canary race|locked\n");
  return 2;
}
