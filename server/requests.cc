#include "server/requests.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "platform/image/firmware_image.h"
#include "platform/image/signature.h"

namespace pil::server {
namespace {

constexpr absl::Duration kMaxTimeout = absl::Hours(1);

absl::Status Invalid(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message);
}

}  // namespace

absl::Status RequireName(const std::string& name) {
  if (name.empty()) {
    return Invalid("MISSING_FIELD",
                   "name is required: the coprocessor to act on (see "
                   "ListCoprocessors)");
  }
  if (name.size() > kMaxNameSize) {
    return Invalid("BAD_NAME", absl::StrCat("name is ", name.size(),
                                            " bytes; at most ", kMaxNameSize,
                                            " expected (a device-tree node "
                                            "name)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(const std::string& request_id) {
  if (request_id.size() > 128) {
    return Invalid("BAD_REQUEST_ID",
                   absl::StrCat("request_id is ", request_id.size(),
                                " bytes; at most 128 expected"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> TimeoutOf(
    bool has, const google::protobuf::Duration& duration,
    absl::string_view field) {
  if (!has) return absl::ZeroDuration();
  const absl::Duration d =
      absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
  if (d <= absl::ZeroDuration() || d > kMaxTimeout) {
    return Error(absl::StatusCode::kInvalidArgument, "BAD_TIMEOUT",
                 absl::StrCat(field, " must be positive and at most 1h; got ",
                              absl::FormatDuration(d)),
                 {{"field", std::string(field)}});
  }
  return d;
}

bool IsSha256Hex(absl::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

absl::StatusOr<FirmwareSource> SourceOf(bool has,
                                        const v1::FirmwareSource& source) {
  if (!has) return FirmwareSource();
  switch (source.source_case()) {
    case v1::FirmwareSource::kFirmwareName:
      if (absl::Status s = CheckFirmwareName(source.firmware_name()); !s.ok()) {
        return s;
      }
      return FirmwareSource::Named(source.firmware_name());
    case v1::FirmwareSource::kUploadSha256:
      if (!IsSha256Hex(source.upload_sha256())) {
        return Invalid(
            "BAD_SHA256",
            absl::StrCat("upload_sha256 must be 64 lower-case hex "
                         "digits; got '",
                         absl::CHexEscape(source.upload_sha256()), "'"));
      }
      return FirmwareSource::Upload(source.upload_sha256());
    case v1::FirmwareSource::SOURCE_NOT_SET:
      break;
  }
  return FirmwareSource();
}

absl::Status CheckUploadName(absl::string_view name) {
  auto invalid = [&](absl::string_view why) {
    return Error(
        absl::StatusCode::kInvalidArgument, "UPLOAD_NAME_INVALID",
        absl::StrCat("header.name '", absl::CHexEscape(name.substr(0, 64)),
                     "' ", why, "; expected a label of printable characters"));
  };
  if (name.size() > 256) return invalid("is longer than 256 characters");
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return invalid("contains a control character");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ValidatedUpload> ValidateUpload(
    const v1::UploadHeader& header,
    const std::shared_ptr<const std::string>& bytes, int verify_threads) {
  ValidatedUpload out;
  out.sha256 = absl::BytesToHexString(
      image::Digest(image::HashAlgorithm::kSha256, *bytes));
  if (!header.sha256().empty() && header.sha256() != out.sha256) {
    return Error(absl::StatusCode::kDataLoss, "UPLOAD_DIGEST_MISMATCH",
                 absl::StrCat("the received bytes have SHA-256 ", out.sha256,
                              "; the header announced ",
                              absl::CHexEscape(header.sha256())),
                 {{"expected", header.sha256()}, {"found", out.sha256}});
  }
  const std::string display = absl::CHexEscape(header.name());
  auto image = image::FirmwareImage::FromShared(
      absl::StrCat("upload:", out.sha256),
      SharedBytes(bytes, absl::StrCat("upload:", out.sha256)));
  if (!image.ok()) return Annotate(image.status(), display);
  image::InspectOptions options;
  options.threads = verify_threads;
  out.report = image::Inspect(*image, options);
  if (!out.report.ok()) {
    return Annotate(image::ReportStatus(out.report),
                    absl::StrCat(display, " rejected"));
  }
  return out;
}

}  // namespace pil::server
