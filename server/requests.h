// Validation of what clients send, before it reaches the engine: names,
// request ids, timeouts, firmware sources and uploaded images. Every
// failure is INVALID_ARGUMENT (or what the image library reports for an
// image) naming the field, what was expected and what was found.
#ifndef PILD_SERVER_REQUESTS_H_
#define PILD_SERVER_REQUESTS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "platform/image/inspect.h"
#include "proto/pil/v1/lifecycle.pb.h"
#include "server/firmware_store.h"

namespace pil::server {

// Longest coprocessor name accepted (device-tree node names are shorter).
inline constexpr size_t kMaxNameSize = 128;

// MISSING_FIELD when `name` is empty; BAD_NAME when longer than
// kMaxNameSize.
absl::Status RequireName(const std::string& name);

// BAD_REQUEST_ID when longer than 128 bytes.
absl::Status CheckRequestId(const std::string& request_id);

// Zero when unset; BAD_TIMEOUT unless in (0, 1 h].
absl::StatusOr<absl::Duration> TimeoutOf(
    bool has, const google::protobuf::Duration& duration,
    absl::string_view field);

// The default source when unset; a checked firmware name; an upload digest
// of 64 lower-case hex digits (BAD_SHA256).
absl::StatusOr<FirmwareSource> SourceOf(bool has,
                                        const v1::FirmwareSource& source);

bool IsSha256Hex(absl::string_view text);

// OK for an upload's label (header.name): at most 256 characters, no
// control characters; INVALID_ARGUMENT (UPLOAD_NAME_INVALID) otherwise.
absl::Status CheckUploadName(absl::string_view name);

// An upload that passed validation.
struct ValidatedUpload {
  std::string sha256;  // hex, of the bytes
  image::ImageReport report;
};

// Checks an uploaded image: its SHA-256 against header.sha256 when set
// (DATA_LOSS, UPLOAD_DIGEST_MISMATCH), then that it loads as a monolithic
// image and verifies completely (the image library's reason otherwise).
// The bytes are read in place, never copied.
absl::StatusOr<ValidatedUpload> ValidateUpload(
    const v1::UploadHeader& header,
    const std::shared_ptr<const std::string>& bytes, int verify_threads);

}  // namespace pil::server

#endif  // PILD_SERVER_REQUESTS_H_
