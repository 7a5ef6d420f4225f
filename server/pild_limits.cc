#include "server/pild_limits.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error.h"

ABSL_FLAG(std::string, limits, "",
          "bounds on what callers make pild hold, NAME=N[,NAME=N...]: calls, "
          "calls_per_caller, stop_lane, uploads, uploads_per_caller, "
          "upload_budget (bytes), watches, watches_per_caller, leases, "
          "leases_per_caller, downloads, "
          "downloads_per_caller, connections, connections_per_caller, "
          "default_deadline_s, shutdown_timeout_s (docs/OPERATIONS.md)");

namespace pil::server {
namespace {

// One bound: its name, ceiling, and how it is read and set.
struct Bound {
  const char* name;
  uint64_t max;
  std::function<uint64_t(const Limits&)> get;
  std::function<void(Limits&, uint64_t)> set;
};

template <typename T>
Bound Field(const char* name, uint64_t max, T Limits::*part, size_t T::*field) {
  return {name, max, [=](const Limits& l) { return (l.*part).*field; },
          [=](Limits& l, uint64_t v) { (l.*part).*field = v; }};
}

uint64_t WholeSeconds(absl::Duration d) {
  return static_cast<uint64_t>(absl::ToInt64Seconds(d));
}

const std::vector<Bound>& Bounds() {
  static const auto* bounds = new std::vector<Bound>{
      Field("calls", 4096, &Limits::service,
            &ServiceOptions::max_blocking_calls),
      Field("calls_per_caller", 4096, &Limits::service,
            &ServiceOptions::max_calls_per_caller),
      Field("stop_lane", 256, &Limits::service, &ServiceOptions::stop_lane),
      Field("uploads", 1024, &Limits::service, &ServiceOptions::max_uploads),
      Field("uploads_per_caller", 1024, &Limits::service,
            &ServiceOptions::max_uploads_per_caller),
      {"upload_budget", uint64_t{64} << 30,
       [](const Limits& l) { return l.service.upload_budget; },
       [](Limits& l, uint64_t v) { l.service.upload_budget = v; }},
      Field("watches", 65536, &Limits::service, &ServiceOptions::max_watches),
      Field("watches_per_caller", 65536, &Limits::service,
            &ServiceOptions::max_watches_per_caller),
      Field("leases", 65536, &Limits::service, &ServiceOptions::max_leases),
      Field("leases_per_caller", 65536, &Limits::service,
            &ServiceOptions::max_leases_per_caller),
      Field("downloads", 1024, &Limits::service,
            &ServiceOptions::max_downloads),
      Field("downloads_per_caller", 1024, &Limits::service,
            &ServiceOptions::max_downloads_per_caller),
      Field("connections", 1 << 20, &Limits::connections,
            &ConnectionLimits::total),
      Field("connections_per_caller", 1 << 20, &Limits::connections,
            &ConnectionLimits::per_caller),
      {"default_deadline_s", 3600,
       [](const Limits& l) { return WholeSeconds(l.service.default_deadline); },
       [](Limits& l, uint64_t v) {
         l.service.default_deadline = absl::Seconds(static_cast<int64_t>(v));
       }},
      {"shutdown_timeout_s", 600,
       [](const Limits& l) { return WholeSeconds(l.shutdown_timeout); },
       [](Limits& l, uint64_t v) {
         l.shutdown_timeout = absl::Seconds(static_cast<int64_t>(v));
       }},
  };
  return *bounds;
}

absl::Status BadLimit(std::string message) {
  return Error(absl::StatusCode::kInvalidArgument, "BAD_FLAG",
               absl::StrCat("--limits: ", message));
}

}  // namespace

absl::StatusOr<Limits> ParseLimits(absl::string_view text, size_t descriptors) {
  Limits limits;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    const Bound* bound = nullptr;
    for (const Bound& b : Bounds()) {
      if (kv.first == b.name) bound = &b;
    }
    if (bound == nullptr) {
      std::vector<std::string> names;
      for (const Bound& b : Bounds()) names.push_back(b.name);
      return BadLimit(absl::StrCat("unknown bound '", kv.first,
                                   "'; expected one of ",
                                   absl::StrJoin(names, ", ")));
    }
    uint64_t value = 0;
    if (!absl::SimpleAtoi(kv.second, &value) || value == 0 ||
        value > bound->max) {
      return BadLimit(absl::StrCat(bound->name, " must be 1..", bound->max,
                                   ", got '", kv.second, "'"));
    }
    bound->set(limits, value);
  }
  ConnectionLimits& c = limits.connections;
  const size_t room = descriptors > 512 ? descriptors - 256 : descriptors / 2;
  c.total = std::min(c.total,
                     room > c.root_reserve ? room - c.root_reserve : size_t{1});
  c.per_caller = std::min(c.per_caller, c.total);
  ServiceOptions& s = limits.service;
  s.max_calls_per_caller =
      std::min(s.max_calls_per_caller, s.max_blocking_calls);
  s.max_uploads_per_caller = std::min(s.max_uploads_per_caller, s.max_uploads);
  s.max_watches_per_caller = std::min(s.max_watches_per_caller, s.max_watches);
  s.max_leases_per_caller = std::min(s.max_leases_per_caller, s.max_leases);
  s.max_downloads_per_caller =
      std::min(s.max_downloads_per_caller, s.max_downloads);
  return limits;
}

absl::StatusOr<Limits> LoadLimits(size_t descriptors) {
  return ParseLimits(absl::GetFlag(FLAGS_limits), descriptors);
}

std::string DescribeLimits(const Limits& limits) {
  std::vector<std::string> parts;
  for (const Bound& b : Bounds()) {
    parts.push_back(absl::StrCat(b.name, "=", b.get(limits)));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace pil::server
