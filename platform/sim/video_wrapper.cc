// SimSoc: the wrapper registers of a video codec the OS boots without the
// secure world. Releasing the A9SS reset boots the codec, which runs the
// firmware range the wrapper names (FW_START..FW_END, IOVAs of its
// stream); setting the reset bit stops it at once.
#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/page.h"
#include "platform/sim/soc.h"
#include "platform/sim/soc_internal.h"

namespace pil::sim {

absl::Status SimSoc::CheckWrapper(const Core* core,
                                  absl::string_view coprocessor,
                                  uint32_t offset) {
  if (core == nullptr) {
    return Error(absl::StatusCode::kNotFound, "UNKNOWN_COPROCESSOR",
                 absl::StrCat("no coprocessor ", coprocessor));
  }
  if (core->wrapper.empty()) {
    return Error(absl::StatusCode::kNotFound, "NO_WRAPPER",
                 absl::StrCat(core->node.name,
                              " has no wrapper the OS drives: the secure "
                              "world boots it"));
  }
  if (core->wrapper.count(offset) == 0) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_REGISTER",
                 absl::StrCat("wrapper offset ", Hex(offset),
                              " names no register of ", core->node.name));
  }
  return absl::OkStatus();
}

absl::Status SimSoc::WrapperWrite(absl::string_view coprocessor,
                                  uint32_t offset, uint32_t value) {
  absl::MutexLock lock(&mu_);
  Core* core = FindCore(coprocessor);
  if (absl::Status s = CheckWrapper(core, coprocessor, offset); !s.ok()) {
    return s;
  }
  uint32_t& reg = core->wrapper[offset];
  const uint32_t before = reg;
  reg = value;
  if (offset != pas::kWrapperA9ssSwReset) return absl::OkStatus();
  const bool was_held = (before & pas::kWrapperA9ssResetBit) != 0;
  const bool held = (value & pas::kWrapperA9ssResetBit) != 0;
  if (was_held && !held) {
    ReleaseReset(*core);
  } else if (!was_held && held) {
    core->state = pas::CoreState::kOff;
    ++core->generation;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> SimSoc::WrapperRead(absl::string_view coprocessor,
                                             uint32_t offset) {
  absl::MutexLock lock(&mu_);
  Core* core = FindCore(coprocessor);
  if (absl::Status s = CheckWrapper(core, coprocessor, offset); !s.ok()) {
    return s;
  }
  return core->wrapper[offset];
}

bool SimSoc::FetchWrapperRange(Core& core) {
  const uint64_t start = core.wrapper[pas::kWrapperFwStart];
  const uint64_t end = core.wrapper[pas::kWrapperFwEnd];
  if (end <= start) {
    Crash(core, pas::SignalKind::kFatal,
          absl::StrCat("fatal error: the wrapper's firmware range [",
                       Hex(start), ", ", Hex(end),
                       ") is empty; FW_START/FW_END were not programmed"));
    return false;
  }
  const uint64_t base = core.node.carveouts[0].base;
  for (uint64_t iova = start & ~(kPageSize - 1); iova < end;
       iova += kPageSize) {
    uint64_t got = 0;
    if (!Fetch(core, iova, false, true, "firmware", &got)) return false;
    const uint64_t expected = base + (iova - core.window.iova);
    if (got != expected) {
      Crash(core, pas::SignalKind::kFatal,
            absl::StrCat("fatal error: iova ", Hex(iova), " translates to ",
                         Hex(got), ", not the firmware at ", Hex(expected)));
      return false;
    }
  }
  return true;
}

}  // namespace pil::sim
