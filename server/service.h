// The gRPC front end: translates pil.v1 messages to and from the lifecycle
// engine. It holds no lifecycle logic of its own.
#ifndef PILD_SERVER_SERVICE_H_
#define PILD_SERVER_SERVICE_H_

#include "proto/pil/v1/lifecycle.grpc.pb.h"
#include "server/engine.h"

namespace pil::server {

// Methods not overridden here answer UNIMPLEMENTED.
class LifecycleService final : public v1::Lifecycle::CallbackService {
 public:
  explicit LifecycleService(LifecycleEngine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* ListCoprocessors(
      grpc::CallbackServerContext* context,
      const v1::ListCoprocessorsRequest* request,
      v1::ListCoprocessorsResponse* response) override;

  grpc::ServerUnaryReactor* GetCoprocessor(
      grpc::CallbackServerContext* context,
      const v1::GetCoprocessorRequest* request,
      v1::Coprocessor* response) override;

 private:
  LifecycleEngine* engine_;
};

// The API view of a coprocessor snapshot.
v1::Coprocessor ToProto(const CoprocessorStatus& status);

}  // namespace pil::server

#endif  // PILD_SERVER_SERVICE_H_
