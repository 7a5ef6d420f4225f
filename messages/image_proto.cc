#include "messages/image_proto.h"

#include "absl/strings/string_view.h"

namespace pil::messages {
namespace {

v1::SegmentRole SegmentRoleToProto(absl::string_view role) {
  if (role == "headers") return v1::SEGMENT_ROLE_HEADERS;
  if (role == "hash") return v1::SEGMENT_ROLE_HASH;
  if (role == "load") return v1::SEGMENT_ROLE_LOAD;
  return v1::SEGMENT_ROLE_OTHER;
}

v1::SignatureScheme SchemeToProto(image::SignatureScheme scheme) {
  switch (scheme) {
    case image::SignatureScheme::kRsaPkcs1Hmac:
      return v1::SIGNATURE_SCHEME_RSA_PKCS1_SHA256_HMAC;
    case image::SignatureScheme::kRsaPss:
      return v1::SIGNATURE_SCHEME_RSA_PSS_SHA256;
    case image::SignatureScheme::kEcdsaP384:
      return v1::SIGNATURE_SCHEME_ECDSA_P384_SHA384;
    case image::SignatureScheme::kUnknown:
      break;
  }
  return v1::SIGNATURE_SCHEME_UNSPECIFIED;
}

v1::SignerRole SignerRoleToProto(absl::string_view role) {
  if (role == "oem") return v1::SIGNER_ROLE_OEM;
  if (role == "qti") return v1::SIGNER_ROLE_QTI;
  return v1::SIGNER_ROLE_UNSPECIFIED;
}

}  // namespace

v1::ImageReport ImageReportToProto(const image::ImageReport& report) {
  v1::ImageReport out;
  out.set_source(report.name);
  out.set_sha256(report.file_sha256);
  out.set_metadata_sha256(report.metadata_sha256);
  out.set_size(report.size);
  out.set_elf_class(static_cast<uint32_t>(report.header.elf_class));
  out.set_machine(report.header.machine);
  out.set_entry(report.header.entry);
  out.set_split(report.split);
  if (report.layout) {
    out.set_relocatable(report.layout->relocatable);
    out.set_partially_relocatable(report.layout->partially_relocatable);
    out.set_load_base(report.layout->min_address);
    out.set_load_span(report.layout->span());
  }
  out.set_version(report.version);
  if (report.version != 0) {
    out.set_hash_algorithm(report.algorithm == image::HashAlgorithm::kSha384
                               ? v1::HASH_ALGORITHM_SHA384
                               : v1::HASH_ALGORITHM_SHA256);
  }
  for (const image::SegmentReport& s : report.segments) {
    v1::ImageSegment* segment = out.add_segments();
    segment->set_index(static_cast<uint32_t>(s.index));
    segment->set_type(s.phdr.type);
    segment->set_flags(s.phdr.flags);
    segment->set_offset(s.phdr.offset);
    segment->set_vaddr(s.phdr.vaddr);
    segment->set_paddr(s.phdr.paddr);
    segment->set_filesz(s.phdr.filesz);
    segment->set_memsz(s.phdr.memsz);
    segment->set_role(SegmentRoleToProto(s.role));
    segment->set_loadable(s.phdr.loadable());
    segment->set_hash_ok(s.hash_ok);
    segment->set_file(s.file);
  }
  out.set_hash_ok(report.hash_ok);
  for (const image::SignerVerdict& v : report.signers) {
    v1::Signer* signer = out.add_signers();
    signer->set_role(SignerRoleToProto(v.role));
    signer->set_scheme(SchemeToProto(v.scheme));
    signer->set_signature_ok(v.signature_ok);
    signer->set_chain_ok(v.chain_ok);
    signer->set_root_sha256(v.root_sha256);
    for (const image::CertificateInfo& c : v.chain) {
      v1::Certificate* cert = signer->add_chain();
      cert->set_subject(c.subject);
      cert->set_issuer(c.issuer);
      cert->set_key(c.key);
      cert->set_signature_ok(c.signature_ok);
      cert->set_sha256(c.sha256);
    }
  }
  if (report.identity.present) {
    v1::ImageIdentity* id = out.mutable_identity();
    id->set_sw_id(report.identity.sw_id);
    id->set_hw_id(report.identity.hw_id);
    id->set_oem_id(report.identity.oem_id);
    id->set_model_id(report.identity.model_id);
    id->set_anti_rollback_version(report.identity.anti_rollback_version);
    id->set_debug(report.identity.debug);
  }
  out.set_image_version(report.image_version);
  for (const image::Problem& p : report.problems) {
    v1::Problem* problem = out.add_problems();
    problem->set_reason(p.reason);
    problem->set_message(p.message);
    problem->set_segment(p.segment);
    problem->set_certificate(p.certificate);
    problem->set_signer(SignerRoleToProto(p.signer));
  }
  out.set_ok(report.ok());
  return out;
}

}  // namespace pil::messages
