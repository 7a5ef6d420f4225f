// pild's bounds on what callers make it hold: the defaults of
// ServiceOptions and ConnectionLimits, changed by --limits=NAME=N,...
// (docs/OPERATIONS.md lists the names). Every bound is positive and has a
// ceiling; a bad one is INVALID_ARGUMENT (BAD_FLAG) naming it.
#ifndef PILD_SERVER_PILD_LIMITS_H_
#define PILD_SERVER_PILD_LIMITS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/connections.h"
#include "server/service.h"

namespace pil::server {

struct Limits {
  ServiceOptions service;
  ConnectionLimits connections;
  // How long pild may take to end after SIGTERM before it exits anyway.
  absl::Duration shutdown_timeout = absl::Seconds(10);
};

// `text` ("watches_per_caller=4,upload_budget=268435456") over the
// defaults. Connections are kept `descriptors` - 256 or fewer, leaving
// descriptors for firmware files and the audit trail.
absl::StatusOr<Limits> ParseLimits(absl::string_view text, size_t descriptors);

// The --limits flag, parsed.
absl::StatusOr<Limits> LoadLimits(size_t descriptors);

// "calls=64, calls_per_caller=16, ..." for the log.
std::string DescribeLimits(const Limits& limits);

}  // namespace pil::server

#endif  // PILD_SERVER_PILD_LIMITS_H_
