#include "client/format.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/table.h"
#include "common/hex.h"

namespace pil::client {
namespace {

std::string Range(uint64_t base, uint64_t size) {
  return absl::StrCat(Hex(base), "+", Hex(size));
}

std::string FirmwareSid(const v1::Coprocessor& c) {
  if (!c.has_firmware_sid()) return "-";
  std::string sid = Hex(c.firmware_sid());
  if (c.firmware_sid_mask() != 0) {
    absl::StrAppend(&sid, "/", Hex(c.firmware_sid_mask()));
  }
  return sid;
}

std::string KindName(v1::CoprocessorKind kind) {
  switch (kind) {
    case v1::COPROCESSOR_KIND_REMOTEPROC:
      return "remoteproc";
    case v1::COPROCESSOR_KIND_VIDEO_CODEC:
      return "video_codec";
    default:
      return "unspecified";
  }
}

}  // namespace

std::string TimestampText(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(
      "%Y-%m-%dT%H:%M:%E3SZ",
      absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()),
      absl::UTCTimeZone());
}

std::string DurationJson(const google::protobuf::Duration& d) {
  const bool negative = d.seconds() < 0 || d.nanos() < 0;
  const uint64_t seconds = d.seconds() < 0
                               ? 0 - static_cast<uint64_t>(d.seconds())
                               : static_cast<uint64_t>(d.seconds());
  const uint32_t nanos =
      static_cast<uint32_t>(d.nanos() < 0 ? -d.nanos() : d.nanos());
  std::string fraction;
  if (nanos % 1000000 == 0 && nanos != 0) {
    fraction = absl::StrFormat(".%03u", nanos / 1000000);
  } else if (nanos % 1000 == 0 && nanos != 0) {
    fraction = absl::StrFormat(".%06u", nanos / 1000);
  } else if (nanos != 0) {
    fraction = absl::StrFormat(".%09u", nanos);
  }
  return absl::StrCat(negative ? "-" : "", seconds, fraction, "s");
}

std::string RecoveryText(const v1::RecoveryPolicy& r) {
  if (!r.restart()) return "none: stays crashed";
  return absl::StrCat(
      "restart up to ", r.max_restarts(), " times, first after ",
      absl::FormatDuration(absl::Seconds(r.initial_backoff().seconds()) +
                           absl::Nanoseconds(r.initial_backoff().nanos())));
}

void WriteHardwareJson(const v1::HardwareView& hardware, JsonWriter& json) {
  json.Key("hardware").BeginObject();
  json.Key("metadata_held").Bool(hardware.metadata_held());
  json.Key("bridges").BeginArray();
  for (const v1::ShmBridge& b : hardware.bridges()) {
    json.BeginObject();
    json.Key("handle").Uint(b.handle());
    json.Key("base").Uint(b.base());
    json.Key("size").Uint(b.size());
    json.EndObject();
  }
  json.EndArray();
  json.Key("mappings").BeginArray();
  for (const v1::Mapping& m : hardware.mappings()) {
    json.BeginObject();
    json.Key("sid").Uint(m.sid());
    json.Key("iova").Uint(m.iova());
    json.Key("physical_address").Uint(m.physical_address());
    json.Key("size").Uint(m.size());
    json.Key("permissions").BeginArray();
    for (int p : m.permissions()) {
      json.String(EnumText(static_cast<v1::MappingPermission>(p)));
    }
    json.EndArray();
    json.Key("owner").String(EnumText(m.owner()));
    json.EndObject();
  }
  json.EndArray();
  if (hardware.has_remoteproc()) {
    json.Key("remoteproc").BeginObject();
    json.Key("device").String(hardware.remoteproc().device());
    json.Key("state").String(hardware.remoteproc().state());
    json.Key("firmware").String(hardware.remoteproc().firmware());
    json.EndObject();
  }
  json.EndObject();
}

