#include "platform/backend.h"

#include "absl/strings/str_cat.h"
#include "common/error.h"
#include "common/hex.h"

namespace pil::platform {

absl::Status StepNotSupported(const Capabilities& capabilities,
                              absl::string_view verb) {
  return Error(absl::StatusCode::kFailedPrecondition, "STEP_NOT_SUPPORTED",
               absl::StrCat(verb, " is not a separate step on this backend: ",
                            capabilities.one_step_reason, "; use Start"),
               {{"operation", std::string(verb)}});
}

const char* MappingOwnerName(MappingOwner owner) {
  return owner == MappingOwner::kOs ? "os" : "hypervisor";
}

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kTranslation:
      return "translation";
    case FaultKind::kPermission:
      return "permission";
    case FaultKind::kUnmatchedStream:
      return "unmatched stream";
  }
  return "unknown";
}

const char* AccessTypeName(AccessType access) {
  switch (access) {
    case AccessType::kRead:
      return "read";
    case AccessType::kWrite:
      return "write";
    case AccessType::kExecute:
      return "execute";
  }
  return "unknown";
}

const char* CrashReason(CrashKind kind) {
  switch (kind) {
    case CrashKind::kWatchdog:
      return "WATCHDOG";
    case CrashKind::kFatal:
      return "FATAL_ERROR";
    case CrashKind::kSmmuFault:
      return "SMMU_FAULT";
    case CrashKind::kUnspecified:
      break;
  }
  return "CRASHED";
}

absl::Status CrashError(absl::string_view coprocessor, const Event& event) {
  const std::string name(coprocessor);
  if (event.crash == CrashKind::kSmmuFault && event.fault) {
    const SmmuFault& f = *event.fault;
    const char* verb = f.access == AccessType::kWrite     ? "writing"
                       : f.access == AccessType::kExecute ? "fetching"
                                                          : "reading";
    return Error(
        absl::StatusCode::kFailedPrecondition, "SMMU_FAULT",
        absl::StrCat(name, " crashed with an SMMU ", FaultKindName(f.kind),
                     " fault: stream ", Hex(f.sid), " ", verb, " iova ",
                     Hex(f.iova),
                     f.kind == FaultKind::kPermission
                         ? ""
                         : " (nothing mapped there: was the firmware stream "
                           "mapped?)"),
        {{"coprocessor", name},
         {"sid", Hex(f.sid)},
         {"iova", Hex(f.iova)},
         {"fault", FaultKindName(f.kind)},
         {"access", AccessTypeName(f.access)}});
  }
  return Error(
      absl::StatusCode::kAborted, CrashReason(event.crash),
      absl::StrCat(name, " crashed: ",
                   event.detail.empty() ? "no reason given" : event.detail),
      {{"coprocessor", name}});
}

std::string IommuPermissions(uint32_t prot) {
  std::string out;
  if (prot & kIommuRead) out += 'r';
  if (prot & kIommuWrite) out += 'w';
  if (!(prot & kIommuNoExec)) out += 'x';
  if (prot & kIommuPriv) out += 'p';
  return out;
}

absl::StatusOr<VerifiedImage> CoprocessorOps::Authenticate(const BootImages&,
                                                           Steps&) {
  return StepNotSupported(capabilities(), "authenticate");
}

absl::Status CoprocessorOps::Map(Steps&) {
  return StepNotSupported(capabilities(), "map");
}

absl::Status CoprocessorOps::Reset(absl::Duration, Steps&) {
  return StepNotSupported(capabilities(), "reset");
}

absl::StatusOr<VerifiedImage> CoprocessorOps::Start(const BootImages&,
                                                    absl::Duration, Steps&) {
  return Error(absl::StatusCode::kInternal, "NOT_SUPPORTED",
               "this backend starts a coprocessor in separate steps; the "
               "engine drives Authenticate, Map and Reset");
}

}  // namespace pil::platform
