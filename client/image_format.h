// Image inspection reports for people (text) and scripts (JSON).
#ifndef PILD_CLIENT_IMAGE_FORMAT_H_
#define PILD_CLIENT_IMAGE_FORMAT_H_

#include <string>

#include "client/json.h"
#include "proto/pil/v1/lifecycle.pb.h"

namespace pil::client {

// The ELF summary, segment table with hash verdicts, signers and chains,
// identity, and the problems, if any.
std::string ImageReportText(const v1::ImageReport& report);

// Keys: source, sha256, metadata_sha256, size, elf_class, machine, entry,
// split, relocatable, load_base, load_span, version, hash_algorithm,
// segments (index, type, flags, offset, vaddr, paddr, filesz, memsz, role,
// loadable, hash_ok, file), hash_ok, signers (role, scheme, signature_ok,
// chain_ok, root_sha256, chain), identity, image_version, problems, ok.
void WriteImageReportJson(const v1::ImageReport& report, JsonWriter& json);

}  // namespace pil::client

#endif  // PILD_CLIENT_IMAGE_FORMAT_H_
