#include "platform/sim/service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/error.h"
#include "common/rpc_status.h"
#include "platform/sim/wire.h"

namespace pil::sim {

SimSocService::SimSocService(SimSoc* soc, std::string dtb, uint64_t boot_id)
    : soc_(soc), dtb_(std::move(dtb)), boot_id_(boot_id) {
  soc_->Subscribe([this](const pas::Signal& signal) {
    absl::MutexLock lock(&mu_);
    for (auto& [id, queue] : watchers_) queue.push_back(signal);
  });
}

SimSocService::~SimSocService() { soc_->Subscribe(nullptr); }

grpc::Status SimSocService::Faulted(const std::string& call,
                                    const std::function<grpc::Status()>& run) {
  const std::optional<v1::CallFault> fault = soc_->TakeCallFault(call);
  if (fault && fault->fail_status() != 0) {
    return ToGrpcStatus(Error(
        absl::StatusCode::kInternal, "INJECTED_FAILURE",
        absl::StrCat(call, " failed with status ", fault->fail_status(),
                     " (injected)"),
        {{"call", call}, {"status", absl::StrCat(fault->fail_status())}}));
  }
  grpc::Status status = run();
  if (fault && fault->hold_ms() != 0) {
    std::multiset<std::string>::iterator held;
    {
      absl::MutexLock lock(&mu_);
      held = held_.insert(call);
    }
    absl::SleepFor(absl::Milliseconds(fault->hold_ms()));
    absl::MutexLock lock(&mu_);
    held_.erase(held);
  }
  return status;
}

void SimSocService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

grpc::Status SimSocService::GetBoard(grpc::ServerContext*,
                                     const v1::GetBoardRequest*,
                                     v1::Board* board) {
  board->set_dtb(dtb_);
  board->set_hypervisor(soc_->hypervisor());
  board->set_memory_path(soc_->sim_memory().path());
  for (const MemoryRegion& r : soc_->sim_memory().regions()) {
    v1::MemoryRegion* region = board->add_regions();
    region->set_base(r.base);
    region->set_size(r.size);
    region->set_offset(r.offset);
  }
  board->set_boot_id(boot_id_);
  return grpc::Status::OK;
}

grpc::Status SimSocService::PasIsSupported(grpc::ServerContext*,
                                           const v1::PasRequest* request,
                                           v1::PasIsSupportedResponse* out) {
  auto supported = soc_->PasIsSupported(request->pas_id());
  if (supported.ok()) out->set_supported(*supported);
  return ToGrpcStatus(supported.status());
}

grpc::Status SimSocService::PasInitImage(grpc::ServerContext*,
                                         const v1::PasInitImageRequest* r,
                                         v1::Empty*) {
  return Faulted("pas_init_image", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->PasInitImage(r->pas_id(), r->metadata()));
  });
}

grpc::Status SimSocService::PasMemSetup(grpc::ServerContext*,
                                        const v1::PasMemSetupRequest* r,
                                        v1::Empty*) {
  return Faulted("pas_mem_setup", [&]() -> grpc::Status {
    return ToGrpcStatus(
        soc_->PasMemSetup(r->pas_id(), r->address(), r->size()));
  });
}

grpc::Status SimSocService::PasAuthAndReset(grpc::ServerContext*,
                                            const v1::PasRequest* r,
                                            v1::Empty*) {
  return Faulted("pas_auth_and_reset", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->PasAuthAndReset(r->pas_id()));
  });
}

grpc::Status SimSocService::PasShutdown(grpc::ServerContext*,
                                        const v1::PasRequest* r, v1::Empty*) {
  return Faulted("pas_shutdown", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->PasShutdown(r->pas_id()));
  });
}

grpc::Status SimSocService::ReleaseMetadata(grpc::ServerContext*,
                                            const v1::PasRequest* r,
                                            v1::Empty*) {
  return Faulted("release_metadata", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->ReleaseMetadata(r->pas_id()));
  });
}

grpc::Status SimSocService::PasGetResourceTable(
    grpc::ServerContext*, const v1::PasGetResourceTableRequest* r,
    v1::Bytes* out) {
  return Faulted("pas_get_resource_table", [&]() -> grpc::Status {
    auto table = soc_->PasGetResourceTable(r->pas_id(), r->input());
    if (table.ok()) out->set_data(*table);
    return ToGrpcStatus(table.status());
  });
}

