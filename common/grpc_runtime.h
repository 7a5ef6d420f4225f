// The lifetime of gRPC's process-wide runtime.
#ifndef PILD_COMMON_GRPC_RUNTIME_H_
#define PILD_COMMON_GRPC_RUNTIME_H_

namespace pil {

// Takes a reference to gRPC's runtime that is never given back; idempotent
// and thread-safe. Without it, destroying the last channel or server shuts
// the runtime down, and that joins gRPC's executor threads, one of which can
// sit in a poll for up to 10 s (gRPC 1.51): a process would linger that long
// at exit, and a test that builds a server per case would stall. Call it
// before the first channel or server; process exit reclaims the rest.
void KeepGrpcRuntime();

}  // namespace pil

#endif  // PILD_COMMON_GRPC_RUNTIME_H_