std::string HardwareLines(const v1::HardwareView& hardware) {
  if (hardware.has_remoteproc()) {
    // The kernel holds metadata, bridges and mappings out of sight.
    const v1::Remoteproc& r = hardware.remoteproc();
    return absl::StrCat("remoteproc:   ", r.device(), " ", r.state(),
                        r.firmware().empty() ? "" : ", firmware ", r.firmware(),
                        "\n");
  }
  std::string out = absl::StrCat(
      "PAS metadata: ", hardware.metadata_held() ? "held" : "none", "\n");
  if (hardware.bridges().empty()) {
    absl::StrAppend(&out, "SHM bridges:  none\n");
  } else {
    for (const v1::ShmBridge& b : hardware.bridges()) {
      absl::StrAppend(&out, "SHM bridge:   ", Hex(b.handle()), " over ",
                      Range(b.base(), b.size()), "\n");
    }
  }
  if (hardware.mappings().empty()) {
    absl::StrAppend(&out, "SMMU:         no mappings\n");
  } else {
    Table table({"SID", "IOVA", "PHYSICAL", "SIZE", "PERM", "BY"});
    for (const v1::Mapping& m : hardware.mappings()) {
      table.AddRow({Hex(m.sid()), Hex(m.iova()), Hex(m.physical_address()),
                    Hex(m.size()), PermissionsText(m), EnumText(m.owner())});
    }
    absl::StrAppend(&out, "SMMU mappings:\n");
    for (absl::string_view line :
         absl::StrSplit(table.Render(), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&out, "  ", line, "\n");
    }
  }
  return out;
}

std::string StateName(v1::State state) {
  if (state == v1::STATE_UNSPECIFIED) return "unspecified";
  absl::string_view name = v1::State_Name(state);
  absl::ConsumePrefix(&name, "STATE_");
  return absl::AsciiStrToLower(name);
}

std::string PermissionsText(const v1::Mapping& mapping) {
  std::string out;
  for (int p : mapping.permissions()) {
    switch (p) {
      case v1::MAPPING_PERMISSION_READ:
        out += 'r';
        break;
      case v1::MAPPING_PERMISSION_WRITE:
        out += 'w';
        break;
      case v1::MAPPING_PERMISSION_EXECUTE:
        out += 'x';
        break;
      case v1::MAPPING_PERMISSION_PRIVILEGED:
        out += 'p';
        break;
      default:
        out += '?';
    }
  }
  return out;
}

std::string IommuOwnerName(v1::IommuOwner owner) {
  switch (owner) {
    case v1::IOMMU_OWNER_LINUX:
      return "linux";
    case v1::IOMMU_OWNER_HYPERVISOR:
      return "hypervisor";
    default:
      return "unspecified";
  }
}

std::string BootMethodName(v1::BootMethod method) {
  switch (method) {
    case v1::BOOT_METHOD_PAS:
      return "pas";
    case v1::BOOT_METHOD_VIDEO_WRAPPER:
      return "video_wrapper";
    case v1::BOOT_METHOD_QDSP6_REGISTERS:
      return "qdsp6_registers";
    default:
      return "unspecified";
  }
}

