#include "client/image_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/enum_text.h"
#include "client/table.h"
#include "common/hex.h"

namespace pil::client {
namespace {

std::string TypeName(uint32_t type) {
  switch (type) {
    case 0:
      return "NULL";
    case 1:
      return "LOAD";
    case 4:
      return "NOTE";
    case 6:
      return "PHDR";
    default:
      return Hex(type);
  }
}

std::string MachineName(uint32_t machine) {
  switch (machine) {
    case 40:
      return "ARM";
    case 94:
      return "Xtensa";
    case 164:
      return "Hexagon";
    case 183:
      return "AArch64";
    default:
      return absl::StrCat("machine ", machine);
  }
}

}  // namespace

std::string ImageReportText(const v1::ImageReport& r) {
  std::string out;
  absl::StrAppend(&out, r.source(), "  (", r.size(), " bytes, ",
                  r.split() ? "split .mdt + .bNN" : "monolithic", ")\n");
  absl::StrAppend(&out, "ELF", r.elf_class(), " ", MachineName(r.machine()),
                  ", entry ", Hex(r.entry()), ", ", r.segments_size(),
                  " program headers\n");
  if (r.load_span() != 0) {
    absl::StrAppend(&out, "load: ", Hex(r.load_base()), " + ",
                    Hex(r.load_span()),
                    r.relocatable() ? " (relocatable" : " (fixed",
                    r.partially_relocatable() ? ", only partly)" : ")", "\n");
  }
  if (r.version() != 0) {
    absl::StrAppend(&out, "hash table: v", r.version(), ", ",
                    EnumText(r.hash_algorithm()), ", ",
                    r.hash_ok() ? "every entry matches" : "MISMATCH", "\n");
  }
  if (!r.image_version().empty()) {
    absl::StrAppend(&out, "version: ", r.image_version(), "\n");
  }
  absl::StrAppend(&out, "metadata sha256: ", r.metadata_sha256(), "\n");
  if (!r.sha256().empty())
    absl::StrAppend(&out, "file sha256: ", r.sha256(), "\n");

  Table table({"#", "TYPE", "FLAGS", "OFFSET", "PADDR", "FILESZ", "MEMSZ",
               "ROLE", "HASH", "FILE"});
  for (const v1::ImageSegment& s : r.segments()) {
    table.AddRow({absl::StrCat(s.index()), TypeName(s.type()),
                  absl::StrCat("0x", absl::Hex(s.flags(), absl::kZeroPad8)),
                  Hex(s.offset()), Hex(s.paddr()), Hex(s.filesz()),
                  Hex(s.memsz()), EnumText(s.role()),
                  r.version() == 0 ? "-" : (s.hash_ok() ? "ok" : "MISMATCH"),
                  s.file()});
  }
  absl::StrAppend(&out, "\n", table.Render());

  for (const v1::Signer& s : r.signers()) {
    absl::StrAppend(&out, "\nsigner ", EnumText(s.role()), ": ",
                    EnumText(s.scheme()), ", signature ",
                    s.signature_ok() ? "ok" : "INVALID", ", chain ",
                    s.chain_ok() ? "ok" : "BROKEN", "\n");
    absl::StrAppend(&out, "  root sha256 (OEM PK hash): ", s.root_sha256(),
                    "\n");
    for (int i = 0; i < s.chain_size(); ++i) {
      const v1::Certificate& c = s.chain(i);
      absl::StrAppend(&out, "  [", i, "] ", c.key(), " ",
                      c.signature_ok() ? "ok" : "BAD SIGNATURE", "  ",
                      c.subject(), "\n");
    }
  }
  if (r.has_identity()) {
    const v1::ImageIdentity& id = r.identity();
    absl::StrAppend(&out, "\nidentity: sw_id ", Hex(id.sw_id()),
                    " (image type ", Hex(id.sw_id() & 0xffffffffu), "), hw_id ",
                    Hex(id.hw_id()), ", oem_id ", Hex(id.oem_id()),
                    ", model_id ", Hex(id.model_id()), ", anti-rollback ",
                    id.anti_rollback_version(), ", debug ", id.debug(), "\n");
  }
  if (r.ok()) {
    absl::StrAppend(&out, "\nverdict: OK\n");
  } else {
    absl::StrAppend(&out, "\nverdict: ", r.problems_size(), " problem",
                    r.problems_size() == 1 ? "" : "s", "\n");
    for (const v1::Problem& p : r.problems()) {
      absl::StrAppend(&out, "  ", p.reason(), ": ", p.message(), "\n");
    }
  }
  return out;
}

void WriteImageReportJson(const v1::ImageReport& r, JsonWriter& json) {
  json.BeginObject();
  json.Key("source").String(r.source());
  json.Key("sha256").String(r.sha256());
  json.Key("metadata_sha256").String(r.metadata_sha256());
  json.Key("size").Uint(r.size());
  json.Key("elf_class").Uint(r.elf_class());
  json.Key("machine").Uint(r.machine());
  json.Key("entry").Uint(r.entry());
  json.Key("split").Bool(r.split());
  json.Key("relocatable").Bool(r.relocatable());
  json.Key("partially_relocatable").Bool(r.partially_relocatable());
  json.Key("load_base").Uint(r.load_base());
  json.Key("load_span").Uint(r.load_span());
  json.Key("version").Uint(r.version());
  json.Key("hash_algorithm").String(EnumText(r.hash_algorithm()));
  json.Key("segments").BeginArray();
  for (const v1::ImageSegment& s : r.segments()) {
    json.BeginObject();
    json.Key("index").Uint(s.index());
    json.Key("type").Uint(s.type());
    json.Key("flags").Uint(s.flags());
    json.Key("offset").Uint(s.offset());
    json.Key("vaddr").Uint(s.vaddr());
    json.Key("paddr").Uint(s.paddr());
    json.Key("filesz").Uint(s.filesz());
    json.Key("memsz").Uint(s.memsz());
    json.Key("role").String(EnumText(s.role()));
    json.Key("loadable").Bool(s.loadable());
    json.Key("hash_ok").Bool(s.hash_ok());
    json.Key("file").String(s.file());
    json.EndObject();
  }
  json.EndArray();
  json.Key("hash_ok").Bool(r.hash_ok());
  json.Key("signers").BeginArray();
  for (const v1::Signer& s : r.signers()) {
    json.BeginObject();
    json.Key("role").String(EnumText(s.role()));
    json.Key("scheme").String(EnumText(s.scheme()));
    json.Key("signature_ok").Bool(s.signature_ok());
    json.Key("chain_ok").Bool(s.chain_ok());
    json.Key("root_sha256").String(s.root_sha256());
    json.Key("chain").BeginArray();
    for (const v1::Certificate& c : s.chain()) {
      json.BeginObject();
      json.Key("subject").String(c.subject());
      json.Key("issuer").String(c.issuer());
      json.Key("key").String(c.key());
      json.Key("signature_ok").Bool(c.signature_ok());
      json.Key("sha256").String(c.sha256());
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.Key("identity");
  if (r.has_identity()) {
    const v1::ImageIdentity& id = r.identity();
    json.BeginObject();
    json.Key("sw_id").Uint(id.sw_id());
    json.Key("hw_id").Uint(id.hw_id());
    json.Key("oem_id").Uint(id.oem_id());
    json.Key("model_id").Uint(id.model_id());
    json.Key("anti_rollback_version").Uint(id.anti_rollback_version());
    json.Key("debug").Uint(id.debug());
    json.EndObject();
  } else {
    json.Null();
  }
  json.Key("image_version").String(r.image_version());
  json.Key("problems").BeginArray();
  for (const v1::Problem& p : r.problems()) {
    json.BeginObject();
    json.Key("reason").String(p.reason());
    json.Key("message").String(p.message());
    json.Key("segment").Int(p.segment());
    json.Key("certificate").Int(p.certificate());
    json.Key("signer").String(EnumText(p.signer()));
    json.EndObject();
  }
  json.EndArray();
  json.Key("ok").Bool(r.ok());
  json.EndObject();
}

}  // namespace pil::client
