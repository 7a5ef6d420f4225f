// Fuzz target: image loading (monolithic and split), hash-segment parsing,
// signature and chain verification, layout, split and squash must never
// crash or read out of bounds, whatever the bytes.
//
// Input: a mode byte, then
//   mode even: one .mbn;
//   mode odd:  u32 LE length of the .mdt, the .mdt, then the .bNN parts
//              served in order, each prefixed with a u16 LE length.
#include <cstddef>
#include <cstdint>
#include <string>

#include "platform/image/bytes.h"
#include "platform/image/firmware_image.h"
#include "platform/image/inspect.h"
#include "tests/fuzz/guarded_buffer.h"

namespace {

void Exercise(const pil::image::FirmwareImage& image) {
  pil::image::InspectOptions options;
  options.threads = 1;
  options.carveout = std::make_pair(uint64_t{0x9bb00000}, uint64_t{0x700000});
  pil::image::ImageReport report = pil::image::Inspect(image, options);
  (void)pil::image::ReportStatus(report);
  (void)image.Metadata();
  (void)image.Split();
  (void)image.Squash();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  pil::fuzz::GuardedBuffer buffer(data + 1, size - 1);
  absl::string_view input = buffer.view();
  if ((data[0] & 1) == 0) {
    auto image =
        pil::image::FirmwareImage::FromBytes("fw.mbn", std::string(input));
    if (image.ok()) Exercise(*image);
    return 0;
  }
  if (input.size() < 4) return 0;
  const size_t mdt_size =
      std::min<size_t>(pil::image::Le32(input, 0), input.size() - 4);
  const std::string mdt(input.substr(4, mdt_size));
  absl::string_view parts = input.substr(4 + mdt_size);
  pil::image::FileReader read =
      [&parts](absl::string_view,
               size_t max_size) -> absl::StatusOr<pil::SharedBytes> {
    if (parts.size() < 2) return absl::NotFoundError("no more parts");
    const size_t length =
        std::min<size_t>(pil::image::Le16(parts, 0), parts.size() - 2);
    std::string part(parts.substr(2, std::min(length, max_size)));
    parts.remove_prefix(2 + length);
    return pil::SharedBytes(std::move(part));
  };
  auto image =
      pil::image::FirmwareImage::Load("fw.mdt", pil::SharedBytes(mdt), read);
  if (image.ok()) Exercise(*image);
  return 0;
}