void WriteCoprocessorJson(const v1::Coprocessor& c, JsonWriter& json) {
  json.BeginObject();
  json.Key("node_path").String(c.node_path());
  json.Key("name").String(c.name());
  json.Key("kind").String(KindName(c.kind()));
  json.Key("soc").String(c.soc());
  json.Key("compatible").BeginArray();
  for (const std::string& s : c.compatible()) json.String(s);
  json.EndArray();
  json.Key("dt_status").String(c.dt_status());
  json.Key("pas_id");
  if (c.pas_id() != 0) {
    json.Uint(c.pas_id());
  } else {
    json.Null();
  }
  json.Key("dtb_pas_id");
  if (c.has_dtb_pas_id()) {
    json.Uint(c.dtb_pas_id());
  } else {
    json.Null();
  }
  json.Key("firmware_names").BeginArray();
  for (const std::string& s : c.firmware_names()) json.String(s);
  json.EndArray();
  json.Key("firmware_names_default").Bool(c.firmware_names_default());
  json.Key("carveouts").BeginArray();
  for (const v1::MemoryRegion& r : c.carveouts()) {
    json.BeginObject();
    json.Key("base").Uint(r.base());
    json.Key("size").Uint(r.size());
    json.Key("node_path").String(r.node_path());
    json.Key("dynamically_placed").Bool(r.dynamically_placed());
    json.EndObject();
  }
  json.EndArray();
  json.Key("stream_ids").BeginArray();
  for (const v1::StreamId& s : c.stream_ids()) {
    json.BeginObject();
    json.Key("sid").Uint(s.sid());
    json.Key("mask").Uint(s.mask());
    json.Key("smmu_path").String(s.smmu_path());
    json.EndObject();
  }
  json.EndArray();
  json.Key("iommu_map").BeginArray();
  for (const v1::IommuMapEntry& e : c.iommu_map()) {
    json.BeginObject();
    json.Key("function_id").Uint(e.function_id());
    json.Key("sid_base").Uint(e.sid_base());
    json.Key("length").Uint(e.length());
    json.Key("smmu_path").String(e.smmu_path());
    json.EndObject();
  }
  json.EndArray();
  json.Key("firmware_sid");
  if (c.has_firmware_sid()) {
    json.Uint(c.firmware_sid());
  } else {
    json.Null();
  }
  json.Key("firmware_sid_mask").Uint(c.firmware_sid_mask());
  json.Key("iommu_owner").String(IommuOwnerName(c.iommu_owner()));
  json.Key("boot_method").String(BootMethodName(c.boot_method()));
  json.Key("problems").BeginArray();
  for (const std::string& p : c.problems()) json.String(p);
  json.EndArray();
  if (c.state() != v1::STATE_UNSPECIFIED) {
    json.Key("state").String(StateName(c.state()));
    json.Key("state_since").String(TimestampText(c.state_since()));
    json.Key("crash_count").Uint(c.crash_count());
    json.Key("image");
    if (c.has_image()) {
      const v1::LoadedImage& image = c.image();
      json.BeginObject();
      json.Key("source").String(image.source());
      json.Key("sha256").String(image.sha256());
      json.Key("version").String(image.version());
      json.Key("hash_table_version").Uint(image.hash_table_version());
      json.Key("sw_id").Uint(image.sw_id());
      json.Key("anti_rollback_version").Uint(image.anti_rollback_version());
      json.EndObject();
    } else {
      json.Null();
    }
    json.Key("last_error");
    if (c.has_last_error()) {
      const v1::ErrorSummary& error = c.last_error();
      json.BeginObject();
      json.Key("reason").String(error.reason());
      json.Key("message").String(error.message());
      json.Key("operation").String(EnumText(error.operation()));
      json.Key("time").String(TimestampText(error.time()));
      json.EndObject();
    } else {
      json.Null();
    }
    json.Key("recovery").BeginObject();
    json.Key("restart").Bool(c.recovery().restart());
    json.Key("max_restarts").Uint(c.recovery().max_restarts());
    json.Key("initial_backoff")
        .String(DurationJson(c.recovery().initial_backoff()));
    json.EndObject();
    WriteHardwareJson(c.hardware(), json);
    json.Key("support").BeginObject();
    json.Key("backend").String(EnumText(c.support().backend()));
    json.Key("drivable").Bool(c.support().drivable());
    json.Key("separate_steps").Bool(c.support().separate_steps());
    json.Key("reason").String(c.support().reason());
    json.EndObject();
  }
  json.EndObject();
}

std::string CoprocessorsJson(const std::vector<v1::Coprocessor>& list) {
  JsonWriter json;
  json.BeginArray();
  for (const v1::Coprocessor& c : list) WriteCoprocessorJson(c, json);
  json.EndArray();
  return json.str();
}

std::string CoprocessorTable(const std::vector<v1::Coprocessor>& list,
                             bool live) {
  // On the linux backend each coprocessor is a remoteproc of the kernel.
  const bool remoteprocs =
      live && std::any_of(list.begin(), list.end(), [](const auto& c) {
        return c.hardware().has_remoteproc();
      });
  std::vector<std::string> columns = {"NAME",     live ? "STATE" : "STATUS",
                                      "PAS",      "IOMMU",
                                      "BOOT",     "FW SID",
                                      "CARVEOUT", "FIRMWARE"};
  if (remoteprocs) columns.push_back("REMOTEPROC");
  Table table(columns);
  for (const v1::Coprocessor& c : list) {
    std::string carveout = c.carveouts().empty() ? "-"
                                                 : Range(c.carveouts(0).base(),
                                                         c.carveouts(0).size());
    if (!c.carveouts().empty() && c.carveouts(0).dynamically_placed()) {
      absl::StrAppend(&carveout, "*");  // placed at boot (see status)
    }
    std::string firmware =
        c.firmware_names().empty() ? "-" : c.firmware_names(0);
    if (c.firmware_names_default()) absl::StrAppend(&firmware, " (default)");
    if (!c.problems().empty()) {
      absl::StrAppend(&firmware, " [", c.problems_size(), " problem",
                      c.problems_size() == 1 ? "" : "s", "]");
    }
    std::vector<std::string> row = {
        c.name(),
        live ? StateName(c.state()) : c.dt_status(),
        c.pas_id() != 0 ? absl::StrCat(c.pas_id()) : "?",
        IommuOwnerName(c.iommu_owner()),
        BootMethodName(c.boot_method()),
        FirmwareSid(c),
        carveout,
        firmware};
    if (remoteprocs) {
      row.push_back(c.hardware().has_remoteproc()
                        ? c.hardware().remoteproc().device()
                        : "- (not a remoteproc)");
    }
    table.AddRow(row);
  }
  return table.Render();
}

