// pilimage: builds, signs, splits and squashes firmware images for tests
// and development. Signing uses TEST-ONLY chains (platform/image/testkeys).
//
//   pilimage synth --base=0x9bb00000 --size=0x200000 OUT.elf
//   pilimage sign --version=7 --chain=ec --sw-id=0xe IN.elf OUT.mbn
//   pilimage split IN.mbn OUTDIR        (OUTDIR/NAME.mdt + NAME.bNN)
//   pilimage squash IN.mdt OUT.mbn
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/args.h"
#include "common/file.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signer.h"

namespace pil::image {
namespace {

constexpr char kUsage[] = R"(usage:
  pilimage synth [--base=ADDR] [--size=BYTES] [--segments=N] [--fixed]
                 [--version-string=TEXT] [--seed=N] [--elf64] OUT.elf
      an unsigned firmware-like ELF: code, data and BSS segments
  pilimage sign [--version=3|5|6|7] [--chain=rsa|ec] [--keys=DIR]
                [--scheme=rsa-pkcs1-sha256-hmac|rsa-pss-sha256|ecdsa-p384-sha384]
                [--sw-id=N] [--hw-id=N] [--oem-id=N] [--model-id=N]
                [--anti-rollback=N] [--debug=N]
                [--defect=hash:N|signature|certificate:N|unsigned]
                IN OUT.mbn
      signs an ELF (or re-signs a signed image) with a TEST-ONLY chain
  pilimage split IN.mbn OUTDIR     writes OUTDIR/NAME.mdt and NAME.bNN
  pilimage squash IN.mdt OUT.mbn   joins an .mdt and its .bNN parts
Numbers are decimal or 0x-hexadecimal.
)";

int Usage(const std::string& message) {
  if (!message.empty()) std::cerr << "pilimage: " << message << "\n\n";
  std::cerr << kUsage;
  return 2;
}

int Fail(const absl::Status& status) {
  std::cerr << "pilimage: " << status.message() << "\n";
  return 1;
}

bool Number(absl::string_view text, uint64_t* out) {
  if (absl::ConsumePrefix(&text, "0x")) return absl::SimpleHexAtoi(text, out);
  return absl::SimpleAtoi(text, out);
}

int Synth(const client::Args& args) {
  SyntheticOptions options;
  uint64_t v = 0;
  for (const auto& [key, value] : args.options) {
    if (key == "fixed") {
      options.relocatable = false;
    } else if (key == "elf64") {
      options.elf_class = 64;
    } else if (key == "version-string") {
      options.version = value;
    } else if (!Number(value, &v)) {
      return Usage(absl::StrCat("--", key, " expects a number"));
    } else if (key == "base") {
      options.base = v;
    } else if (key == "size") {
      options.size = v;
    } else if (key == "segments") {
      options.segments = static_cast<int>(v);
    } else if (key == "seed") {
      options.seed = static_cast<uint32_t>(v);
    } else {
      return Usage(absl::StrCat("synth takes no --", key));
    }
  }
  ElfSpec spec = SyntheticFirmware(options);
  // An unsigned ELF: just the segments, no placeholder or hash segment.
  ElfHeaders headers;
  headers.header.elf_class = spec.elf_class;
  headers.header.type = 2;
  headers.header.machine = spec.machine;
  headers.header.entry = spec.entry;
  headers.header.ehsize = static_cast<uint16_t>(ElfHeaderSize(spec.elf_class));
  headers.header.phoff = headers.header.ehsize;
  headers.header.phentsize = static_cast<uint16_t>(PhdrSize(spec.elf_class));
  headers.header.phnum = static_cast<uint16_t>(spec.segments.size());
  uint64_t offset = 0x1000;
  std::string body;
  for (const SegmentSpec& s : spec.segments) {
    ProgramHeader p;
    p.type = s.type;
    p.flags = s.flags;
    p.vaddr = s.vaddr;
    p.paddr = s.paddr;
    p.memsz = s.memsz;
    p.filesz = s.data.size();
    p.offset = offset + body.size();
    p.align = s.align;
    body += s.data;
    headers.phdrs.push_back(p);
  }
  std::string file = SerializeElfHeaders(headers, 0x1000) + body;
  absl::Status s = WriteFile(args.positional[1], file);
  return s.ok() ? 0 : Fail(s);
}

int Sign(const client::Args& args) {
  SignOptions options;
  SigningChain::Kind kind = SigningChain::Kind::kRsa;
  std::string keys = "platform/image/testkeys";
  uint64_t v = 0;
  for (const auto& [key, value] : args.options) {
    if (key == "chain") {
      if (value != "rsa" && value != "ec") return Usage("--chain is rsa or ec");
      kind = value == "ec" ? SigningChain::Kind::kEc : SigningChain::Kind::kRsa;
    } else if (key == "keys") {
      keys = value;
    } else if (key == "scheme") {
      if (value == "rsa-pkcs1-sha256-hmac") {
        options.scheme = SignatureScheme::kRsaPkcs1Hmac;
      } else if (value == "rsa-pss-sha256") {
        options.scheme = SignatureScheme::kRsaPss;
      } else if (value == "ecdsa-p384-sha384") {
        options.scheme = SignatureScheme::kEcdsaP384;
      } else {
        return Usage(absl::StrCat("unknown scheme ", value));
      }
    } else if (key == "defect") {
      std::pair<std::string, std::string> d =
          absl::StrSplit(value, absl::MaxSplits(':', 1));
      if (d.first == "signature") {
        options.corrupt_signature = true;
      } else if (d.first == "unsigned") {
        options.unsigned_image = true;
      } else if ((d.first == "hash" || d.first == "certificate") &&
                 Number(d.second, &v)) {
        (d.first == "hash" ? options.corrupt_hash_entry
                           : options.corrupt_certificate) = v;
      } else {
        return Usage(absl::StrCat("unknown defect ", value));
      }
    } else if (!Number(value, &v)) {
      return Usage(absl::StrCat("--", key, " expects a number"));
    } else if (key == "version") {
      options.version = static_cast<int>(v);
    } else if (key == "sw-id") {
      options.sw_id = v;
    } else if (key == "hw-id") {
      options.hw_id = v;
    } else if (key == "oem-id") {
      options.oem_id = static_cast<uint32_t>(v);
    } else if (key == "model-id") {
      options.model_id = static_cast<uint32_t>(v);
    } else if (key == "anti-rollback") {
      options.anti_rollback_version = static_cast<uint32_t>(v);
    } else if (key == "debug") {
      options.debug = static_cast<uint32_t>(v);
    } else {
      return Usage(absl::StrCat("sign takes no --", key));
    }
  }
  auto input = ReadFile(args.positional[1], FirmwareImage::kMaxFileSize);
  if (!input.ok()) return Fail(input.status());
  auto spec = ElfSpecFromFile(*input);
  if (!spec.ok()) return Fail(spec.status());
  auto chain = SigningChain::Load(kind, keys);
  if (!chain.ok()) return Fail(chain.status());
  auto mbn = SignImage(*spec, *chain, options);
  if (!mbn.ok()) return Fail(mbn.status());
  absl::Status s = WriteFile(args.positional[2], *mbn);
  return s.ok() ? 0 : Fail(s);
}

int Split(const client::Args& args) {
  auto image = FirmwareImage::LoadFile(args.positional[1]);
  if (!image.ok()) return Fail(image.status());
  auto files = image->Split();
  if (!files.ok()) return Fail(files.status());
  const std::string dir = args.positional[2];
  std::filesystem::create_directories(dir);
  std::string name = image->name();
  if (name.size() > 4) name = name.substr(0, name.size() - 4);
  if (absl::Status s =
          WriteFile(absl::StrCat(dir, "/", name, ".mdt"), files->mdt);
      !s.ok()) {
    return Fail(s);
  }
  // Part names depend only on the name without its 3-letter extension.
  for (const auto& [part, data] : files->parts) {
    if (absl::Status s = WriteFile(absl::StrCat(dir, "/", part), data);
        !s.ok()) {
      return Fail(s);
    }
  }
  std::cout << dir << "/" << name << ".mdt + " << files->parts.size()
            << " parts\n";
  return 0;
}

int Squash(const client::Args& args) {
  auto image = FirmwareImage::LoadFile(args.positional[1]);
  if (!image.ok()) return Fail(image.status());
  auto mbn = image->Squash();
  if (!mbn.ok()) return Fail(mbn.status());
  absl::Status s = WriteFile(args.positional[2], *mbn);
  return s.ok() ? 0 : Fail(s);
}

int Main(int argc, char** argv) {
  auto args = client::ParseArgs(argc, argv,
                                {{"base", true},
                                 {"size", true},
                                 {"segments", true},
                                 {"fixed", false},
                                 {"version-string", true},
                                 {"seed", true},
                                 {"elf64", false},
                                 {"version", true},
                                 {"chain", true},
                                 {"keys", true},
                                 {"scheme", true},
                                 {"sw-id", true},
                                 {"hw-id", true},
                                 {"oem-id", true},
                                 {"model-id", true},
                                 {"anti-rollback", true},
                                 {"debug", true},
                                 {"defect", true},
                                 {"help", false}});
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (args->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  const std::vector<std::string>& words = args->positional;
  if (words.empty()) return Usage("");
  const std::string& command = words[0];
  const std::map<std::string, std::pair<size_t, int (*)(const client::Args&)>>
      commands = {{"synth", {2, Synth}},
                  {"sign", {3, Sign}},
                  {"split", {3, Split}},
                  {"squash", {3, Squash}}};
  auto it = commands.find(command);
  if (it == commands.end()) return Usage("unknown command " + command);
  if (words.size() != it->second.first) {
    return Usage(
        absl::StrCat(command, " takes ", it->second.first - 1, " argument(s)"));
  }
  return it->second.second(*args);
}

}  // namespace
}  // namespace pil::image

int main(int argc, char** argv) { return pil::image::Main(argc, argv); }
