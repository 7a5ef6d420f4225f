// Fuzz target: firmware names a client sends, resolved by the firmware
// store in a directory that holds images, a split image, FIFOs and links
// within and out of it. Besides never crashing or blocking, a name the
// store refuses as malformed is never looked up, and nothing from outside
// the directory is ever loaded.
//
// Input: the name.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/file.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signer.h"
#include "server/firmware_store.h"

namespace {

struct Tree {
  std::string root, secret;
};

// The directory (made once): fw/ is the firmware directory.
const Tree& Setup() {
  static const Tree* tree = [] {
    auto* t = new Tree;
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ =
        std::string(base ? base : "/tmp") + "/store-fuzz.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    t->root = templ;
    const std::string fw = t->root + "/fw";
    std::filesystem::create_directories(fw + "/qcom/sub");
    // Signed by a chain made here: the store reads, it does not verify.
    auto chain = pil::image::SigningChain::Generate(
        pil::image::SigningChain::Kind::kRsa, "fuzz");
    if (!chain.ok()) std::abort();
    auto make = [&](uint32_t seed) {
      pil::image::SyntheticOptions synth;
      synth.base = 0x9bb00000;
      synth.size = 0x20000;
      synth.seed = seed;
      auto bytes = pil::image::SignImage(pil::image::SyntheticFirmware(synth),
                                         *chain, pil::image::SignOptions());
      if (!bytes.ok()) std::abort();
      auto image = pil::image::FirmwareImage::FromBytes("x.mbn", *bytes);
      if (!image.ok()) std::abort();
      return std::move(*image);
    };
    auto image = make(1);
    t->secret = std::string(make(2).main_file());
    auto write = [](const std::string& path, const std::string& bytes) {
      if (!pil::WriteFile(path, bytes).ok()) std::abort();
    };
    write(fw + "/qcom/a.mbn", std::string(image.main_file()));
    write(t->root + "/secret.mbn", t->secret);
    auto split = image.Split();
    if (!split.ok()) std::abort();
    write(fw + "/qcom/s.mdt", split->mdt);
    write(fw + "/qcom/f.mdt", split->mdt);
    for (const auto& [name, bytes] : split->parts) {
      const std::string part = name.substr(name.size() - 3);
      write(fw + "/qcom/s." + part, bytes);
      // f.mdt's parts are FIFOs: reading one would block forever.
      if (::mkfifo((fw + "/qcom/f." + part).c_str(), 0600) != 0) std::abort();
    }
    if (::mkfifo((fw + "/qcom/fifo.mbn").c_str(), 0600) != 0) std::abort();
    namespace fs = std::filesystem;
    fs::create_symlink("qcom/a.mbn", fw + "/in.mbn");
    fs::create_symlink("../a.mbn", fw + "/qcom/sub/up.mbn");
    fs::create_symlink("../secret.mbn", fw + "/out.mbn");
    fs::create_symlink(t->root + "/secret.mbn", fw + "/abs.mbn");
    fs::create_symlink("..", fw + "/qcom/parent");
    fs::create_symlink("../..", fw + "/qcom/sub/grandparent");
    fs::create_symlink("loop", fw + "/loop");
    fs::create_symlink("/proc/self/root" + t->root + "/secret.mbn",
                       fw + "/magic.mbn");
    return t;
  }();
  return *tree;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tree& tree = Setup();
  const std::string name(reinterpret_cast<const char*>(data), size);
  pil::server::FirmwareStore store({tree.root + "/fw"});
  auto loaded = store.Load(pil::server::FirmwareSource::Named(name));
  const absl::Status valid = pil::server::CheckFirmwareName(name);
  if (!valid.ok() && pil::ReasonOf(loaded.status()) != pil::ReasonOf(valid)) {
    std::abort();  // a malformed name was looked up
  }
  if (loaded.ok() && loaded->main_file() == tree.secret) {
    std::abort();  // read from outside the firmware directory
  }
  return 0;
}
