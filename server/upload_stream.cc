#include "server/upload_stream.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "server/requests.h"

namespace pil::server {
namespace {

absl::Status Invalid(absl::string_view reason, absl::string_view message) {
  return Error(absl::StatusCode::kInvalidArgument, reason, message);
}

}  // namespace

absl::Status UploadStream::Fail(absl::Status status) {
  bytes_.clear();
  bytes_.shrink_to_fit();
  return status;
}

absl::Status UploadStream::TakeHeader(
    const v1::UploadFirmwareRequest& message) {
  if (!message.has_header()) {
    return Invalid("UPLOAD_HEADER_MISSING",
                   "the first message of an upload must be its header");
  }
  header_ = message.header();
  has_header_ = true;
  if (absl::Status s = CheckUploadName(header_.name()); !s.ok()) return s;
  if (header_.size() == 0) {
    return Invalid("UPLOAD_EMPTY",
                   "header.size is 0; expected the image's size in bytes");
  }
  if (header_.size() > max_size_) {
    return Error(absl::StatusCode::kResourceExhausted, "UPLOAD_TOO_LARGE",
                 absl::StrCat("the image is ", header_.size(),
                              " bytes; at most ", max_size_, " accepted"));
  }
  if (!header_.sha256().empty() && !IsSha256Hex(header_.sha256())) {
    return Invalid(
        "BAD_SHA256",
        absl::StrCat("header.sha256 must be 64 lower-case hex "
                     "digits; got '",
                     absl::CHexEscape(header_.sha256().substr(0, 80)), "'"));
  }
  if (budget_ != nullptr && header_.size() > budget_->total()) {
    return Error(absl::StatusCode::kResourceExhausted, "UPLOAD_TOO_LARGE",
                 absl::StrCat("the image is ", header_.size(),
                              " bytes; the uploads in flight may hold at "
                              "most ",
                              budget_->total()));
  }
  // Memory for the announced size is counted before any is taken, and
  // reserved at once (no doubling as it grows).
  if (budget_ != nullptr) {
    auto ticket = budget_->Take(key_, header_.size());
    if (!ticket.ok()) return ticket.status();
    ticket_ = std::move(*ticket);
  }
  bytes_.reserve(header_.size());
  return absl::OkStatus();
}

absl::Status UploadStream::Take(const v1::UploadFirmwareRequest& message) {
  if (!has_header_) {
    absl::Status taken = TakeHeader(message);
    return taken.ok() ? taken : Fail(taken);
  }
  if (!message.has_chunk()) {
    return Fail(Invalid("UPLOAD_HEADER_REPEATED",
                        "only the first message of an upload is a header; "
                        "expected a chunk"));
  }
  const std::string& chunk = message.chunk();
  if (chunk.size() > kMaxChunk) {
    return Fail(Invalid("UPLOAD_CHUNK_TOO_LARGE",
                        absl::StrCat("a chunk of ", chunk.size(),
                                     " bytes; at most 1 MiB expected")));
  }
  if (chunk.size() > header_.size() - bytes_.size()) {
    return Fail(Invalid("UPLOAD_SIZE_MISMATCH",
                        absl::StrCat("received more than the ", header_.size(),
                                     " bytes the header announced")));
  }
  bytes_ += chunk;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> UploadStream::Finish() {
  if (!has_header_) {
    return Invalid("UPLOAD_HEADER_MISSING",
                   "the upload ended before its header");
  }
  if (bytes_.size() != header_.size()) {
    return Fail(
        Invalid("UPLOAD_SIZE_MISMATCH",
                absl::StrCat("received ", bytes_.size(),
                             " bytes; the header announced ", header_.size())));
  }
  return std::make_shared<const std::string>(std::move(bytes_));
}

}  // namespace pil::server
