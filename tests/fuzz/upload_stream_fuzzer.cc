// Fuzz target: the messages of an UploadFirmware stream as a client sends
// them, assembled by UploadStream against a byte budget. Besides never
// crashing, the stream never holds more than its header announced, an
// accepted upload is exactly the announced size, and the budget is whole
// again once the stream is gone.
//
// Input: records of [length u16 LE][serialized UploadFirmwareRequest];
// the stream finishes after the last one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "proto/pil/v1/lifecycle.pb.h"
#include "server/quota.h"
#include "server/upload_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kMax = 4 << 20;
  pil::server::Quota budget("bytes of uploads in flight",
                            "UPLOAD_BUDGET_EXHAUSTED", 2 * kMax, kMax);
  {
    pil::server::UploadStream stream(kMax, &budget, "uid:1000");
    bool failed = false;
    size_t at = 0;
    while (!failed && at + 2 <= size) {
      const size_t length = data[at] | (data[at + 1] << 8);
      at += 2;
      const size_t n = length < size - at ? length : size - at;
      pil::v1::UploadFirmwareRequest message;
      if (!message.ParseFromArray(data + at, static_cast<int>(n))) break;
      at += n;
      failed = !stream.Take(message).ok();
      const bool over_announced =
          stream.has_header() && stream.received() > stream.header().size();
      const bool over_limit = stream.received() > kMax;
      if (over_announced || over_limit) std::abort();
    }
    if (!failed) {
      auto bytes = stream.Finish();
      if (bytes.ok() && (*bytes)->size() != stream.header().size()) {
        std::abort();
      }
    }
    if (budget.in_use() > kMax) std::abort();
  }
  if (budget.in_use() != 0) std::abort();  // a ticket outlived its stream
  return 0;
}
