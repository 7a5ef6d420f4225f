// The fake kernel's model of remoteproc and devcoredump (DOMAIN.md §5), as
// a tree of sysfs paths whose attribute reads and writes behave as the real
// ones do: refusals with EBUSY, EINVAL, ENOENT, ETIMEDOUT; `start` blocking
// until the core runs; power references; crashes, recovery and
// devcoredumps. fake_kernel.cc serves it through FUSE.
#ifndef PILD_TESTS_FAKEKERNEL_MODEL_H_
#define PILD_TESTS_FAKEKERNEL_MODEL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "platform/devicetree/coprocessor_node.h"

namespace pil::fakekernel {

struct Options {
  std::string firmware_dir;    // where `firmware` names are looked up
  int boot_ms = 20;            // how long `start` takes
  int ready_timeout_ms = 300;  // how long a core that never runs takes to fail
  bool guards = true;          // refuse start when running / stop when offline
  bool notify = true;          // notify pollers of `state` changes
};

class Model {
 public:
  enum class Kind { kDir, kFile, kLink };
  struct Entry {
    Kind kind = Kind::kDir;
    std::string target;  // kLink: relative target
  };

  // The remoteprocs of `board`'s enabled remoteproc nodes with PAS ids;
  // `running` names ones the "boot loader" started.
  Model(const devicetree::Board& board, const std::string& dtb,
        const Options& options, const std::vector<std::string>& running);
  ~Model();  // waits for recoveries in progress

  // The entry at `path` (absolute inside the mount), if there is one.
  std::optional<Entry> Find(const std::string& path) const;
  std::vector<std::string> List(const std::string& dir) const;

  // A file's contents; -errno on failure.
  int Read(const std::string& path, std::string* out);
  // A write to a file; blocks as the kernel does. Returns 0 or -errno.
  int Write(const std::string& path, const std::string& value);

  // Poll support for `state` files: the change generation of a file
  // (0 for files that do not notify), and a callback for changes.
  uint64_t Generation(const std::string& path) const;
  void OnChange(std::function<void(const std::string& path)> notify);

 private:
  struct Rproc {
    std::string sysfs_name, name, dir;
    std::string state = "offline";
    std::string firmware;
    bool recovery = true;
    std::string coredump = "enabled";
    int power = 0;
    int boots = 0, starts = 0, stops = 0;
    bool never_running = false;
    bool busy = false;  // a start, stop or recovery holds it
    uint64_t generation = 1;
  };
  struct Devcd {
    std::string dir, data;
  };

  void AddDir(const std::string& path);
  void AddLink(const std::string& path, const std::string& to);
  void AddFile(const std::string& path);
  Rproc* Owner(const std::string& path, std::string* attribute);
  void SetState(Rproc& r, const std::string& state);
  int Start(Rproc& r, std::unique_lock<std::mutex>& lock);
  int Stop(Rproc& r, std::unique_lock<std::mutex>& lock);
  void Crash(Rproc& r);
  // Dumps (unless coredump is disabled) and boots the crashed core again.
  int Recover(Rproc& r, std::unique_lock<std::mutex>& lock);
  int Control(const std::string& command);
  std::string Status() const;

  const Options options_;
  const std::string dtb_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::map<std::string, Entry> tree_;
  std::vector<std::unique_ptr<Rproc>> rprocs_;
  std::map<std::string, Devcd> devcds_;
  int next_devcd_ = 0;
  bool notify_ = true;
  std::function<void(const std::string&)> on_change_;
  std::vector<std::thread> recoveries_;
};

}  // namespace pil::fakekernel

#endif  // PILD_TESTS_FAKEKERNEL_MODEL_H_
