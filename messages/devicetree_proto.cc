#include "messages/devicetree_proto.h"

namespace pil::messages {

v1::Coprocessor CoprocessorFromNode(const devicetree::CoprocessorNode& node) {
  v1::Coprocessor out;
  out.set_name(node.name);
  out.set_node_path(node.path);
  for (const std::string& c : node.compatible) out.add_compatible(c);
  out.set_soc(node.soc);
  out.set_kind(node.kind == devicetree::CoprocessorKind::kVideoCodec
                   ? v1::COPROCESSOR_KIND_VIDEO_CODEC
                   : v1::COPROCESSOR_KIND_REMOTEPROC);
  if (node.pas_id) out.set_pas_id(*node.pas_id);
  if (node.dtb_pas_id) out.set_dtb_pas_id(*node.dtb_pas_id);
  for (const std::string& f : node.firmware_names) out.add_firmware_names(f);
  out.set_firmware_names_default(node.firmware_names_default);
  for (const devicetree::CarveoutRange& c : node.carveouts) {
    v1::MemoryRegion* region = out.add_carveouts();
    region->set_base(c.base);
    region->set_size(c.size);
    region->set_node_path(c.node_path);
    region->set_dynamically_placed(c.dynamic);
  }
  for (const devicetree::StreamId& s : node.iommus) {
    v1::StreamId* id = out.add_stream_ids();
    id->set_sid(s.sid);
    id->set_mask(s.mask);
    id->set_smmu_path(s.smmu_path);
  }
  for (const devicetree::IommuMapEntry& e : node.iommu_map) {
    v1::IommuMapEntry* entry = out.add_iommu_map();
    entry->set_function_id(e.function_id);
    entry->set_smmu_path(e.smmu_path);
    entry->set_sid_base(e.sid_base);
    entry->set_length(e.length);
  }
  if (node.firmware_stream) {
    out.set_firmware_sid(node.firmware_stream->sid);
    out.set_firmware_sid_mask(node.firmware_stream->mask);
  }
  out.set_iommu_owner(node.iommu_owner == devicetree::IommuOwner::kLinux
                          ? v1::IOMMU_OWNER_LINUX
                          : v1::IOMMU_OWNER_HYPERVISOR);
  switch (node.boot) {
    case devicetree::BootMethod::kPas:
      out.set_boot_method(v1::BOOT_METHOD_PAS);
      break;
    case devicetree::BootMethod::kVideoWrapper:
      out.set_boot_method(v1::BOOT_METHOD_VIDEO_WRAPPER);
      break;
    case devicetree::BootMethod::kQdsp6Registers:
      out.set_boot_method(v1::BOOT_METHOD_QDSP6_REGISTERS);
      break;
  }
  out.set_dt_status(node.status);
  for (const std::string& p : node.problems) out.add_problems(p);
  return out;
}

}  // namespace pil::messages
