#include "server/resources.h"

#include <grpc/grpc.h>
#include <grpcpp/resource_quota.h>
#include <malloc.h>
#include <sys/resource.h>

namespace pil::server {

size_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<size_t>(limit.rlim_cur);
}

void ReturnMemoryAfterWork() {
  // A fixed threshold also turns off glibc's dynamic one, which rises to
  // the largest block freed (32 MiB) and then keeps images in the heap.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 2 << 20);
  ::mallopt(M_ARENA_MAX, 4);
}

MemoryTrimmer::MemoryTrimmer(absl::Duration period, size_t slack)
    : thread_([this, period, slack] {
        while (!stop_.WaitForNotificationWithTimeout(period)) {
          if (::mallinfo2().fordblks > slack) ::malloc_trim(0);
        }
      }) {}

MemoryTrimmer::~MemoryTrimmer() {
  stop_.Notify();
  thread_.join();
}

void ApplyTransportLimits(grpc::ServerBuilder& builder,
                          const TransportLimits& limits) {
  auto ms = [](absl::Duration d) {
    return static_cast<int>(absl::ToInt64Milliseconds(d));
  };
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms(limits.keepalive));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ms(limits.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ms(limits.max_idle));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ms(limits.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                             static_cast<int>(limits.max_metadata));
  // Clients may keep a Watch alive with pings of their own, not flood.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ms(absl::Seconds(10)));
  grpc::ResourceQuota quota("pild");
  quota.Resize(static_cast<size_t>(limits.memory));
  builder.SetResourceQuota(quota);
}

}  // namespace pil::server
