// The messages of one UploadFirmware call, checked as they arrive: a header
// first (a printable name, a size from 1 to `max_size`, a well-formed
// SHA-256 when given), then chunks of at most 1 MiB adding up to exactly the
// announced size. The announced size is taken from `budget` before any
// byte is held, and given back when the stream is destroyed.
//
//   UploadStream stream(max, &budget, caller.Key());
//   for (each message) if (auto s = stream.Take(message); !s.ok()) fail(s);
//   auto bytes = stream.Finish();  // shared, never copied again
#ifndef PILD_SERVER_UPLOAD_STREAM_H_
#define PILD_SERVER_UPLOAD_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/pil/v1/lifecycle.pb.h"
#include "server/quota.h"

namespace pil::server {

class UploadStream {
 public:
  // Largest chunk accepted.
  static constexpr size_t kMaxChunk = size_t{1} << 20;

  UploadStream(uint64_t max_size, Quota* budget, std::string caller_key)
      : max_size_(max_size), budget_(budget), key_(std::move(caller_key)) {}

  // The next message. INVALID_ARGUMENT: UPLOAD_HEADER_MISSING,
  // UPLOAD_NAME_INVALID, UPLOAD_EMPTY, BAD_SHA256, UPLOAD_HEADER_REPEATED,
  // UPLOAD_CHUNK_TOO_LARGE, UPLOAD_SIZE_MISMATCH; RESOURCE_EXHAUSTED:
  // UPLOAD_TOO_LARGE, UPLOAD_BUDGET_EXHAUSTED. After an error the stream
  // holds no bytes.
  absl::Status Take(const v1::UploadFirmwareRequest& message);

  // The client finished: the bytes, exactly as announced, or
  // UPLOAD_HEADER_MISSING / UPLOAD_SIZE_MISMATCH.
  absl::StatusOr<std::shared_ptr<const std::string>> Finish();

  bool has_header() const { return has_header_; }
  const v1::UploadHeader& header() const { return header_; }
  uint64_t received() const { return bytes_.size(); }

 private:
  absl::Status TakeHeader(const v1::UploadFirmwareRequest& message);
  absl::Status Fail(absl::Status status);

  const uint64_t max_size_;
  Quota* budget_;
  const std::string key_;
  bool has_header_ = false;
  v1::UploadHeader header_;
  std::string bytes_;
  Quota::Ticket ticket_;
};

}  // namespace pil::server

#endif  // PILD_SERVER_UPLOAD_STREAM_H_
