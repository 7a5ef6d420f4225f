// Helpers for image tests: signed synthetic images and in-memory split
// files.
#ifndef PILD_TESTS_IMAGE_IMAGE_TESTING_H_
#define PILD_TESTS_IMAGE_IMAGE_TESTING_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signer.h"

namespace pil::image::testing {

// The TEST-ONLY chain of platform/image/testkeys.
const SigningChain& TestChain(SigningChain::Kind kind);

// A signed synthetic image (aborts the test binary if signing fails).
std::string SignedImage(const SignOptions& options,
                        SigningChain::Kind kind = SigningChain::Kind::kRsa,
                        const SyntheticOptions& synth = {});

// Loads `name` from `files` (name -> bytes), reading parts from it too.
absl::StatusOr<FirmwareImage> LoadFromMap(
    const std::string& name, const std::map<std::string, std::string>& files);

// `files` for the split form of `image` named `mdt_name`.
std::map<std::string, std::string> SplitToMap(const FirmwareImage& image,
                                              const std::string& mdt_name);

// `bytes` with the byte at `offset` inverted.
std::string Flipped(std::string bytes, size_t offset);

}  // namespace pil::image::testing

#endif  // PILD_TESTS_IMAGE_IMAGE_TESTING_H_
