// Fuzz target: any sequence of client requests (uploads, Authenticate, Map,
// Reset, Start, Stop with arbitrary fields) driven through request
// validation and the lifecycle engine on a fresh simulated SoC. Besides
// never crashing, every coprocessor that ends a request OFFLINE must hold
// nothing on the hardware: no PAS metadata, running peripheral, SHM bridge
// over its memory, or OS mapping of its stream.
//
// Input: records of [op u8][length u16 LE][payload]. op % 6: 0 upload (the
// payload is the image), 1 Authenticate, 2 Map, 3 Reset, 4 Start, 5 Stop
// (the payload is the serialized pil.v1 request). A request without a
// firmware source uses the latest accepted upload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "platform/devicetree/discovery.h"
#include "platform/image/bytes.h"
#include "platform/pas/pas_backend.h"
#include "platform/sim/boards.h"
#include "platform/sim/soc.h"
#include "server/engine.h"
#include "server/firmware_store.h"
#include "server/history.h"
#include "server/requests.h"

namespace {

using pil::server::State;

[[noreturn]] void Leftover(const std::string& what) {
  std::cerr << "leftover on the hardware: " << what << "\n";
  std::abort();
}

void CheckOfflineAreClean(pil::sim::SimSoc& soc,
                          pil::server::LifecycleEngine& engine) {
  auto hw = soc.Observe();
  if (!hw.ok()) std::abort();
  for (const pil::server::CoprocessorStatus& c : engine.List()) {
    if (c.state != State::kOffline) continue;
    const auto& node = *c.node;
    for (const auto& p : hw->peripherals) {
      if ((p.pas_id == *node.pas_id ||
           (node.dtb_pas_id && p.pas_id == *node.dtb_pas_id)) &&
          (p.state != pil::pas::PasState::kIdle || p.metadata_held)) {
        Leftover(node.name + " PAS state " + pil::pas::PasStateName(p.state));
      }
    }
    auto overlaps = [&](uint64_t base, uint64_t size) {
      for (const auto& r : node.carveouts) {
        if (base < r.base + r.size && r.base < base + size) return true;
      }
      return false;
    };
    for (const auto& b : hw->bridges) {
      if (overlaps(b.base, b.size)) Leftover(node.name + " bridge");
    }
    for (const auto& m : hw->mappings) {
      if (m.owner == pil::platform::MappingOwner::kOs &&
          ((node.firmware_stream && m.sid == node.firmware_stream->sid) ||
           overlaps(m.pa, m.size))) {
        Leftover(node.name + " mapping");
      }
    }
    for (const auto& s : hw->streams) {
      if (s.owner == pil::platform::MappingOwner::kOs && node.firmware_stream &&
          s.sid == node.firmware_stream->sid) {
        Leftover(node.name + " stream");
      }
    }
  }
}

const std::string& BoardDtb() {
  static const std::string* dtb = [] {
    auto blob = pil::sim::BundledBoard(pil::sim::kDefaultBoard);
    if (!blob.ok()) std::abort();
    return new std::string(*blob);
  }();
  return *dtb;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const pil::devicetree::Board* board = [] {
    auto parsed = pil::devicetree::Discover(BoardDtb());
    if (!parsed.ok()) std::abort();
    return new pil::devicetree::Board(std::move(*parsed));
  }();
  pil::sim::v1::Profile profile;
  profile.mutable_timings()->set_boot_ms(1);
  profile.mutable_timings()->set_handover_ms(1);
  profile.mutable_timings()->set_stop_ack_ms(1);
  auto soc = pil::sim::SimSoc::Create(BoardDtb(), profile, "");
  if (!soc.ok()) std::abort();
  pil::server::FirmwareStore store({});
  pil::server::History history;
  pil::server::EngineOptions options;
  options.ready_timeout = absl::Milliseconds(100);
  options.stop_ack_timeout = absl::Milliseconds(100);
  options.recovery.restart = false;
  pil::pas::PasOptions pas;
  pas.verify_threads = 1;
  pil::pas::PasBackend backend(soc->get(), *board, pas);
  pil::server::LifecycleEngine engine(&backend, *board, &store, &history,
                                      options);
  if (!engine.Adopt().ok()) std::abort();

  std::string last_upload;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (int steps = 0; at + 3 <= input.size() && steps < 16; ++steps) {
    const uint8_t op = data[at] % 6;
    const size_t length = pil::image::Le16(input, at + 1);
    at += 3;
    const std::string payload(input.substr(at, length));
    at += payload.size();

    pil::server::CallContext ctx;
    ctx.deadline = absl::Now() + absl::Seconds(2);
    auto source_of = [&](bool has, const pil::v1::FirmwareSource& s)
        -> absl::StatusOr<pil::server::FirmwareSource> {
      auto source = pil::server::SourceOf(has, s);
      if (source.ok() &&
          source->kind == pil::server::FirmwareSource::Kind::kDefault &&
          !last_upload.empty()) {
        return pil::server::FirmwareSource::Upload(last_upload);
      }
      return source;
    };
    auto timeout = [](absl::StatusOr<absl::Duration> d) {
      return d.ok() ? std::min(*d, absl::Milliseconds(100))
                    : absl::ZeroDuration();
    };
    switch (op) {
      case 0: {
        pil::v1::UploadHeader header;
        header.set_name("fuzz.mbn");
        auto shared = std::make_shared<const std::string>(payload);
        auto valid = pil::server::ValidateUpload(header, shared, 1);
        if (valid.ok()) {
          store.AddUpload(valid->sha256, shared);
          last_upload = valid->sha256;
        }
        break;
      }
      case 1: {
        pil::v1::AuthenticateRequest r;
        if (!r.ParseFromString(payload)) break;
        auto source = source_of(r.has_firmware(), r.firmware());
        if (!source.ok() || !pil::server::RequireName(r.name()).ok() ||
            !pil::server::CheckRequestId(r.request_id()).ok()) {
          break;
        }
        ctx.request_id = r.request_id();
        (void)engine.Authenticate(r.name(), *source, ctx);
        break;
      }
      case 2: {
        pil::v1::MapRequest r;
        if (!r.ParseFromString(payload)) break;
        ctx.request_id = r.request_id();
        (void)engine.Map(r.name(), ctx);
        break;
      }
      case 3: {
        pil::v1::ResetRequest r;
        if (!r.ParseFromString(payload)) break;
        ctx.request_id = r.request_id();
        (void)engine.Reset(r.name(),
                           timeout(pil::server::TimeoutOf(
                               r.has_ready_timeout(), r.ready_timeout(), "t")),
                           ctx);
        break;
      }
      case 4: {
        pil::v1::StartRequest r;
        if (!r.ParseFromString(payload)) break;
        auto source = source_of(r.has_firmware(), r.firmware());
        if (!source.ok()) break;
        ctx.request_id = r.request_id();
        (void)engine.Start(r.name(), *source,
                           timeout(pil::server::TimeoutOf(
                               r.has_ready_timeout(), r.ready_timeout(), "t")),
                           ctx);
        break;
      }
      case 5: {
        pil::v1::StopRequest r;
        if (!r.ParseFromString(payload)) break;
        ctx.request_id = r.request_id();
        (void)engine.Stop(r.name(), absl::Milliseconds(100), ctx);
        break;
      }
    }
    CheckOfflineAreClean(**soc, engine);
  }
  return 0;
}
