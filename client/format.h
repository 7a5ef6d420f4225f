// Coprocessors for people (tables, detail views) and for scripts (JSON).
#ifndef PILD_CLIENT_FORMAT_H_
#define PILD_CLIENT_FORMAT_H_

#include <string>
#include <vector>

#include "client/enum_text.h"
#include "client/json.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::client {

// "offline", "authenticated", ..., "unspecified".
std::string StateName(v1::State state);

// A mapping's permissions as letters: r, w, x, p (privileged), e.g. "rwp".
std::string PermissionsText(const v1::Mapping& mapping);

// "linux" / "hypervisor".
std::string IommuOwnerName(v1::IommuOwner owner);

// "pas" / "video_wrapper" / "qdsp6_registers".
std::string BootMethodName(v1::BootMethod method);

// Writes one coprocessor as a JSON object whose keys are the pil.v1
// Coprocessor field names (docs/CLI.md): node_path, name, kind, soc,
// compatible, dt_status, pas_id, dtb_pas_id, firmware_names,
// firmware_names_default, carveouts, stream_ids, iommu_map, firmware_sid,
// firmware_sid_mask, iommu_owner, boot_method, problems; and, when the state is
// known, state, state_since, crash_count, image, last_error, recovery,
// hardware, support.
void WriteCoprocessorJson(const v1::Coprocessor& c, JsonWriter& json);

// A JSON list of coprocessors, as `pilctl list --json` prints it.
std::string CoprocessorsJson(const std::vector<v1::Coprocessor>& list);

// One line per coprocessor. With `live` the STATE column shows the
// lifecycle state; without it (offline device-tree view) STATUS shows the
// device-tree status.
std::string CoprocessorTable(const std::vector<v1::Coprocessor>& list,
                             bool live);

// Every field of one coprocessor, one per line; for a live coprocessor
// then the hardware view (HardwareLines).
std::string CoprocessorDetail(const v1::Coprocessor& c);

// What the hardware holds: PAS metadata, SHM bridges, a table of SMMU
// mappings (SID, IOVA, physical, size, permissions, owner).
std::string HardwareLines(const v1::HardwareView& hardware);

// Writes "hardware": {metadata_held, bridges, mappings} into an object.
void WriteHardwareJson(const v1::HardwareView& hardware, JsonWriter& json);

// "restart up to 3 times, first after 1s" or "none: stays crashed".
std::string RecoveryText(const v1::RecoveryPolicy& recovery);

// A duration as proto3 JSON writes it: seconds with 0, 3, 6 or 9
// fractional digits and an "s", e.g. "1s", "0.250s", "0.000120s".
std::string DurationJson(const google::protobuf::Duration& d);

// 2026-11-24T02:21:35.242Z
std::string TimestampText(const google::protobuf::Timestamp& t);

}  // namespace pil::client

#endif  // PILD_CLIENT_FORMAT_H_