grpc::Status SimSocService::ShmBridgeCreate(grpc::ServerContext*,
                                            const v1::Range* r,
                                            v1::Handle* out) {
  return Faulted("shm_bridge_create", [&]() -> grpc::Status {
    auto handle = soc_->ShmBridgeCreate(r->base(), r->size());
    if (handle.ok()) out->set_handle(*handle);
    return ToGrpcStatus(handle.status());
  });
}

grpc::Status SimSocService::ShmBridgeDelete(grpc::ServerContext*,
                                            const v1::Handle* r, v1::Empty*) {
  return Faulted("shm_bridge_delete", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->ShmBridgeDelete(r->handle()));
  });
}

grpc::Status SimSocService::IommuAttach(grpc::ServerContext*,
                                        const v1::IommuAttachRequest* r,
                                        v1::Handle* out) {
  return Faulted("iommu_attach", [&]() -> grpc::Status {
    auto domain = soc_->Attach(r->sid(), r->mask());
    if (domain.ok()) out->set_handle(*domain);
    return ToGrpcStatus(domain.status());
  });
}

grpc::Status SimSocService::IommuDetach(grpc::ServerContext*,
                                        const v1::Handle* r, v1::Empty*) {
  return Faulted("iommu_detach", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->Detach(static_cast<uint32_t>(r->handle())));
  });
}

grpc::Status SimSocService::IommuMap(grpc::ServerContext*,
                                     const v1::IommuMapRequest* r, v1::Empty*) {
  return Faulted("iommu_map", [&]() -> grpc::Status {
    return ToGrpcStatus(
        soc_->Map(r->domain(), r->iova(), r->pa(), r->size(), r->prot()));
  });
}

grpc::Status SimSocService::IommuUnmap(grpc::ServerContext*,
                                       const v1::IommuUnmapRequest* r,
                                       v1::IommuUnmapResponse* out) {
  return Faulted("iommu_unmap", [&]() -> grpc::Status {
    auto unmapped = soc_->Unmap(r->domain(), r->iova(), r->size());
    if (unmapped.ok()) out->set_unmapped(*unmapped);
    return ToGrpcStatus(unmapped.status());
  });
}

grpc::Status SimSocService::RequestStop(grpc::ServerContext*,
                                        const v1::CoprocessorRequest* r,
                                        v1::Empty*) {
  return Faulted("request_stop", [&]() -> grpc::Status {
    return ToGrpcStatus(soc_->RequestStop(r->coprocessor()));
  });
}

grpc::Status SimSocService::WrapperWrite(grpc::ServerContext*,
                                         const v1::WrapperAccess* r,
                                         v1::Empty*) {
  return ToGrpcStatus(
      soc_->WrapperWrite(r->coprocessor(), r->offset(), r->value()));
}

grpc::Status SimSocService::WrapperRead(grpc::ServerContext*,
                                        const v1::WrapperAccess* r,
                                        v1::WrapperAccess* out) {
  auto value = soc_->WrapperRead(r->coprocessor(), r->offset());
  if (!value.ok()) return ToGrpcStatus(value.status());
  *out = *r;
  out->set_value(*value);
  return grpc::Status::OK;
}

grpc::Status SimSocService::WatchSignals(
    grpc::ServerContext* context, const v1::WatchSignalsRequest*,
    grpc::ServerWriter<v1::Signal>* writer) {
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    id = next_watcher_++;
    watchers_[id];
  }
  // The first message tells the client it is subscribed.
  v1::Signal hello;
  hello.set_kind("subscribed");
  bool ok = writer->Write(hello);
  while (ok && !context->IsCancelled()) {
    std::deque<pas::Signal> batch;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_ || !watchers_[id].empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&has_work), absl::Milliseconds(100));
      if (shutdown_) break;
      batch.swap(watchers_[id]);
    }
    for (const pas::Signal& s : batch) {
      if (!(ok = writer->Write(SignalToProto(s)))) break;
    }
  }
  absl::MutexLock lock(&mu_);
  watchers_.erase(id);
  return grpc::Status::OK;
}

grpc::Status SimSocService::Observe(grpc::ServerContext*,
                                    const v1::ObserveRequest*,
                                    v1::HardwareState* out) {
  auto state = soc_->Observe();
  if (state.ok()) *out = StateToProto(*state);
  absl::MutexLock lock(&mu_);
  for (const std::string& call : held_) out->add_held(call);
  return ToGrpcStatus(state.status());
}

grpc::Status SimSocService::InjectFault(grpc::ServerContext*,
                                        const v1::Fault* fault, v1::Empty*) {
  return ToGrpcStatus(soc_->InjectFault(*fault));
}

}  // namespace pil::sim
