#include "tests/fakekernel/model.h"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "platform/linux/remoteproc_sysfs.h"

namespace pil::fakekernel {
namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// `to` as a symlink target relative to the directory holding `link`.
std::string Relative(const std::string& link, const std::string& to) {
  std::string up;
  for (char c : Parent(link)) {
    if (c == '/') up += "../";
  }
  return up + to.substr(1);
}

// A value as sysfs compares it: without one trailing newline.
std::string Value(const std::string& written) {
  return absl::EndsWith(written, "\n") ? written.substr(0, written.size() - 1)
                                       : written;
}

void Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

constexpr const char* kAttributes[] = {"name", "state", "firmware", "recovery",
                                       "coredump"};

}  // namespace

Model::Model(const devicetree::Board& board, const std::string& dtb,
             const Options& options, const std::vector<std::string>& running)
    : options_(options), dtb_(dtb), notify_(options.notify) {
  AddDir("/");
  AddFile("/firmware/fdt");
  AddFile("/module/firmware_class/parameters/path");
  AddFile("/fake/control");
  AddFile("/fake/status");
  AddDir("/class/remoteproc");
  AddDir("/class/devcoredump");
  AddDir("/devices/virtual/devcoredump");
  for (const devicetree::CoprocessorNode& node : board.coprocessors) {
    if (!node.enabled() || !node.pas_id ||
        node.kind != devicetree::CoprocessorKind::kRemoteproc) {
      continue;
    }
    auto r = std::make_unique<Rproc>();
    r->sysfs_name = absl::StrCat("remoteproc", rprocs_.size());
    r->name = linux_platform::KernelName(node.name);
    const std::string device = "/devices/platform" + node.path;
    r->dir = absl::StrCat(device, "/remoteproc/", r->sysfs_name);
    r->firmware = node.firmware_names.empty() ? "" : node.firmware_names[0];
    AddDir("/firmware/devicetree/base" + node.path);
    AddLink(device + "/of_node", "/firmware/devicetree/base" + node.path);
    for (const char* attribute : kAttributes) {
      AddFile(absl::StrCat(r->dir, "/", attribute));
    }
    AddLink(r->dir + "/device", device);
    AddLink("/class/remoteproc/" + r->sysfs_name, r->dir);
    for (const std::string& name : running) {
      if (name == r->name) {
        r->state = "running";
        r->power = 1;
        r->boots = 1;
      }
    }
    rprocs_.push_back(std::move(r));
  }
}

void Model::AddDir(const std::string& path) {
  if (tree_.count(path)) return;
  if (path != "/") AddDir(Parent(path));
  tree_[path] = {Kind::kDir, ""};
}

void Model::AddFile(const std::string& path) {
  AddDir(Parent(path));
  tree_[path] = {Kind::kFile, ""};
}

void Model::AddLink(const std::string& path, const std::string& to) {
  AddDir(Parent(path));
  tree_[path] = {Kind::kLink, Relative(path, to)};
}

Model::~Model() {
  std::vector<std::thread> recoveries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    recoveries.swap(recoveries_);
  }
  for (std::thread& t : recoveries) t.join();
}

std::optional<Model::Entry> Model::Find(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tree_.find(path);
  if (it == tree_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Model::List(const std::string& dir) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [path, entry] : tree_) {
    if (path != "/" && Parent(path) == dir) {
      names.push_back(path.substr(path.rfind('/') + 1));
    }
  }
  return names;
}

Model::Rproc* Model::Owner(const std::string& path, std::string* attribute) {
  for (auto& r : rprocs_) {
    if (Parent(path) == r->dir) {
      *attribute = path.substr(r->dir.size() + 1);
      return r.get();
    }
  }
  return nullptr;
}

uint64_t Model::Generation(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : rprocs_) {
    if (path == r->dir + "/state") return r->generation;
  }
  return 0;
}

void Model::OnChange(std::function<void(const std::string&)> notify) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(notify);
}

void Model::SetState(Rproc& r, const std::string& state) {
  r.state = state;
  ++r.generation;
  if (notify_ && on_change_) on_change_(r.dir + "/state");
}

int Model::Read(const std::string& path, std::string* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path == "/firmware/fdt") {
    *out = dtb_;
    return 0;
  }
  if (path == "/module/firmware_class/parameters/path") {
    *out = options_.firmware_dir + "\n";
    return 0;
  }
  if (path == "/fake/status") {
    *out = Status();
    return 0;
  }
  if (path == "/fake/control") return -EACCES;
  for (const auto& [dir, devcd] : devcds_) {
    if (path == dir + "/data") {
      *out = devcd.data;
      return 0;
    }
  }
  std::string attribute;
  Rproc* r = Owner(path, &attribute);
  if (r == nullptr) return -ENOENT;
  if (attribute == "name") *out = r->name;
  if (attribute == "state") *out = r->state;
  if (attribute == "firmware") *out = r->firmware;
  if (attribute == "recovery") *out = r->recovery ? "enabled" : "disabled";
  if (attribute == "coredump") *out = r->coredump;
  *out += "\n";
  return 0;
}