std::string CoprocessorDetail(const v1::Coprocessor& c) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("name", c.name());
  rows.emplace_back("node", c.node_path());
  rows.emplace_back("compatible", absl::StrJoin(c.compatible(), ", "));
  rows.emplace_back("kind", KindName(c.kind()));
  rows.emplace_back("soc", c.soc().empty() ? "-" : c.soc());
  if (c.state() != v1::STATE_UNSPECIFIED) {
    rows.emplace_back("state", absl::StrCat(StateName(c.state()), " since ",
                                            TimestampText(c.state_since())));
  }
  rows.emplace_back("dt status", c.dt_status());
  rows.emplace_back("pas id",
                    c.pas_id() != 0 ? absl::StrCat(c.pas_id()) : "unknown");
  if (c.has_dtb_pas_id()) {
    rows.emplace_back("dtb pas id", absl::StrCat(c.dtb_pas_id()));
  }
  rows.emplace_back(
      "firmware",
      absl::StrCat(absl::StrJoin(c.firmware_names(), ", "),
                   c.firmware_names_default() ? " (driver default)" : ""));
  for (int i = 0; i < c.carveouts_size(); ++i) {
    const v1::MemoryRegion& r = c.carveouts(i);
    rows.emplace_back(
        absl::StrCat("carveout ", i),
        absl::StrCat(Range(r.base(), r.size()), "  ", r.node_path(),
                     r.dynamically_placed() ? "  (placed at boot)" : ""));
  }
  for (const v1::StreamId& s : c.stream_ids()) {
    rows.emplace_back(
        "iommus", absl::StrCat("sid ", Hex(s.sid()), " mask ", Hex(s.mask()),
                               "  ", s.smmu_path()));
  }
  for (const v1::IommuMapEntry& e : c.iommu_map()) {
    rows.emplace_back("iommu-map",
                      absl::StrCat("function ", e.function_id(), " -> sid ",
                                   Hex(e.sid_base()), " (", e.length(), ")  ",
                                   e.smmu_path()));
  }
  rows.emplace_back("firmware sid", FirmwareSid(c));
  rows.emplace_back("iommu owner", IommuOwnerName(c.iommu_owner()));
  rows.emplace_back("boot", BootMethodName(c.boot_method()));
  if (c.state() != v1::STATE_UNSPECIFIED) {
    const v1::BackendSupport& support = c.support();
    rows.emplace_back(
        "backend",
        absl::StrCat(
            EnumText(support.backend()), ": ",
            !support.drivable()        ? "cannot drive it ("
            : support.separate_steps() ? "start, stop, or step by step"
                                       : "start and stop only (",
            support.reason(),
            support.drivable() && support.separate_steps() ? "" : ")"));
    rows.emplace_back("crashes", absl::StrCat(c.crash_count()));
    rows.emplace_back("recovery", RecoveryText(c.recovery()));
  }
  if (c.has_image()) {
    const v1::LoadedImage& image = c.image();
    rows.emplace_back("image", image.source());
    rows.emplace_back("image sha256", image.sha256());
    rows.emplace_back(
        "image identity",
        absl::StrCat("hash table v", image.hash_table_version(), ", sw id ",
                     Hex(image.sw_id()), ", anti-rollback ",
                     image.anti_rollback_version(),
                     image.version().empty() ? "" : ", ", image.version()));
  }
  if (c.has_last_error()) {
    const v1::ErrorSummary& e = c.last_error();
    rows.emplace_back("last error",
                      absl::StrCat(e.reason(), " (", EnumText(e.operation()),
                                   ", ", TimestampText(e.time()), ")"));
    rows.emplace_back("", e.message());
  }
  for (const std::string& p : c.problems()) rows.emplace_back("problem", p);

  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out;
  for (const auto& [key, value] : rows) {
    absl::StrAppend(&out, key, key.empty() ? " " : ":",
                    std::string(width - key.size() + 2, ' '), value, "\n");
  }
  if (c.state() != v1::STATE_UNSPECIFIED) {
    absl::StrAppend(&out, "\n", HardwareLines(c.hardware()));
  }
  return out;
}

}  // namespace pil::client
