#include "common/error.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pil {
namespace {

constexpr absl::string_view kReasonUrl = "pild/reason";
constexpr absl::string_view kMetadataPrefix = "pild/metadata/";

}  // namespace

absl::Status Error(absl::StatusCode code, absl::string_view reason,
                   absl::string_view message, const ErrorMetadata& metadata) {
  absl::Status status(code, message);
  status.SetPayload(kReasonUrl, absl::Cord(reason));
  for (const auto& [key, value] : metadata) {
    status.SetPayload(absl::StrCat(kMetadataPrefix, key), absl::Cord(value));
  }
  return status;
}

std::string ReasonOf(const absl::Status& status) {
  auto reason = status.GetPayload(kReasonUrl);
  return reason ? std::string(*reason) : std::string();
}

ErrorMetadata MetadataOf(const absl::Status& status) {
  ErrorMetadata metadata;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (absl::StartsWith(url, kMetadataPrefix)) {
      metadata[std::string(url.substr(kMetadataPrefix.size()))] =
          std::string(value);
    }
  });
  return metadata;
}

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  absl::Status annotated(status.code(),
                         absl::StrCat(prefix, ": ", status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    annotated.SetPayload(url, value);
  });
  return annotated;
}

absl::Status WithMetadata(absl::Status status, absl::string_view key,
                          absl::string_view value) {
  if (!status.ok()) {
    status.SetPayload(absl::StrCat(kMetadataPrefix, key), absl::Cord(value));
  }
  return status;
}

}  // namespace pil
