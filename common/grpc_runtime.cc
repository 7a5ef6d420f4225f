#include "common/grpc_runtime.h"

#include <grpc/grpc.h>

#include <mutex>

namespace pil {

void KeepGrpcRuntime() {
  static std::once_flag once;
  std::call_once(once, [] { grpc_init(); });
}

}  // namespace pil
