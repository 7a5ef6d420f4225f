#include "server/status_proto.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "messages/devicetree_proto.h"
#include "platform/backend.h"

namespace pil::server {

v1::State StateToProto(State state) {
  switch (state) {
    case State::kOffline:
      return v1::STATE_OFFLINE;
    case State::kAuthenticated:
      return v1::STATE_AUTHENTICATED;
    case State::kMapped:
      return v1::STATE_MAPPED;
    case State::kRunning:
      return v1::STATE_RUNNING;
    case State::kStopping:
      return v1::STATE_STOPPING;
    case State::kCrashed:
      return v1::STATE_CRASHED;
    case State::kRecovering:
      return v1::STATE_RECOVERING;
  }
  return v1::STATE_UNSPECIFIED;
}

v1::Operation OperationToProto(absl::string_view operation) {
  static const auto* const kOperations =
      new absl::flat_hash_map<absl::string_view, v1::Operation>{
          {"authenticate", v1::OPERATION_AUTHENTICATE},
          {"map", v1::OPERATION_MAP},
          {"reset", v1::OPERATION_RESET},
          {"start", v1::OPERATION_START},
          {"stop", v1::OPERATION_STOP},
          {"crash", v1::OPERATION_CRASH},
          {"recover", v1::OPERATION_RECOVER},
          {"observed", v1::OPERATION_OBSERVED},
          {"adopt", v1::OPERATION_ADOPT},
          {"upload", v1::OPERATION_UPLOAD},
          {"coredump", v1::OPERATION_COREDUMP},
          {"connect", v1::OPERATION_CONNECT},
          {"dropped", v1::OPERATION_DROPPED},
          {"read", v1::OPERATION_READ},
          {"history", v1::OPERATION_HISTORY},
          {"inspect", v1::OPERATION_INSPECT},
          {"delete_upload", v1::OPERATION_DELETE_UPLOAD},
          {"update_recovery", v1::OPERATION_UPDATE_RECOVERY},
      };
  const auto it = kOperations->find(operation);
  return it == kOperations->end() ? v1::OPERATION_UNSPECIFIED : it->second;
}

v1::Backend BackendToProto(absl::string_view backend) {
  if (backend == "sim") return v1::BACKEND_SIM;
  if (backend == "linux") return v1::BACKEND_LINUX;
  return v1::BACKEND_UNSPECIFIED;
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest));
}

