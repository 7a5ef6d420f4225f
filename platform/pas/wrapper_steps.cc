// PasCoprocessor without TrustZone: a video codec the OS boots through its
// wrapper (BootMethod::kVideoWrapper).
//
// Nothing but pild checks such an image, so Authenticate requires what the
// secure world would have: a hash table every segment matches, a signature
// that verifies under its attestation certificate, and a chain that
// verifies to its root (platform/verify.h). What it cannot require is that
// the root is the SoC's fused one: without a secure world no fuse says
// which; the root's digest is in the step's detail and the audit trail.
// It also enforces what the OS's loader enforces: the span fits the
// carveout and is at most 6 MiB.
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/image/layout.h"
#include "platform/pas/pas_coprocessor.h"

namespace pil::pas {
namespace {

// The most codec firmware the OS loads without TrustZone.
constexpr uint64_t kMaxWrapperFirmware = uint64_t{6} << 20;

}  // namespace

using platform::Steps;

absl::Status PasCoprocessor::CheckWrapperSpan(const image::FirmwareImage& image,
                                              Steps& steps) {
  auto layout = image::ComputeLayout(image.segments());
  if (!layout.ok()) return Annotate(layout.status(), image.name());
  if (layout->span() > kMaxWrapperFirmware) {
    return Error(
        absl::StatusCode::kInvalidArgument, "IMAGE_TOO_LARGE",
        absl::StrCat(image.name(), " spans ", Hex(layout->span()),
                     " bytes; a codec booted without TrustZone loads at most ",
                     Hex(kMaxWrapperFirmware)),
        {{"expected", Hex(kMaxWrapperFirmware)},
         {"found", Hex(layout->span())}});
  }
  steps.Note(absl::StrCat("span ", Hex(layout->span()), " within the ",
                          Hex(kMaxWrapperFirmware),
                          " a codec loads without TrustZone"));
  return absl::OkStatus();
}

absl::Status PasCoprocessor::WrapperReset(Steps& steps) {
  VideoWrapper& wrapper = hw_.video_wrapper();
  const uint32_t size =
      static_cast<uint32_t>(PageAlignUp(node_.carveouts[0].size));
  if (absl::Status s = steps.Step(
          "wrapper_program",
          [&](std::string* d) {
            // The firmware and CPA ranges cover the mapped carveout (IOVA
            // 0 up); the non-pixel range is empty; clocks ungated.
            const std::pair<uint32_t, uint32_t> writes[] = {
                {kWrapperFwStart, 0},        {kWrapperFwEnd, size},
                {kWrapperCpaStart, 0},       {kWrapperCpaEnd, size},
                {kWrapperNonpixStart, size}, {kWrapperNonpixEnd, size},
                {kWrapperCpuCgcDis, 0},      {kWrapperCpuClockConfig, 0},
            };
            for (const auto& [offset, value] : writes) {
              if (absl::Status st =
                      wrapper.WrapperWrite(node_.path, offset, value);
                  !st.ok()) {
                return st;
              }
            }
            *d = absl::StrCat("firmware range [0, ", Hex(size), ")");
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  return steps.Step("wrapper_release_reset", [&](std::string* d) {
    *d = "A9SS_SW_RESET cleared";
    // Claimed first: a write that failed may still have taken effect, and
    // asserting reset again is harmless.
    ClaimWrapperReset();
    return wrapper.WrapperWrite(node_.path, kWrapperA9ssSwReset, 0);
  });
}

void PasCoprocessor::ClaimWrapperReset() {
  Claim claim;
  claim.kind = Claim::Kind::kRunning;
  claims_.Add(claim, "wrapper_assert_reset", "A9SS_SW_RESET bit 4 set",
              [this]() -> absl::Status {
                VideoWrapper& wrapper = hw_.video_wrapper();
                auto value =
                    wrapper.WrapperRead(node_.path, kWrapperA9ssSwReset);
                if (!value.ok()) return value.status();
                return wrapper.WrapperWrite(node_.path, kWrapperA9ssSwReset,
                                            *value | kWrapperA9ssResetBit);
              });
}

std::optional<bool> PasCoprocessor::WrapperOutOfReset() {
  auto value = hw_.video_wrapper().WrapperRead(node_.path, kWrapperA9ssSwReset);
  if (!value.ok()) return std::nullopt;
  return (*value & kWrapperA9ssResetBit) == 0;
}

}  // namespace pil::pas
