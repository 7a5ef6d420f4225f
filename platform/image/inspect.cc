#include "platform/image/inspect.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"

namespace pil::image {
namespace {

constexpr absl::string_view kVersionKey = "QC_IMAGE_VERSION_STRING=";

std::string Hex(uint64_t v) { return absl::StrCat("0x", absl::Hex(v)); }

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

// The version string in `data`, or "".
std::string FindVersion(absl::string_view data) {
  size_t at = data.find(kVersionKey);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = data.substr(at + kVersionKey.size(), 256);
  size_t end = 0;
  while (end < rest.size() && rest[end] >= 0x20 && rest[end] < 0x7f) ++end;
  return std::string(rest.substr(0, end));
}

std::string RoleOf(const FirmwareImage& image, size_t i) {
  const ProgramHeader& p = image.segments()[i];
  if (i == 0) return "headers";
  if (i == image.hash_index()) return "hash";
  if (p.loadable()) return "load";
  return "other";
}

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

}  // namespace

ImageReport Inspect(const FirmwareImage& image, const InspectOptions& options) {
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

  // Hash every segment with data (and the whole file, when asked), largest
  // first, on the worker threads; the signatures meanwhile on this one.
  const std::string zero(DigestSize(hs->algorithm), '\0');
  std::vector<size_t> order;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    if (i != image.hash_index() && !image.segment_data(i).empty()) {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return image.segment_data(a).size() > image.segment_data(b).size();
  });
  std::vector<char> matches(phdrs.size(), 0);
  std::vector<std::string> versions(phdrs.size());
  const size_t kFileTask = phdrs.size();
  if (options.file_digest) order.insert(order.begin(), kFileTask);
  std::string file_digest;
  ParallelFor(order, options.threads, [&](size_t i) {
    if (i == kFileTask) {
      file_digest = Digest(HashAlgorithm::kSha256, image.main_file());
      return;
    }
    absl::string_view data = image.segment_data(i);
    matches[i] = Digest(hs->algorithm, data) == hs->Entry(i);
    if (phdrs[i].loadable()) versions[i] = FindVersion(data);
  });
  if (options.file_digest) {
    report.file_sha256 = absl::BytesToHexString(file_digest);
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
  for (const SignerBlobs& blobs : hs->signers) {
    SignerVerdict verdict = VerifySigner(blobs, hs->signed_region);
    if (!verdict.signature_ok) {
      Problem p;
      p.reason = "SIGNATURE_INVALID";
      p.message =
          absl::StrCat(blobs.role, " signature: ", verdict.signature_problem);
      p.signer = blobs.role;
      report.problems.push_back(std::move(p));
    }
    if (!verdict.chain_ok) {
      Problem p;
      p.reason = verdict.chain.empty() ? "CERTIFICATE_INVALID" : "CHAIN_BROKEN";
      p.message = absl::StrCat(blobs.role, " chain: ", verdict.chain_problem);
      p.signer = blobs.role;
      p.certificate = verdict.broken_certificate;
      report.problems.push_back(std::move(p));
    }
    report.signers.push_back(std::move(verdict));
  }
  report.identity = IdentityOf(*hs, report.signers);
  return report;
}

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
