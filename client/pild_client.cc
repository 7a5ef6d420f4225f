#include "client/pild_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "common/rpc_status.h"

namespace pil::client {

PildClient::PildClient(const Options& options)
    : options_(options),
      stub_(v1::Lifecycle::NewStub(grpc::CreateChannel(
          options.address, grpc::InsecureChannelCredentials()))) {}

std::unique_ptr<grpc::ClientContext> PildClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  return context;
}

absl::StatusOr<std::vector<v1::Coprocessor>> PildClient::ListCoprocessors() {
  auto context = NewContext();
  v1::ListCoprocessorsResponse response;
  grpc::Status status = stub_->ListCoprocessors(
      context.get(), v1::ListCoprocessorsRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<v1::Coprocessor>(response.coprocessors().begin(),
                                      response.coprocessors().end());
}

absl::StatusOr<v1::Coprocessor> PildClient::GetCoprocessor(
    absl::string_view name) {
  auto context = NewContext();
  v1::GetCoprocessorRequest request;
  request.set_name(std::string(name));
  v1::Coprocessor response;
  grpc::Status status =
      stub_->GetCoprocessor(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace pil::client
