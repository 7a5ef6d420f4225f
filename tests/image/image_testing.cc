#include "tests/image/image_testing.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "tests/testing/realdata.h"

namespace pil::image::testing {

const SigningChain& TestChain(SigningChain::Kind kind) {
  static const SigningChain* rsa = nullptr;
  static const SigningChain* ec = nullptr;
  const SigningChain*& chain = kind == SigningChain::Kind::kEc ? ec : rsa;
  if (chain == nullptr) {
    auto loaded = SigningChain::Load(
        kind, pil::testing::RunfilePath("platform/image/testkeys"));
    if (!loaded.ok()) {
      std::cerr << "cannot load test keys: " << loaded.status() << "\n";
      std::abort();
    }
    chain = new SigningChain(std::move(*loaded));
  }
  return *chain;
}

std::string SignedImage(const SignOptions& options, SigningChain::Kind kind,
                        const SyntheticOptions& synth) {
  auto mbn = SignImage(SyntheticFirmware(synth), TestChain(kind), options);
  if (!mbn.ok()) {
    std::cerr << "signing failed: " << mbn.status() << "\n";
    std::abort();
  }
  return *mbn;
}

absl::StatusOr<FirmwareImage> LoadFromMap(
    const std::string& name, const std::map<std::string, std::string>& files) {
  auto main = files.find(name);
  if (main == files.end()) return absl::NotFoundError(name);
  FileReader read = [&files](absl::string_view part,
                             size_t) -> absl::StatusOr<SharedBytes> {
    auto it = files.find(std::string(part));
    if (it == files.end()) {
      return Error(absl::StatusCode::kNotFound, "FILE_NOT_FOUND",
                   absl::StrCat("no file ", part));
    }
    return SharedBytes(it->second);
  };
  return FirmwareImage::Load(name, SharedBytes(main->second), read);
}

std::map<std::string, std::string> SplitToMap(const FirmwareImage& image,
                                              const std::string& mdt_name) {
  auto split = image.Split();
  if (!split.ok()) std::abort();
  std::map<std::string, std::string> files = {{mdt_name, split->mdt}};
  const std::string stem = mdt_name.substr(0, mdt_name.size() - 3);
  for (const auto& [part, data] : split->parts) {
    files[stem + part.substr(part.size() - 3)] = data;
  }
  return files;
}

std::string Flipped(std::string bytes, size_t offset) {
  bytes[offset] = static_cast<char>(~bytes[offset]);
  return bytes;
}

}  // namespace pil::image::testing
