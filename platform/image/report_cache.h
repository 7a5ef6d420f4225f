// Reports of images already verified, so that an unchanged image is not
// verified again: `inspect`, a dry run and the kernel tier's pre-kernel
// checks of an image pild has seen cost a lookup.
//
//   InspectOptions options;
//   options.cache = &ReportCache::Shared();
//   ImageReport report = Inspect(image, options);  // a hit when unchanged
//
// A report is keyed by the image's identity (FirmwareImage::identity(): for
// files device, inode, size, modification and change times of each; for an
// upload its SHA-256), its name, the SHA-256 of its metadata (which commits
// to every segment's hash) and the options that change a report (the
// carveout, the file digest). What it cannot see: a file rewritten in place
// to the same size, keeping its hash table, within the filesystem's
// timestamp granularity; a PAS boot's secure world still re-hashes it. Images
// without an identity (read from files others could change, or held in memory)
// are never cached.
#ifndef PILD_PLATFORM_IMAGE_REPORT_CACHE_H_
#define PILD_PLATFORM_IMAGE_REPORT_CACHE_H_

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace pil::image {

struct ImageReport;

class ReportCache {
 public:
  // At most `capacity` reports; the least recently used goes first.
  explicit ReportCache(size_t capacity = kDefaultCapacity);
  static constexpr size_t kDefaultCapacity = 64;

  // The process's cache.
  static ReportCache& Shared();

  std::optional<ImageReport> Find(const std::string& key);
  void Put(const std::string& key, const ImageReport& report);
  size_t size() const;
  // Forgets every report (benchmarks measure the first verification).
  void Clear();
  size_t capacity() const { return capacity_; }
  // Lookups answered from the cache, and not.
  size_t hits() const;
  size_t misses() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<std::pair<std::string, ImageReport>> entries_ ABSL_GUARDED_BY(mu_);
  size_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  size_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pil::image

#endif  // PILD_PLATFORM_IMAGE_REPORT_CACHE_H_
