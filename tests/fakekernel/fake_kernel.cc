// fake_kernel: a fake sysfs for testing pild's linux backend. Mounts (FUSE)
// a tree laid out as the kernel lays out /sys — the flattened device tree,
// the unflattened tree's nodes, remoteproc devices pointing at them,
// devcoredumps, firmware_class.path — whose attributes behave as the real
// ones (model.h), and serves it until SIGTERM.
//
//   fake_kernel --mount=DIR --dtb=FILE --firmware-dir=DIR [--running=adsp]
//       [--boot-ms=20] [--ready-timeout-ms=300] [--no-guards] [--no-notify]
//
// DIR/fake/control takes "crash NAME", "never-running NAME", "notify on|off";
// DIR/fake/status tells each remoteproc's state, power references, boots,
// starts and stops, knobs and firmware, and the devcoredumps held.
#define FUSE_USE_VERSION 31

#include <fuse3/fuse.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/file.h"
#include "platform/devicetree/discovery.h"
#include "tests/fakekernel/model.h"

namespace pil::fakekernel {
namespace {

Model* model = nullptr;

// Open files: what each handle last read of a `state` attribute, and the
// poll handle waiting for its next change.
struct Handle {
  std::string path;
  uint64_t seen = 0;
  fuse_pollhandle* waiting = nullptr;
};
std::mutex handles_mu;
std::map<uint64_t, Handle> handles;
uint64_t next_handle = 1;

void Notify(const std::string& path) {
  std::lock_guard<std::mutex> lock(handles_mu);
  for (auto& [fh, h] : handles) {
    if (h.path == path && h.waiting != nullptr) {
      fuse_notify_poll(h.waiting);
      fuse_pollhandle_destroy(h.waiting);
      h.waiting = nullptr;
    }
  }
}

void* Init(fuse_conn_info*, fuse_config* config) {
  config->entry_timeout = 0;
  config->attr_timeout = 0;
  config->negative_timeout = 0;
  config->direct_io = 1;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info*) {
  const std::optional<Model::Entry> entry = model->Find(path);
  if (!entry) return -ENOENT;
  std::memset(st, 0, sizeof(*st));
  switch (entry->kind) {
    case Model::Kind::kDir:
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      break;
    case Model::Kind::kLink:
      st->st_mode = S_IFLNK | 0777;
      st->st_nlink = 1;
      st->st_size = static_cast<off_t>(entry->target.size());
      break;
    case Model::Kind::kFile:
      st->st_mode = S_IFREG | (absl::EndsWith(path, "/name") ? 0444 : 0644);
      st->st_nlink = 1;
      st->st_size = 4096;  // as sysfs reports attributes
      break;
  }
  return 0;
}

int ReadLink(const char* path, char* buffer, size_t size) {
  const std::optional<Model::Entry> entry = model->Find(path);
  if (!entry || entry->kind != Model::Kind::kLink) return -EINVAL;
  std::snprintf(buffer, size, "%s", entry->target.c_str());
  return 0;
}

int ReadDir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t,
            fuse_file_info*, fuse_readdir_flags) {
  fill(buffer, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buffer, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const std::string& name : model->List(path)) {
    fill(buffer, name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  return 0;
}

int Open(const char* path, fuse_file_info* fi) {
  const std::optional<Model::Entry> entry = model->Find(path);
  if (!entry) return -ENOENT;
  if (entry->kind != Model::Kind::kFile) return -EISDIR;
  fi->direct_io = 1;
  const uint64_t generation = model->Generation(path);
  std::lock_guard<std::mutex> lock(handles_mu);
  fi->fh = next_handle++;
  handles[fi->fh] = {path, generation, nullptr};
  return 0;
}

int Release(const char*, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(handles_mu);
  auto it = handles.find(fi->fh);
  if (it == handles.end()) return 0;
  if (it->second.waiting != nullptr) {
    fuse_pollhandle_destroy(it->second.waiting);
  }
  handles.erase(it);
  return 0;
}

int Read(const char* path, char* buffer, size_t size, off_t offset,
         fuse_file_info* fi) {
  const uint64_t generation = model->Generation(path);
  std::string contents;
  if (int err = model->Read(path, &contents); err != 0) return err;
  {
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles.find(fi->fh);
    if (it != handles.end()) it->second.seen = generation;
  }
  if (static_cast<size_t>(offset) >= contents.size()) return 0;
  const size_t n = std::min(size, contents.size() - offset);
  std::memcpy(buffer, contents.data() + offset, n);
  return static_cast<int>(n);
}

int Write(const char* path, const char* buffer, size_t size, off_t,
          fuse_file_info*) {
  const int err = model->Write(path, std::string(buffer, size));
  return err != 0 ? err : static_cast<int>(size);
}

int Truncate(const char* path, off_t, fuse_file_info*) {
  return model->Find(path) ? 0 : -ENOENT;
}

// sysfs semantics: POLLERR|POLLPRI once the attribute changed since this
// handle last read it.
int Poll(const char* path, fuse_file_info* fi, fuse_pollhandle* ph,
         unsigned* revents) {
  {
    // Register first: a change after the generation is read below then
    // notifies this handle.
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles.find(fi->fh);
    if (it == handles.end()) {
      if (ph != nullptr) fuse_pollhandle_destroy(ph);
      return -EBADF;
    }
    if (ph != nullptr) {
      if (it->second.waiting != nullptr) {
        fuse_pollhandle_destroy(it->second.waiting);
      }
      it->second.waiting = ph;
    }
  }
  const uint64_t generation = model->Generation(path);
  std::lock_guard<std::mutex> lock(handles_mu);
  auto it = handles.find(fi->fh);
  if (it != handles.end() && generation != 0 && generation != it->second.seen) {
    *revents |= POLLPRI | POLLERR;
  }
  return 0;
}

int Fail(const std::string& message) {
  std::cerr << "fake_kernel: " << message << "\n";
  return 2;
}

}  // namespace
}  // namespace pil::fakekernel

int main(int argc, char** argv) {
  using namespace pil::fakekernel;
  std::string mount, dtb_path;
  Options options;
  std::vector<std::string> running;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag, std::string* out) {
      const std::string prefix = std::string(flag) + "=";
      if (!absl::StartsWith(arg, prefix)) return false;
      *out = arg.substr(prefix.size());
      return true;
    };
    std::string v;
    if (value("--mount", &mount) || value("--dtb", &dtb_path) ||
        value("--firmware-dir", &options.firmware_dir)) {
      continue;
    }
    if (value("--running", &v)) {
      running.push_back(v);
    } else if (value("--boot-ms", &v) &&
               absl::SimpleAtoi(v, &options.boot_ms)) {
    } else if (value("--ready-timeout-ms", &v) &&
               absl::SimpleAtoi(v, &options.ready_timeout_ms)) {
    } else if (arg == "--no-guards") {
      options.guards = false;
    } else if (arg == "--no-notify") {
      options.notify = false;
    } else {
      return Fail("unknown argument " + arg);
    }
  }
  if (mount.empty() || dtb_path.empty() || options.firmware_dir.empty()) {
    return Fail("needs --mount, --dtb and --firmware-dir");
  }
  auto dtb = pil::ReadFile(dtb_path, size_t{64} << 20);
  if (!dtb.ok()) return Fail(std::string(dtb.status().message()));
  auto board = pil::devicetree::Discover(*dtb);
  if (!board.ok()) return Fail(std::string(board.status().message()));
  Model the_model(*board, *dtb, options, running);
  model = &the_model;
  the_model.OnChange(Notify);

  fuse_operations ops = {};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.release = Release;
  ops.read = Read;
  ops.write = Write;
  ops.truncate = Truncate;
  ops.poll = Poll;
  std::vector<std::string> args = {"fake_kernel", "-f", mount};
  std::vector<char*> fuse_argv;
  for (std::string& a : args) fuse_argv.push_back(a.data());
  const int status = fuse_main(static_cast<int>(fuse_argv.size()),
                               fuse_argv.data(), &ops, nullptr);
  the_model.OnChange(nullptr);
  return status;
}
