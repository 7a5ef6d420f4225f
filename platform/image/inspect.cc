#include "platform/image/inspect.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"

namespace pil::image {
namespace {

constexpr absl::string_view kVersionKey = "QC_IMAGE_VERSION_STRING=";

// Runs fn(i) for i in `order` on `threads` threads (the caller's included).
template <typename Fn>
void ParallelFor(const std::vector<size_t>& order, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < order.size(); k = next++) fn(order[k]);
  };
  const size_t extra =
      std::min<size_t>(order.size() > 0 ? order.size() - 1 : 0,
                       static_cast<size_t>(std::max(threads, 1) - 1));
  std::vector<std::thread> pool;
  pool.reserve(extra);
  for (size_t t = 0; t < extra; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

// Where the version key starts in `data`, or npos. memchr finds the rare
// first letter quickly; the rest is compared in place.
size_t FindVersionKey(absl::string_view data) {
  const char* begin = data.data();
  const char* end = begin + data.size();
  for (const char* p = begin; p < end;) {
    p = static_cast<const char*>(std::memchr(p, kVersionKey[0], end - p));
    if (p == nullptr) break;
    if (static_cast<size_t>(end - p) >= kVersionKey.size() &&
        std::memcmp(p, kVersionKey.data(), kVersionKey.size()) == 0) {
      return static_cast<size_t>(p - begin);
    }
    ++p;
  }
  return absl::string_view::npos;
}

// The version string in `data`, or "".
std::string FindVersion(absl::string_view data) {
  const size_t at = FindVersionKey(data);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = data.substr(at + kVersionKey.size(), 256);
  size_t end = 0;
  while (end < rest.size() && rest[end] >= 0x20 && rest[end] < 0x7f) ++end;
  return std::string(rest.substr(0, end));
}

// Hashes `data` and, when `version` is not null, looks for the version
// string in the same pass, chunk by chunk while the chunk is in cache. With
// `copy_to`, each chunk is copied there first and the copy is what is
// hashed: the bytes that were checked are the bytes that were placed, even
// if the file changes under a mapping of it.
std::string HashAndFindVersion(HashAlgorithm algorithm, absl::string_view data,
                               std::string* version, uint8_t* copy_to) {
  constexpr size_t kChunk = size_t{128} << 10;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(
      ctx, algorithm == HashAlgorithm::kSha384 ? EVP_sha384() : EVP_sha256(),
      nullptr);
  for (size_t at = 0; at < data.size(); at += kChunk) {
    absl::string_view chunk = data.substr(at, kChunk);
    if (copy_to != nullptr) {
      std::memcpy(copy_to + at, chunk.data(), chunk.size());
      chunk = absl::string_view(reinterpret_cast<const char*>(copy_to + at),
                                chunk.size());
    }
    EVP_DigestUpdate(ctx, chunk.data(), chunk.size());
    if (version != nullptr && version->empty()) {
      // Overlap the previous chunk so a key across the boundary is found.
      const size_t from =
          at >= kVersionKey.size() ? at - kVersionKey.size() : 0;
      *version = FindVersion(data.substr(from, at - from + chunk.size() + 256));
    }
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, out, &length);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string RoleOf(const FirmwareImage& image, size_t i) {
  const ProgramHeader& p = image.segments()[i];
  if (i == 0) return "headers";
  if (i == image.hash_index()) return "hash";
  if (p.loadable()) return "load";
  return "other";
}

}  // namespace

ImageIdentity IdentityOf(const HashSegment& hs,
                         const std::vector<SignerVerdict>& signers) {
  ImageIdentity id;
  if (hs.version == 3 || hs.version == 5) {
    // Prefer the OEM signer's attestation certificate.
    const SignerVerdict* chosen = nullptr;
    for (const SignerVerdict& s : signers) {
      if (s.attestation.count("SW_ID") && (!chosen || s.role == "oem")) {
        chosen = &s;
      }
    }
    if (chosen == nullptr) return id;
    auto field = [&](const char* name) -> uint64_t {
      auto it = chosen->attestation.find(name);
      return it == chosen->attestation.end() ? 0 : it->second;
    };
    id.present = true;
    id.sw_id = field("SW_ID");
    id.hw_id = field("HW_ID");
    id.oem_id = static_cast<uint32_t>(field("OEM_ID"));
    id.model_id = static_cast<uint32_t>(field("MODEL_ID"));
    id.debug = static_cast<uint32_t>(field("DEBUG"));
    id.anti_rollback_version = static_cast<uint32_t>(id.sw_id >> 32);
  } else if (hs.version == 6) {
    const auto& md =
        hs.oem_metadata_v6 ? hs.oem_metadata_v6 : hs.qti_metadata_v6;
    if (!md) return id;
    id.present = true;
    id.sw_id = md->sw_id;
    id.hw_id = md->hw_id;
    id.oem_id = md->oem_id;
    id.model_id = md->model_id;
    id.anti_rollback_version = md->anti_rollback_version;
    id.debug = (md->flags >> 8) & 3;
  } else if (hs.version == 7 && hs.common_metadata_v7) {
    id.present = true;
    id.sw_id = hs.common_metadata_v7->software_id;
    if (hs.oem_metadata_v7) {
      id.hw_id = hs.oem_metadata_v7->jtag_id;
      id.oem_id = hs.oem_metadata_v7->oem_id;
      id.model_id = hs.oem_metadata_v7->oem_product_id;
      id.anti_rollback_version = hs.oem_metadata_v7->anti_rollback_version;
    }
  }
  return id;
}

std::string ReportKey(const FirmwareImage& image,
                      const InspectOptions& options) {
  const std::string identity = image.identity();
  if (identity.empty()) return "";
  // The metadata commits to every segment's hash: a different image under
  // an identity the filesystem's coarse timestamps did not change is still
  // another key.
  return absl::StrCat(
      identity, "|", image.name(), "|",
      absl::BytesToHexString(Digest(HashAlgorithm::kSha256, image.Metadata())),
      "|",
      options.carveout ? absl::StrCat(Hex(options.carveout->first), "+",
                                      Hex(options.carveout->second))
                       : "-",
      options.file_digest ? "|digest" : "");
}

namespace {
// With `verified` (the cached report of this unchanged image), segments are
// only copied: that report is returned unless a copy fails.
ImageReport InspectUncached(const FirmwareImage& image,
                            const InspectOptions& options,
                            const ImageReport* verified = nullptr);
}  // namespace

ImageReport Inspect(const FirmwareImage& image, const InspectOptions& options) {
  const std::string key =
      options.cache != nullptr ? ReportKey(image, options) : "";
  if (key.empty()) return InspectUncached(image, options);
  if (!options.destination || options.copy_if_verified) {
    if (auto hit = options.cache->Find(key)) {
      hit->from_cache = true;
      if (!options.destination) return *std::move(hit);
      if (hit->ok()) return InspectUncached(image, options, &*hit);
    }
  }
  ImageReport report = InspectUncached(image, options);
  if (!options.destination || report.ok()) options.cache->Put(key, report);
  return report;
}

namespace {

ImageReport InspectUncached(const FirmwareImage& image,
                            const InspectOptions& options,
                            const ImageReport* verified) {
  ImageReport report;
  report.name = image.name();
  report.size = image.file_size();
  report.header = image.header();
  report.split = image.split();
  const std::vector<ProgramHeader>& phdrs = image.segments();
  auto add = [&report](std::string reason, std::string message,
                       int segment = -1) {
    Problem p;
    p.reason = std::move(reason);
    p.message = std::move(message);
    p.segment = segment;
    report.problems.push_back(std::move(p));
  };

  auto layout = ComputeLayout(phdrs);
  if (layout.ok()) {
    report.layout = *layout;
    if (options.carveout) {
      absl::Status fits = CheckFitsCarveout(
          *layout, phdrs, options.carveout->first, options.carveout->second);
      if (!fits.ok()) {
        auto meta = MetadataOf(fits);
        int segment = -1;
        if (meta.count("segment") &&
            !absl::SimpleAtoi(meta["segment"], &segment)) {
          segment = -1;
        }
        add(ReasonOf(fits), std::string(fits.message()), segment);
      }
    }
  } else {
    add(ReasonOf(layout.status()), std::string(layout.status().message()));
  }

  const std::string metadata = image.Metadata();
  report.metadata_sha256 =
      absl::BytesToHexString(Digest(HashAlgorithm::kSha256, metadata));

  for (size_t i = 0; i < phdrs.size(); ++i) {
    SegmentReport segment;
    segment.index = i;
    segment.phdr = phdrs[i];
    segment.role = RoleOf(image, i);
    if (image.split() && i != 0 && !image.segment_data(i).empty()) {
      segment.file = image.PartName(i);
    }
    report.segments.push_back(std::move(segment));
  }

  auto hs =
      ParseHashSegment(image.segment_data(image.hash_index()), phdrs.size());
  if (!hs.ok()) {
    add(ReasonOf(hs.status()), std::string(hs.status().message()),
        static_cast<int>(image.hash_index()));
    return report;
  }
  report.version = hs->version;
  report.algorithm = hs->algorithm;

  // One task per segment with data (hash it), per signer step (signature,
  // each certificate) and, when asked, for the file digest; the most
  // expensive first, on the worker threads.
  const std::string zero(DigestSize(hs->algorithm), '\0');
  std::vector<std::unique_ptr<SignerCheck>> checks;
  for (const SignerBlobs& blobs : hs->signers) {
    checks.push_back(std::make_unique<SignerCheck>(blobs, hs->signed_region));
  }
  struct Task {
    enum Kind { kSegment, kZero, kSigner, kFile } kind;
    size_t index;
    size_t step;
    double cost;  // ~ KiB hashed
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const size_t size = image.segment_data(i).size();
    if (i != image.hash_index() && size != 0) {
      tasks.push_back({Task::kSegment, i, 0, size / 1024.0});
    } else if (options.destination && phdrs[i].loadable() && size == 0 &&
               !(report.layout &&
                 std::binary_search(report.layout->subsumed.begin(),
                                    report.layout->subsumed.end(), i))) {
      // BSS only: zeroed (about ten times cheaper than hashing); a subsumed
      // one lies in a tail another task zeroes.
      tasks.push_back({Task::kZero, i, 0, phdrs[i].memsz / 10240.0});
    }
  }
  for (size_t c = 0; c < checks.size(); ++c) {
    for (size_t step = 0; step < checks[c]->steps(); ++step) {
      tasks.push_back({Task::kSigner, c, step, checks[c]->cost(step)});
    }
  }
  if (options.file_digest) {
    tasks.push_back({Task::kFile, 0, 0, image.main_file().size() / 1024.0});
  }
  std::vector<size_t> order(tasks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tasks[a].cost > tasks[b].cost;
  });
  std::vector<char> matches(phdrs.size(), 0);
  std::vector<std::string> versions(phdrs.size());
  std::vector<absl::Status> copies(phdrs.size());
  std::string file_digest;
  // With a destination, the metadata is checked first (every signature and
  // chain), and nothing is copied for an image whose metadata fails.
  std::vector<SignerVerdict> verdicts(checks.size());
  bool place = static_cast<bool>(options.destination);
  const auto clear = [&options](absl::Span<uint8_t> span) {
    if (options.zero) {
      options.zero(span);
    } else {
      std::memset(span.data(), 0, span.size());
    }
  };
  if (place) {
    std::vector<size_t> signer_order, rest;
    for (size_t t : order) {
      (tasks[t].kind == Task::kSigner ? signer_order : rest).push_back(t);
    }
    if (verified != nullptr) signer_order.clear();
    ParallelFor(signer_order, options.threads,
                [&](size_t t) { checks[tasks[t].index]->Run(tasks[t].step); });
    place = !checks.empty() || verified != nullptr;
    for (size_t c = 0; verified == nullptr && c < checks.size(); ++c) {
      verdicts[c] = checks[c]->Finish();
      place = place && verdicts[c].signature_ok && verdicts[c].chain_ok;
    }
    order = std::move(rest);
  }
  ParallelFor(order, options.threads, [&](size_t t) {
    const Task& task = tasks[t];
    switch (task.kind) {
      case Task::kSegment: {
        const size_t i = task.index;
        const absl::string_view data = image.segment_data(i);
        uint8_t* copy_to = nullptr;
        if (place && phdrs[i].loadable()) {
          auto span = options.destination(i);
          if (!span.ok()) {
            copies[i] = span.status();
          } else if (span->size() < data.size()) {
            copies[i] = absl::InvalidArgumentError("destination too small");
          } else {
            copy_to = span->data();
            clear(span->subspan(data.size()));
          }
        }
        if (verified != nullptr) {
          if (copy_to != nullptr) {
            std::memcpy(copy_to, data.data(), data.size());
          }
          break;
        }
        matches[i] =
            HashAndFindVersion(hs->algorithm, data,
                               phdrs[i].loadable() ? &versions[i] : nullptr,
                               copy_to) == hs->Entry(i);
        break;
      }
      case Task::kZero: {
        if (!place) break;
        auto span = options.destination(task.index);
        if (span.ok()) {
          clear(*span);
        } else {
          copies[task.index] = span.status();
        }
        break;
      }
      case Task::kSigner:
        checks[task.index]->Run(task.step);
        break;
      case Task::kFile:
        file_digest = Digest(HashAlgorithm::kSha256, image.main_file());
        break;
    }
  });
  if (options.file_digest) {
    report.file_sha256 = absl::BytesToHexString(file_digest);
  }

  for (size_t i = 0; i < phdrs.size(); ++i) {
    if (!copies[i].ok()) {
      add(ReasonOf(copies[i]).empty() ? "COPY_FAILED" : ReasonOf(copies[i]),
          absl::StrCat("cannot place segment ", i, ": ", copies[i].message()),
          static_cast<int>(i));
    }
  }
  if (verified != nullptr) {
    if (!report.problems.empty()) return report;
    return *verified;
  }
  report.hash_ok = true;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const bool has_data =
        i != image.hash_index() && !image.segment_data(i).empty();
    const bool ok = has_data ? matches[i] != 0 : hs->Entry(i) == zero;
    report.segments[i].hash_ok = ok;
    if (ok) {
      if (report.image_version.empty()) report.image_version = versions[i];
      continue;
    }
    report.hash_ok = false;
    add("HASH_MISMATCH",
        has_data
            ? absl::StrCat("segment ", i, " (",
                           Hex(image.segment_data(i).size()), " bytes at ",
                           Hex(phdrs[i].offset),
                           ") does not match hash-table entry ", i, " (",
                           HashAlgorithmName(hs->algorithm), ")")
            : absl::StrCat("hash-table entry ", i,
                           " must be zero (the segment has no file data or "
                           "is the hash segment)"),
        static_cast<int>(i));
  }

  if (hs->signers.empty()) {
    add("SIGNATURE_MISSING",
        "the hash segment carries no signature: the image is not signed");
  }
  for (size_t c = 0; c < checks.size(); ++c) {
    SignerVerdict verdict =
        // Placing, the verdicts were taken before the segments.
        options.destination ? std::move(verdicts[c]) : checks[c]->Finish();
    const std::string& role = hs->signers[c].role;
    if (!verdict.signature_ok) {
      Problem p;
      p.reason = "SIGNATURE_INVALID";
      p.message = absl::StrCat(role, " signature: ", verdict.signature_problem);
      p.signer = role;
      report.problems.push_back(std::move(p));
    }
    if (!verdict.chain_ok) {
      Problem p;
      p.reason =
          verdict.chain_unparsable ? "CERTIFICATE_INVALID" : "CHAIN_BROKEN";
      p.message = absl::StrCat(role, " chain: ", verdict.chain_problem);
      p.signer = role;
      p.certificate = verdict.broken_certificate;
      report.problems.push_back(std::move(p));
    }
    report.signers.push_back(std::move(verdict));
  }
  report.identity = IdentityOf(*hs, report.signers);
  return report;
}

}  // namespace

absl::Status ReportStatus(const ImageReport& report) {
  if (report.ok()) return absl::OkStatus();
  const Problem& p = report.problems.front();
  const bool trust =
      p.reason == "SIGNATURE_INVALID" || p.reason == "CHAIN_BROKEN" ||
      p.reason == "CERTIFICATE_INVALID" || p.reason == "SIGNATURE_MISSING";
  ErrorMetadata metadata = {{"image", report.name}};
  if (p.segment >= 0) metadata["segment"] = absl::StrCat(p.segment);
  if (p.certificate >= 0) metadata["certificate"] = absl::StrCat(p.certificate);
  if (!p.signer.empty()) metadata["signer"] = p.signer;
  return Error(trust ? absl::StatusCode::kPermissionDenied
                     : absl::StatusCode::kInvalidArgument,
               p.reason, absl::StrCat(report.name, ": ", p.message), metadata);
}

}  // namespace pil::image
