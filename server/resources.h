// pild's own resources under load: descriptors, the allocator, and the
// bounds gRPC enforces per connection.
//
//   size_t descriptors = RaiseDescriptorLimit();
//   ReturnMemoryAfterWork();            // once, before threads start
//   MemoryTrimmer trimmer;              // gives freed heap back to the system
//   ApplyTransportLimits(builder, {});
#ifndef PILD_SERVER_RESOURCES_H_
#define PILD_SERVER_RESOURCES_H_

#include <grpcpp/server_builder.h>

#include <cstddef>
#include <cstdint>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace pil::server {

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
// in force afterwards.
size_t RaiseDescriptorLimit();

// Allocator settings for a server whose large buffers (images, dumps) come
// and go: blocks from 1 MiB up are always mapped (and unmapped when freed)
// instead of staying in the heap, and few arenas are kept.
void ReturnMemoryAfterWork();

// A thread that, every `period`, hands the heap's free memory back to the
// system when more than `slack` bytes of it are free. Stops when destroyed.
class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(absl::Duration period = absl::Seconds(2),
                         size_t slack = size_t{4} << 20);
  ~MemoryTrimmer();
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;
};

// What gRPC bounds per connection.
struct TransportLimits {
  int max_concurrent_streams = 128;  // calls at once on one connection
  absl::Duration keepalive = absl::Seconds(60);  // ping an idle connection
  absl::Duration keepalive_timeout = absl::Seconds(20);
  absl::Duration max_idle = absl::Minutes(5);  // then close it (no calls)
  absl::Duration handshake_timeout = absl::Seconds(10);
  size_t max_metadata = 16 << 10;
  int64_t memory = int64_t{256} << 20;  // gRPC's buffers, all connections
};

void ApplyTransportLimits(grpc::ServerBuilder& builder,
                          const TransportLimits& limits);

}  // namespace pil::server

#endif  // PILD_SERVER_RESOURCES_H_
