"""PildError and its families: what a failed call raises.

    try:
        client.start("adsp")
    except pild.WrongState as e:       # FAILED_PRECONDITION / WRONG_STATE
        print(e.metadata["state"])
    except pild.Busy:                  # retry later
        ...
    except pild.PildError as e:        # anything else pild answered
        print(e.code, e.reason)

The family comes from the ErrorInfo reason when it names one (BUSY is a
DEADLINE_EXCEEDED but a Busy), else from the gRPC code. docs/API.md lists
the reasons.
"""

from typing import Dict, Mapping, Optional, Type

import grpc

from pild._proto.google.rpc import error_details_pb2, status_pb2

# google.rpc.ErrorInfo.domain of pild's errors (common/rpc_status.h).
ERROR_DOMAIN = "pild"


class PildError(Exception):
    """A failed call: `code` the gRPC status code name ("NOT_FOUND"),
    `message` its text, `reason` pild's stable reason ("" when pild gave
    none) and `metadata` the reason's details."""

    def __init__(self, code: str, message: str, reason: str = "",
                 metadata: Optional[Mapping[str, str]] = None) -> None:
        super().__init__("%s: %s%s" % (code, message, " [%s]" % reason if reason else ""))
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata: Dict[str, str] = dict(metadata or {})

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "PildError":
        """The PildError (of its family) for a grpc.RpcError: its code, and
        the reason and metadata of the google.rpc.ErrorInfo it carries when
        that is pild's (domain "pild"); another domain's ErrorInfo is no
        reason."""
        reason, metadata = "", {}
        for key, value in error.trailing_metadata() or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                    reason, metadata = info.reason, dict(info.metadata)
        code = error.code().name
        return family(code, reason)(code, error.details() or "", reason, metadata)


class Unavailable(PildError):
    """pild cannot be reached (not running, wrong address, connection lost,
    TLS handshake refused), or it could not write the audit record."""


class DeadlineExceeded(PildError):
    """The call's deadline passed (the client's, or a ready/kernel timeout:
    READY_TIMEOUT, KERNEL_TIMEOUT); a transition may still complete."""


class Cancelled(PildError):
    """The call was cancelled; a transition was rolled back."""


class NotFound(PildError):
    """No such coprocessor, firmware, upload or coredump
    (UNKNOWN_COPROCESSOR, FIRMWARE_NOT_FOUND, UPLOAD_NOT_FOUND, NO_COREDUMP,
    FILE_NOT_FOUND)."""


class InvalidArgument(PildError):
    """A malformed request (MISSING_FIELD, BAD_NAME, BAD_TIMEOUT,
    FIRMWARE_NAME_INVALID, REQUEST_ID_REUSED, UPLOAD_*...)."""


class PermissionDenied(PildError):
    """The policy does not let the caller do this (ACCESS_DENIED), or a
    firmware name leads out of its directory (FILE_OUTSIDE_DIRECTORY)."""


class ImageInvalid(PildError):
    """The image fails validation: its structure (INVALID_ARGUMENT), its
    signature or chain (PERMISSION_DENIED), a missing split part
    (NOT_FOUND), or the secure world refused it (SW_ID_MISMATCH,
    ROLLBACK, ROOT_NOT_TRUSTED)."""


class FailedPrecondition(PildError):
    """The call cannot be made in the current situation
    (FAILED_PRECONDITION without a more specific family)."""


class WrongState(FailedPrecondition):
    """The coprocessor is not in a state the transition starts from
    (WRONG_STATE, metadata `state`; KERNEL_STATE, ALREADY_RUNNING,
    STILL_HELD, KERNEL_STILL_RUNNING)."""


class Leased(FailedPrecondition):
    """Another client holds the coprocessor with a lease (LEASED, metadata
    `holder`)."""


class Busy(PildError):
    """pild or the coprocessor is busy; retry later (SERVER_BUSY,
    CALLER_BUSY, BUSY, TOO_MANY_UPLOADS/WATCHES/DOWNLOADS/LEASES,
    UPLOAD_BUDGET_EXHAUSTED)."""


class ResourceExhausted(PildError):
    """A bound other than a busy one (UPLOAD_TOO_LARGE, WATCH_TOO_SLOW)."""


class Aborted(PildError):
    """The transition was abandoned: the coprocessor crashed while booting
    (SMMU_FAULT, WATCHDOG, FATAL_ERROR) or pild stopped (SHUTTING_DOWN)."""


_WRONG_STATE = {"WRONG_STATE", "KERNEL_STATE", "ALREADY_RUNNING", "STILL_HELD",
                "KERNEL_STILL_RUNNING"}
_BUSY = {"SERVER_BUSY", "CALLER_BUSY", "BUSY", "TOO_MANY_UPLOADS", "TOO_MANY_WATCHES",
         "TOO_MANY_DOWNLOADS", "TOO_MANY_LEASES", "UPLOAD_BUDGET_EXHAUSTED"}
# Image validation (docs/IMAGES.md) and the secure world's verdicts on an image.
_IMAGE = {
    "IMAGE_TOO_SHORT", "ELF_BAD_MAGIC", "ELF_UNSUPPORTED", "PHDR_SIZE_INVALID",
    "PHDR_TABLE_OUT_OF_FILE", "SHDR_TABLE_INVALID", "TOO_FEW_SEGMENTS",
    "HEADER_SEGMENT_INVALID", "HASH_SEGMENT_MISSING", "SEGMENT_FILESZ_EXCEEDS_MEMSZ",
    "SEGMENT_TRUNCATED", "SPLIT_SEGMENT_MISSING", "SPLIT_SEGMENT_SIZE_MISMATCH",
    "SPLIT_NAME_INVALID", "TOO_MANY_SEGMENTS", "NO_LOADABLE_SEGMENTS",
    "SEGMENT_ADDRESS_OVERFLOW", "IMAGE_TOO_LARGE", "SEGMENT_OUTSIDE_CARVEOUT",
    "SEGMENTS_OVERLAP", "HASH_SEGMENT_TOO_SHORT", "HASH_VERSION_UNSUPPORTED",
    "HASH_SEGMENT_SIZE_MISMATCH", "HASH_TABLE_SIZE_MISMATCH", "HASH_MISMATCH",
    "SIGNATURE_MISSING", "SIGNATURE_INVALID", "CHAIN_BROKEN", "CERTIFICATE_INVALID",
    "SW_ID_MISMATCH", "ROLLBACK", "ROOT_NOT_TRUSTED", "FIRMWARE_DECOMPRESS_FAILED",
}
_BY_CODE: Dict[str, Type[PildError]] = {
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "CANCELLED": Cancelled,
    "NOT_FOUND": NotFound,
    "INVALID_ARGUMENT": InvalidArgument,
    "PERMISSION_DENIED": PermissionDenied,
    "FAILED_PRECONDITION": FailedPrecondition,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "ABORTED": Aborted,
}


def family(code: str, reason: str = "") -> Type[PildError]:
    """The PildError subclass for a gRPC code name and a pild reason."""
    if reason in _IMAGE:
        return ImageInvalid
    if reason in _BUSY:
        return Busy
    if reason == "LEASED":
        return Leased
    if reason in _WRONG_STATE and code == "FAILED_PRECONDITION":
        return WrongState
    return _BY_CODE.get(code, PildError)
