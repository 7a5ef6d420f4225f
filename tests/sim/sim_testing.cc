#include "tests/sim/sim_testing.h"

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "platform/image/layout.h"
#include "platform/pas/smmu_rules.h"
#include "platform/sim/boards.h"
#include "tests/testing/realdata.h"

namespace pil::sim::testing {

std::string BundledDtb(const std::string& board) {
  auto dtb = BundledBoard(board);
  if (!dtb.ok()) std::abort();
  return std::string(*dtb);
}

std::unique_ptr<SimSoc> MakeSoc(const std::string& dtb,
                                const v1::Profile& profile) {
  auto soc = SimSoc::Create(dtb, profile, "");
  if (!soc.ok()) {
    std::cerr << "SimSoc::Create: " << soc.status() << "\n";
    std::abort();
  }
  return std::move(*soc);
}

image::FirmwareImage SignedFor(uint64_t base, uint64_t size, uint32_t sw_id,
                               int version, uint32_t anti_rollback_version,
                               bool relocatable) {
  static const image::SigningChain* rsa = nullptr;
  static const image::SigningChain* ec = nullptr;
  const bool use_ec = version == 7;
  const image::SigningChain*& chain = use_ec ? ec : rsa;
  if (chain == nullptr) {
    auto loaded = image::SigningChain::Load(
        use_ec ? image::SigningChain::Kind::kEc
               : image::SigningChain::Kind::kRsa,
        pil::testing::RunfilePath("platform/image/testkeys"));
    if (!loaded.ok()) std::abort();
    chain = new image::SigningChain(std::move(*loaded));
  }
  image::SyntheticOptions synth;
  synth.base = base;
  synth.size = size;
  synth.relocatable = relocatable;
  image::SignOptions options;
  options.version = version;
  options.sw_id = sw_id;
  options.anti_rollback_version = anti_rollback_version;
  auto mbn = image::SignImage(image::SyntheticFirmware(synth), *chain, options);
  if (!mbn.ok()) std::abort();
  auto image = image::FirmwareImage::FromBytes("fw.mbn", *mbn);
  if (!image.ok()) std::abort();
  return std::move(*image);
}

SignalLog::SignalLog(pas::CoprocessorSignals& signals) : signals_(signals) {
  signals_.Subscribe([this](const pas::Signal& s) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(s);
  });
}

SignalLog::~SignalLog() { signals_.Subscribe(nullptr); }

absl::StatusOr<pas::Signal> SignalLog::Next(const std::string& coprocessor,
                                            absl::Duration timeout) {
  struct Has {
    const std::deque<pas::Signal>* queue;
    const std::string* coprocessor;
    bool operator()() const {
      for (const pas::Signal& s : *queue) {
        if (s.coprocessor == *coprocessor) return true;
      }
      return false;
    }
  };
  Has has{&queue_, &coprocessor};
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(&has), timeout)) {
    return absl::DeadlineExceededError("no signal for " + coprocessor);
  }
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->coprocessor == coprocessor) {
      pas::Signal s = *it;
      queue_.erase(it);
      return s;
    }
  }
  return absl::InternalError("signal vanished");
}

absl::Status Boot::Init(const image::FirmwareImage& image) {
  if (absl::Status s =
          platform.secure_world().PasInitImage(pas_id, image.Metadata());
      !s.ok()) {
    return s;
  }
  auto layout = image::ComputeLayout(image.segments());
  if (!layout.ok()) return layout.status();
  if (layout->relocatable) {
    return platform.secure_world().PasMemSetup(pas_id, carveout_base,
                                               layout->span());
  }
  return absl::OkStatus();
}

absl::Status Boot::Copy(const image::FirmwareImage& image) {
  auto layout = image::ComputeLayout(image.segments());
  if (!layout.ok()) return layout.status();
  const uint64_t reloc = image::RelocationBase(*layout, carveout_base);
  for (size_t i : layout->loadable) {
    const image::ProgramHeader& p = image.segments()[i];
    auto memory =
        platform.memory().Map(carveout_base + (p.paddr - reloc), p.memsz);
    if (!memory.ok()) return memory.status();
    absl::string_view data = image.segment_data(i);
    std::memcpy(memory->data(), data.data(), data.size());
    std::memset(memory->data() + data.size(), 0, memory->size() - data.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Boot::MapStream(uint32_t sid, uint32_t mask,
                                         bool video) {
  auto domain = platform.iommu().Attach(sid, mask);
  if (!domain.ok()) return domain.status();
  const pas::FirmwareWindow window =
      pas::FirmwareWindowFor(video ? devicetree::CoprocessorKind::kVideoCodec
                                   : devicetree::CoprocessorKind::kRemoteproc,
                             carveout_base);
  absl::Status mapped = platform.iommu().Map(
      *domain, window.iova, carveout_base, carveout_size, window.prot);
  if (!mapped.ok()) return mapped;
  return *domain;
}

absl::Status Boot::AuthWithBridge() {
  auto bridge =
      platform.secure_world().ShmBridgeCreate(carveout_base, carveout_size);
  if (!bridge.ok()) return bridge.status();
  absl::Status auth = platform.secure_world().PasAuthAndReset(pas_id);
  absl::Status deleted = platform.secure_world().ShmBridgeDelete(*bridge);
  return auth.ok() ? deleted : auth;
}

}  // namespace pil::sim::testing
