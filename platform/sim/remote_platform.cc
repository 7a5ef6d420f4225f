#include "platform/sim/remote_platform.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/log.h"
#include "common/rpc_status.h"
#include "common/unix_socket.h"
#include "platform/sim/wire.h"

namespace pil::sim {
namespace {

// Secure-world calls can hash a large image; allow for it.
constexpr absl::Duration kCallTimeout = absl::Seconds(60);

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
  return context;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemotePlatform>> RemotePlatform::Connect(
    const std::string& address, absl::Duration timeout) {
  auto platform = std::unique_ptr<RemotePlatform>(new RemotePlatform());
  // gRPC backs off for a second after a refused connection; wait for a
  // Unix socket to answer first.
  const absl::Time deadline = absl::Now() + timeout;
  if (const std::string path = UnixSocketPath(address); !path.empty()) {
    while (!UnixSocketAnswers(path) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(absl::ToChronoTime(deadline))) {
    return Error(
        absl::StatusCode::kUnavailable, "SIM_UNAVAILABLE",
        absl::StrCat("no simulated SoC (pilsim) answers at ", address));
  }
  platform->stub_ = v1::SimSoc::NewStub(channel);
  auto context = Context();
  grpc::Status status = platform->stub_->GetBoard(
      context.get(), v1::GetBoardRequest(), &platform->board_);
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<MemoryRegion> regions;
  for (const v1::MemoryRegion& r : platform->board_.regions()) {
    regions.push_back(MemoryRegion{r.base(), r.size(), r.offset()});
  }
  auto memory = SimMemory::Open(regions, platform->board_.memory_path());
  if (!memory.ok()) return memory.status();
  platform->memory_ = std::move(*memory);
  return platform;
}

RemotePlatform::~RemotePlatform() { StopWatching(); }

absl::Status RemotePlatform::InjectFault(const v1::Fault& fault) {
  auto context = Context();
  v1::Empty empty;
  return FromGrpcStatus(stub_->InjectFault(context.get(), fault, &empty));
}

absl::StatusOr<pas::HardwareState> RemotePlatform::Observe() {
  auto context = Context();
  v1::HardwareState state;
  grpc::Status status =
      stub_->Observe(context.get(), v1::ObserveRequest(), &state);
  if (!status.ok()) return FromGrpcStatus(status);
  return StateFromProto(state);
}

absl::StatusOr<bool> RemotePlatform::PasIsSupported(uint32_t pas_id) {
  auto context = Context();
  v1::PasRequest request;
  request.set_pas_id(pas_id);
  v1::PasIsSupportedResponse response;
  grpc::Status status =
      stub_->PasIsSupported(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.supported();
}

absl::Status RemotePlatform::PasInitImage(uint32_t pas_id,
                                          absl::string_view metadata) {
  auto context = Context();
  v1::PasInitImageRequest request;
  request.set_pas_id(pas_id);
  request.set_metadata(std::string(metadata));
  v1::Empty empty;
  return FromGrpcStatus(stub_->PasInitImage(context.get(), request, &empty));
}

absl::Status RemotePlatform::PasMemSetup(uint32_t pas_id, uint64_t address,
                                         uint64_t size) {
  auto context = Context();
  v1::PasMemSetupRequest request;
  request.set_pas_id(pas_id);
  request.set_address(address);
  request.set_size(size);
  v1::Empty empty;
  return FromGrpcStatus(stub_->PasMemSetup(context.get(), request, &empty));
}

absl::Status RemotePlatform::CallPas(PasCall call, uint32_t pas_id) {
  auto context = Context();
  v1::PasRequest request;
  request.set_pas_id(pas_id);
  v1::Empty empty;
  return FromGrpcStatus(((*stub_).*call)(context.get(), request, &empty));
}

absl::Status RemotePlatform::PasAuthAndReset(uint32_t pas_id) {
  return CallPas(&v1::SimSoc::Stub::PasAuthAndReset, pas_id);
}

absl::Status RemotePlatform::PasShutdown(uint32_t pas_id) {
  return CallPas(&v1::SimSoc::Stub::PasShutdown, pas_id);
}

absl::Status RemotePlatform::ReleaseMetadata(uint32_t pas_id) {
  return CallPas(&v1::SimSoc::Stub::ReleaseMetadata, pas_id);
}

absl::StatusOr<std::string> RemotePlatform::PasGetResourceTable(
    uint32_t pas_id, absl::string_view input) {
  auto context = Context();
  v1::PasGetResourceTableRequest request;
  request.set_pas_id(pas_id);
  request.set_input(std::string(input));
  v1::Bytes table;
  grpc::Status status =
      stub_->PasGetResourceTable(context.get(), request, &table);
  if (!status.ok()) return FromGrpcStatus(status);
  return table.data();
}

absl::StatusOr<uint64_t> RemotePlatform::ShmBridgeCreate(uint64_t base,
                                                         uint64_t size) {
  auto context = Context();
  v1::Range range;
  range.set_base(base);
  range.set_size(size);
  v1::Handle handle;
  grpc::Status status = stub_->ShmBridgeCreate(context.get(), range, &handle);
  if (!status.ok()) return FromGrpcStatus(status);
  return handle.handle();
}

absl::Status RemotePlatform::ShmBridgeDelete(uint64_t handle) {
  auto context = Context();
  v1::Handle request;
  request.set_handle(handle);
  v1::Empty empty;
  return FromGrpcStatus(stub_->ShmBridgeDelete(context.get(), request, &empty));
}

absl::StatusOr<uint32_t> RemotePlatform::Attach(uint32_t sid, uint32_t mask) {
  auto context = Context();
  v1::IommuAttachRequest request;
  request.set_sid(sid);
  request.set_mask(mask);
  v1::Handle handle;
  grpc::Status status = stub_->IommuAttach(context.get(), request, &handle);
  if (!status.ok()) return FromGrpcStatus(status);
  return static_cast<uint32_t>(handle.handle());
}

absl::Status RemotePlatform::Detach(uint32_t domain) {
  auto context = Context();
  v1::Handle request;
  request.set_handle(domain);
  v1::Empty empty;
  return FromGrpcStatus(stub_->IommuDetach(context.get(), request, &empty));
}

absl::Status RemotePlatform::Map(uint32_t domain, uint64_t iova, uint64_t pa,
                                 uint64_t size, uint32_t prot) {
  auto context = Context();
  v1::IommuMapRequest request;
  request.set_domain(domain);
  request.set_iova(iova);
  request.set_pa(pa);
  request.set_size(size);
  request.set_prot(prot);
  v1::Empty empty;
  return FromGrpcStatus(stub_->IommuMap(context.get(), request, &empty));
}

absl::StatusOr<uint64_t> RemotePlatform::Unmap(uint32_t domain, uint64_t iova,
                                               uint64_t size) {
  auto context = Context();
  v1::IommuUnmapRequest request;
  request.set_domain(domain);
  request.set_iova(iova);
  request.set_size(size);
  v1::IommuUnmapResponse response;
  grpc::Status status = stub_->IommuUnmap(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.unmapped();
}

absl::Status RemotePlatform::RequestStop(absl::string_view coprocessor) {
  auto context = Context();
  v1::CoprocessorRequest request;
  request.set_coprocessor(std::string(coprocessor));
  v1::Empty empty;
  return FromGrpcStatus(stub_->RequestStop(context.get(), request, &empty));
}

absl::Status RemotePlatform::WrapperWrite(absl::string_view coprocessor,
                                          uint32_t offset, uint32_t value) {
  auto context = Context();
  v1::WrapperAccess request;
  request.set_coprocessor(std::string(coprocessor));
  request.set_offset(offset);
  request.set_value(value);
  v1::Empty empty;
  return FromGrpcStatus(stub_->WrapperWrite(context.get(), request, &empty));
}

absl::StatusOr<uint32_t> RemotePlatform::WrapperRead(
    absl::string_view coprocessor, uint32_t offset) {
  auto context = Context();
  v1::WrapperAccess request;
  request.set_coprocessor(std::string(coprocessor));
  request.set_offset(offset);
  v1::WrapperAccess reply;
  grpc::Status status = stub_->WrapperRead(context.get(), request, &reply);
  if (!status.ok()) return FromGrpcStatus(status);
  return reply.value();
}

void RemotePlatform::Subscribe(
    std::function<void(const pas::Signal&)> handler) {
  StopWatching();
  if (!handler) return;
  {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
    stop_ = false;
    subscribed_ = false;
  }
  watcher_ = std::thread([this] { WatchLoop(); });
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&subscribed_), absl::Seconds(5));
}

void RemotePlatform::StopWatching() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (watcher_.joinable()) watcher_.join();
}

void RemotePlatform::WatchLoop() {
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      watch_context_ = &context;
    }
    auto reader = stub_->WatchSignals(&context, v1::WatchSignalsRequest());
    v1::Signal signal;
    while (reader->Read(&signal)) {
      absl::MutexLock lock(&mu_);
      if (signal.kind() == "subscribed") {
        subscribed_ = true;
        continue;
      }
      auto parsed = SignalFromProto(signal);
      if (!parsed.ok()) {
        PILD_LOG(WARNING) << parsed.status().message();
        continue;
      }
      if (handler_) handler_(*parsed);
    }
    (void)reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
      if (stop_) return;
    }
    // pilsim went away or restarted: try again shortly.
    absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace pil::sim