void DurationToProto(absl::Duration duration, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(duration);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

v1::Coprocessor CoprocessorToProto(const CoprocessorStatus& status) {
  v1::Coprocessor out = messages::CoprocessorFromNode(*status.node);
  out.set_state(StateToProto(status.state));
  TimeToProto(status.state_since, out.mutable_state_since());
  out.set_crash_count(status.crash_count);
  if (status.last_error) {
    v1::ErrorSummary* error = out.mutable_last_error();
    error->set_reason(status.last_error->reason);
    error->set_message(status.last_error->message);
    error->set_operation(OperationToProto(status.last_error->operation));
    TimeToProto(status.last_error->time, error->mutable_time());
  }
  if (status.image) {
    v1::LoadedImage* image = out.mutable_image();
    image->set_source(status.image->source);
    image->set_sha256(status.image->sha256);
    image->set_version(status.image->version);
    image->set_hash_table_version(status.image->hash_table_version);
    image->set_sw_id(status.image->sw_id);
    image->set_anti_rollback_version(status.image->anti_rollback_version);
  }
  v1::RecoveryPolicy* recovery = out.mutable_recovery();
  recovery->set_restart(status.recovery.restart);
  recovery->set_max_restarts(status.recovery.max_restarts);
  DurationToProto(status.recovery.initial_backoff,
                  recovery->mutable_initial_backoff());
  v1::HardwareView* hardware = out.mutable_hardware();
  hardware->set_metadata_held(status.hardware.metadata_held);
  for (const auto& b : status.hardware.bridges) {
    v1::ShmBridge* bridge = hardware->add_bridges();
    bridge->set_handle(b.handle);
    bridge->set_base(b.base);
    bridge->set_size(b.size);
  }
  for (const auto& m : status.hardware.mappings) {
    v1::Mapping* mapping = hardware->add_mappings();
    mapping->set_sid(m.sid);
    mapping->set_iova(m.iova);
    mapping->set_physical_address(m.pa);
    mapping->set_size(m.size);
    if (m.prot & platform::kIommuRead) {
      mapping->add_permissions(v1::MAPPING_PERMISSION_READ);
    }
    if (m.prot & platform::kIommuWrite) {
      mapping->add_permissions(v1::MAPPING_PERMISSION_WRITE);
    }
    if (!(m.prot & platform::kIommuNoExec)) {
      mapping->add_permissions(v1::MAPPING_PERMISSION_EXECUTE);
    }
    if (m.prot & platform::kIommuPriv) {
      mapping->add_permissions(v1::MAPPING_PERMISSION_PRIVILEGED);
    }
    mapping->set_owner(m.owner == platform::MappingOwner::kHypervisor
                           ? v1::MAPPING_OWNER_HYPERVISOR
                           : v1::MAPPING_OWNER_OS);
  }
  if (status.hardware.remoteproc) {
    v1::Remoteproc* remoteproc = hardware->mutable_remoteproc();
    remoteproc->set_device(status.hardware.remoteproc->device);
    remoteproc->set_state(status.hardware.remoteproc->state);
    remoteproc->set_firmware(status.hardware.remoteproc->firmware);
  }
  v1::BackendSupport* support = out.mutable_support();
  support->set_backend(BackendToProto(status.backend));
  support->set_drivable(status.drivable);
  support->set_separate_steps(status.drivable &&
                              status.capabilities.separate_steps);
  support->set_reason(status.drivable ? status.capabilities.one_step_reason
                                      : status.unsupported);
  return out;
}

v1::TransitionResponse TransitionToProto(const TransitionResult& result) {
  v1::TransitionResponse out;
  *out.mutable_coprocessor() = CoprocessorToProto(result.status);
  for (const Step& s : result.steps) {
    v1::Step* step = out.add_steps();
    step->set_name(s.name);
    step->set_detail(s.detail);
    DurationToProto(s.duration, step->mutable_duration());
  }
  out.set_note(result.note);
  out.set_replayed(result.replayed);
  out.set_request_id(result.request_id);
  out.set_dry_run(result.dry_run);
  return out;
}

v1::WatchEvent EventToProto(const StateEvent& event) {
  v1::WatchEvent out;
  out.set_sequence(event.sequence);
  TimeToProto(event.time, out.mutable_time());
  out.set_initial(event.initial);
  out.set_previous_state(StateToProto(event.previous));
  *out.mutable_coprocessor() = CoprocessorToProto(event.status);
  out.set_operation(OperationToProto(event.operation));
  out.set_reason(event.reason);
  return out;
}

void CallerToProto(const Caller& caller, v1::Caller* out) {
  out->set_uid(caller.uid);
  out->set_gid(caller.gid);
  out->set_pid(caller.pid);
  out->set_peer(caller.peer);
  for (int64_t group : caller.groups) out->add_groups(group);
  out->set_certificate(caller.certificate);
}

void CoredumpInfoToProto(const Coredump& dump, v1::CoredumpInfo* out) {
  out->set_name(dump.coprocessor);
  out->set_crash_id(dump.crash_id);
  out->set_reason(dump.reason);
  TimeToProto(dump.time, out->mutable_time());
  out->set_size(dump.bytes->size());
  out->set_sha256(dump.sha256);
}

v1::HistoryEntry HistoryToProto(const HistoryEntry& entry) {
  v1::HistoryEntry out;
  out.set_id(entry.id);
  TimeToProto(entry.time, out.mutable_time());
  out.set_name(entry.coprocessor);
  out.set_operation(OperationToProto(entry.operation));
  out.set_request_id(entry.request_id);
  CallerToProto(entry.caller, out.mutable_caller());
  out.set_image_sha256(entry.image_sha256);
  out.set_from_state(StateToProto(entry.from));
  out.set_to_state(StateToProto(entry.to));
  if (entry.result == "OK") {
    out.set_outcome(v1::OUTCOME_OK);
  } else {
    out.set_reason(entry.result);
    out.set_outcome(!entry.refused                    ? v1::OUTCOME_FAILED
                    : entry.result == "ACCESS_DENIED" ? v1::OUTCOME_DENIED
                                                      : v1::OUTCOME_REFUSED);
  }
  out.set_message(entry.message);
  DurationToProto(entry.duration, out.mutable_duration());
  return out;
}

}  // namespace pil::server
