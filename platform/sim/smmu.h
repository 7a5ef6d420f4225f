// A model of an Arm SMMU-500 as Qualcomm SoCs use it: stream-match entries
// (ID/mask) routing streams to context banks, each a set of 4 KiB-granular
// translations with read/write/no-exec/privileged permissions, and a record
// of faults. Not thread-safe: the SoC model serializes access.
#ifndef PILD_PLATFORM_SIM_SMMU_H_
#define PILD_PLATFORM_SIM_SMMU_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/pas/hardware.h"

namespace pil::sim {

class SmmuModel {
 public:
  using Owner = platform::MappingOwner;

  // A context bank for stream (sid, mask). SMR_CONFLICT when the entry
  // overlaps one that exists (any overlap: two entries matching one stream
  // ID would be a stream-match conflict). Returns the context bank index.
  absl::StatusOr<uint32_t> Attach(uint32_t sid, uint32_t mask, Owner owner);
  // Frees the context bank and its translations.
  absl::Status Detach(uint32_t bank);
  absl::Status Map(uint32_t bank, uint64_t iova, uint64_t pa, uint64_t size,
                   uint32_t prot);
  absl::StatusOr<uint64_t> Unmap(uint32_t bank, uint64_t iova, uint64_t size);

  struct Access {
    uint32_t sid = 0;
    uint64_t iova = 0;
    bool write = false;
    bool exec = false;
    bool privileged = false;
  };
  struct Result {
    bool ok = false;
    uint64_t pa = 0;
    platform::FaultKind fault = platform::FaultKind::kTranslation;  // !ok
  };
  // Translates one access; a fault is recorded (with `coprocessor`).
  Result Translate(const Access& access, const std::string& coprocessor);

  // The bank routing `sid`, if any, and who owns it.
  bool Routes(uint32_t sid, Owner* owner = nullptr) const;

  std::vector<pas::HardwareState::Mapping> Mappings() const;
  std::vector<pas::HardwareState::Stream> Streams() const;
  const std::vector<pas::HardwareState::Fault>& faults() const {
    return faults_;
  }

 private:
  struct Translation {
    uint64_t size = 0;
    uint64_t pa = 0;
    uint32_t prot = 0;
  };
  struct Bank {
    uint32_t sid = 0, mask = 0;
    Owner owner = Owner::kOs;
    std::map<uint64_t, Translation> translations;  // by iova
  };
  absl::StatusOr<Bank*> Find(uint32_t bank);

  std::map<uint32_t, Bank> banks_;
  uint32_t next_bank_ = 0;
  std::vector<pas::HardwareState::Fault> faults_;
};

}  // namespace pil::sim

#endif  // PILD_PLATFORM_SIM_SMMU_H_