int Model::Write(const std::string& path, const std::string& written) {
  std::unique_lock<std::mutex> lock(mu_);
  const std::string value = Value(written);
  if (path == "/fake/control") return Control(value);
  for (auto it = devcds_.begin(); it != devcds_.end(); ++it) {
    if (path == it->first + "/data") {
      // Any write frees the dump.
      const std::string name = it->first.substr(it->first.rfind('/') + 1);
      tree_.erase(it->first + "/data");
      tree_.erase(it->first + "/failing_device");
      tree_.erase(it->first);
      tree_.erase("/class/devcoredump/" + name);
      devcds_.erase(it);
      return 0;
    }
  }
  std::string attribute;
  Rproc* r = Owner(path, &attribute);
  if (r == nullptr) return -EACCES;
  if (attribute == "state") {
    if (value == "start") return Start(*r, lock);
    if (value == "stop") return Stop(*r, lock);
    return -EINVAL;  // "detach" too: nothing here is attached
  }
  if (attribute == "firmware") {
    if (r->state != "offline" || r->busy) return -EBUSY;
    const std::string name = value.substr(0, value.find('\n'));
    if (name.empty()) return -EINVAL;
    r->firmware = name;
    return 0;
  }
  if (attribute == "recovery") {
    if (value == "disabled") {
      r->recovery = false;
      return 0;
    }
    if (value == "enabled") {
      r->recovery = true;
      return r->state == "crashed" ? Recover(*r, lock) : 0;
    }
    if (value == "recover")
      return r->state == "crashed" ? Recover(*r, lock) : 0;
    return -EINVAL;
  }
  if (attribute == "coredump") {
    if (r->state == "crashed") return -EBUSY;
    if (value != "disabled" && value != "enabled" && value != "inline") {
      return -EINVAL;
    }
    r->coredump = value;
    return 0;
  }
  return -EACCES;
}

int Model::Start(Rproc& r, std::unique_lock<std::mutex>& lock) {
  idle_.wait(lock, [&] { return !r.busy; });
  ++r.starts;
  if (r.state == "running" || r.state == "crashed") {
    if (options_.guards && r.state == "running") return -EBUSY;
    ++r.power;  // already powered up: only the reference count grows
    return 0;
  }
  std::ifstream file(options_.firmware_dir + "/" + r.firmware,
                     std::ios::binary);
  if (!file) return -ENOENT;
  char magic[4] = {};
  file.read(magic, 4);
  if (std::string(magic, 4) !=
      "\x7f"
      "ELF")
    return -EINVAL;
  r.busy = true;
  if (r.never_running) {
    r.never_running = false;
    lock.unlock();
    Sleep(options_.ready_timeout_ms);
    lock.lock();
    r.busy = false;
    idle_.notify_all();
    return -ETIMEDOUT;
  }
  lock.unlock();
  Sleep(options_.boot_ms);
  lock.lock();
  r.power = 1;
  ++r.boots;
  SetState(r, "running");
  r.busy = false;
  idle_.notify_all();
  return 0;
}

int Model::Stop(Rproc& r, std::unique_lock<std::mutex>& lock) {
  idle_.wait(lock, [&] { return !r.busy; });
  // Recent kernels stop only a running core; older ones a crashed one too.
  if (options_.guards && r.state != "running") return -EINVAL;
  if (r.state == "offline") return 0;
  ++r.stops;
  if (--r.power > 0) return 0;  // another holder keeps it up
  r.busy = true;
  lock.unlock();
  Sleep(5);
  lock.lock();
  r.power = 0;
  SetState(r, "offline");
  r.busy = false;
  idle_.notify_all();
  return 0;
}

void Model::Crash(Rproc& r) {
  if (r.state != "running") return;
  SetState(r, "crashed");
  if (!r.recovery) return;
  // The kernel recovers on its own: dump, reload, restart.
  recoveries_.emplace_back([this, target = &r] {
    Sleep(10);
    std::unique_lock<std::mutex> lock(mu_);
    (void)Recover(*target, lock);
  });
}

int Model::Recover(Rproc& r, std::unique_lock<std::mutex>& lock) {
  idle_.wait(lock, [&] { return !r.busy; });
  if (r.state != "crashed") return 0;
  if (r.coredump != "disabled") {
    const std::string name = absl::StrCat("devcd", ++next_devcd_);
    const std::string dir = "/devices/virtual/devcoredump/" + name;
    Devcd devcd;
    devcd.dir = dir;
    devcd.data =
        absl::StrCat(std::string("\x7f"
                                 "ELF\x01\x01\x01",
                                 7),
                     std::string(9, '\0'), "FAKE COREDUMP ", r.name,
                     " firmware=", r.firmware, " boot=", r.boots, "\n");
    devcds_[dir] = devcd;
    AddFile(dir + "/data");
    AddLink(dir + "/failing_device", r.dir);
    AddLink("/class/devcoredump/" + name, dir);
  }
  r.busy = true;
  lock.unlock();
  Sleep(options_.boot_ms);
  lock.lock();
  ++r.boots;
  SetState(r, "running");
  r.busy = false;
  idle_.notify_all();
  return 0;
}

int Model::Control(const std::string& command) {
  const std::vector<std::string> words = absl::StrSplit(command, ' ');
  if (words.size() == 2 && words[0] == "notify") {
    notify_ = words[1] == "on";
    return 0;
  }
  if (words.size() != 2) return -EINVAL;
  for (auto& r : rprocs_) {
    if (r->name != words[1] && r->sysfs_name != words[1]) continue;
    if (words[0] == "crash") {
      Crash(*r);
      return 0;
    }
    if (words[0] == "never-running") {
      r->never_running = true;
      return 0;
    }
    return -EINVAL;
  }
  return -ENOENT;
}

std::string Model::Status() const {
  std::ostringstream out;
  for (const auto& r : rprocs_) {
    out << r->sysfs_name << " name=" << r->name << " state=" << r->state
        << " power=" << r->power << " boots=" << r->boots
        << " starts=" << r->starts << " stops=" << r->stops
        << " recovery=" << (r->recovery ? "enabled" : "disabled")
        << " coredump=" << r->coredump << " firmware=" << r->firmware << "\n";
  }
  for (const auto& [dir, devcd] : devcds_) {
    out << "devcoredump " << dir.substr(dir.rfind('/') + 1) << " "
        << devcd.data.size() << " bytes\n";
  }
  return out.str();
}

}  // namespace pil::fakekernel
