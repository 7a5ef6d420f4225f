// A child process for tests: started with argv, stopped with a signal.
#ifndef PILD_TESTS_TESTING_SUBPROCESS_H_
#define PILD_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace pil::testing {

class Subprocess {
 public:
  // Starts argv[0] with `argv`; stdout and stderr go to `log_path`.
  Subprocess(const std::vector<std::string>& argv, const std::string& log_path);
  ~Subprocess();  // SIGKILLs it if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` and waits; returns the exit status (as waitpid reports).
  int Stop(int signal);

 private:
  pid_t pid_ = -1;
};

}  // namespace pil::testing

#endif  // PILD_TESTS_TESTING_SUBPROCESS_H_
