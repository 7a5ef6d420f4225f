"""Python client of pild's pil.v1.LifecycleService API, for scripts and tests.

    import pild
    with pild.connect() as client:          # default endpoint
        for c in client.list():
            print(c.name, pild.state_name(c.state))
        try:
            client.get("nope")
        except pild.NotFound as e:         # a pild.PildError
            print(e.code, e.reason, e.metadata)  # NOT_FOUND UNKNOWN_COPROCESSOR {...}

Over TCP, pild requires mutual TLS:

    client = pild.connect("192.0.2.7:7443", tls=pild.Tls(
        cert="client.pem", key="client.key", ca="pild-ca.pem"))

Deadlines, as the C++ client's: `timeout` (10 s) for queries,
`transition_timeout` (60 s) for transitions, image inspections, uploads and
coredump downloads; a call's own `timeout=` overrides them. A timeout is a
number of seconds > 0 (None: the default); anything else is a ValueError.

The generated pil.v1 and google.rpc modules are this package's own
(pild._proto); `pild.pb` holds every pil.v1 message and enum.
client/python/README.md has the rest.
"""

import contextlib
import hashlib
import os
import types
import uuid
from typing import Any, Iterator, List, NamedTuple, Optional, Tuple

import grpc
from google.protobuf import duration_pb2

from pild._proto.pil.v1 import (history_pb2, image_pb2, info_pb2, lifecycle_pb2,
                                lifecycle_pb2_grpc, state_pb2)
from pild.errors import (Aborted, Busy, Cancelled, DeadlineExceeded, FailedPrecondition,
                         ImageInvalid, InvalidArgument, Leased, NotFound, PermissionDenied,
                         PildError, ResourceExhausted, Unavailable, WrongState, family)
from pild.watch import Watch

# Every pil.v1 message and enum, whichever file defines it.
pb = types.SimpleNamespace(**{
    name: value
    for module in (state_pb2, image_pb2, history_pb2, info_pb2, lifecycle_pb2)
    for name, value in vars(module).items() if not name.startswith("_")})

# Default deadlines in seconds (client/pild_client.h Options).
QUERY_TIMEOUT = 10.0
TRANSITION_TIMEOUT = 60.0


class Tls(NamedTuple):
    """Mutual-TLS material for a TCP connection: PEM file paths of the
    client's certificate and key (None: connect without one, which pild
    refuses) and of the CA that issued pild's certificate; `server_name`
    when pild's certificate names another host than the address."""
    cert: Optional[str]
    key: Optional[str]
    ca: str
    server_name: Optional[str] = None


__all__ = ["PildError", "Unavailable", "DeadlineExceeded", "Cancelled", "NotFound",
           "InvalidArgument", "PermissionDenied", "ImageInvalid", "FailedPrecondition",
           "WrongState", "Leased", "Busy", "ResourceExhausted", "Aborted", "family",
           "Client", "Watch", "Tls", "connect", "default_endpoint", "enum_text",
           "state_name", "pb", "QUERY_TIMEOUT", "TRANSITION_TIMEOUT"]


def default_endpoint() -> str:
    """The address pild listens on by default (see common/endpoint.h)."""
    socket = os.environ.get("PILD_SOCKET")
    if socket:
        return "unix:" + socket
    if os.geteuid() == 0:
        return "unix:/run/pild/pild.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return "unix:%s/pild/pild.sock" % runtime
    return "unix:/tmp/pild-%d/pild.sock" % os.geteuid()


def enum_text(enum: Any, value: int) -> str:
    """A pil.v1 enum value as pilctl prints it: its name without the prefix
    every value of its enum has, in lower case; the number for a value this
    module does not know. enum_text(pb.Operation, pb.OPERATION_START) is
    "start"."""
    prefix = enum.DESCRIPTOR.values[0].name[:-len("UNSPECIFIED")]
    try:
        return enum.Name(value).removeprefix(prefix).lower()
    except ValueError:
        return str(value)


def state_name(state: int) -> str:
    """'offline', 'running', ... for a pil.v1.State value."""
    return enum_text(pb.State, state)


def _seconds(value: Optional[float], what: str) -> Optional[float]:
    """`value` when it is a timeout in seconds (> 0) or None; else ValueError.
    0 is not "no deadline" nor "the default": it is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("%s must be a number of seconds > 0, or None for the default; got %r"
                         % (what, value))
    return float(value)


# Channel options: a lost connection is tried again within 2 s, so that a
# resumed Watch finds a restarted pild quickly. (Not
# grpc.min_reconnect_backoff_ms: it is also the connection attempt's
# timeout, which a socket-activated pild needs whole.)
_CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 2000)]


class Client:
    """One channel to pild. Queries have a deadline of `timeout` seconds
    (default QUERY_TIMEOUT, 10 s); transitions, inspections, uploads and
    coredump downloads one of `transition_timeout` (TRANSITION_TIMEOUT,
    60 s). Every call raises a PildError (of its family) on failure.
    Thread-safe: threads may share a client."""

    def __init__(self, address: Optional[str] = None, timeout: Optional[float] = None,
                 tls: Optional[Tls] = None, transition_timeout: Optional[float] = None) -> None:
        self.address = address or default_endpoint()
        self.timeout = _seconds(timeout, "timeout") or QUERY_TIMEOUT
        self.transition_timeout = (_seconds(transition_timeout, "transition_timeout")
                                   or TRANSITION_TIMEOUT)
        if tls is None:
            self.channel = grpc.insecure_channel(self.address, _CHANNEL_OPTIONS)
        else:
            def read(path: str) -> bytes:
                with open(path, "rb") as f:
                    return f.read()
            credentials = grpc.ssl_channel_credentials(
                read(tls.ca), read(tls.key) if tls.key else None,
                read(tls.cert) if tls.cert else None)
            options = list(_CHANNEL_OPTIONS)
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self.channel = grpc.secure_channel(self.address, credentials, options)
        self.stub = lifecycle_pb2_grpc.LifecycleServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, request: Any, timeout: Optional[float] = None) -> Any:
        """Calls a unary method by name with a deadline of `timeout` seconds
        (default: the query timeout)."""
        deadline = _seconds(timeout, "timeout") or self.timeout
        try:
            return getattr(self.stub, method)(request, timeout=deadline)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None

    def _transition(self, method: str, request: Any, timeout: Optional[float]) -> Any:
        return self.call(method, request,
                         _seconds(timeout, "timeout") or self.transition_timeout)

    def list(self, observe_hardware: bool = False) -> List[lifecycle_pb2.Coprocessor]:
        request = pb.ListCoprocessorsRequest(observe_hardware=observe_hardware)
        return list(self.call("ListCoprocessors", request).coprocessors)

    def get(self, name: str, observe_hardware: bool = False) -> lifecycle_pb2.Coprocessor:
        request = pb.GetCoprocessorRequest(name=name, observe_hardware=observe_hardware)
        return self.call("GetCoprocessor", request)

    # Transitions return a pil.v1.TransitionResponse. `firmware` is a name
    # relative to pild's firmware directories, `upload` the SHA-256 an
    # upload returned; neither means the device tree's firmware name. A
    # fresh request id is made when none is given. `ready_timeout` and
    # `stop_ack_timeout` are pild's own bounds (None: pild's default).

    @staticmethod
    def _source(firmware: Optional[str], upload: Optional[str]) -> Optional[Any]:
        if firmware is not None and upload is not None:
            raise ValueError("give firmware or upload, not both")
        if firmware is not None:
            return pb.FirmwareSource(firmware_name=firmware)
        if upload is not None:
            return pb.FirmwareSource(upload_sha256=upload)
        return None

    @staticmethod
    def _duration(seconds: Optional[float]) -> Optional[duration_pb2.Duration]:
        if seconds is None:
            return None
        d = duration_pb2.Duration()
        d.FromNanoseconds(int(seconds * 1e9))
        return d

    def authenticate(self, name: str, firmware: Optional[str] = None,
                     upload: Optional[str] = None, request_id: Optional[str] = None,
                     timeout: Optional[float] = None) -> lifecycle_pb2.TransitionResponse:
        request = pb.AuthenticateRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                         firmware=self._source(firmware, upload))
        return self._transition("Authenticate", request, timeout)

    def map(self, name: str, request_id: Optional[str] = None,
            timeout: Optional[float] = None) -> lifecycle_pb2.TransitionResponse:
        request = pb.MapRequest(name=name, request_id=request_id or str(uuid.uuid4()))
        return self._transition("Map", request, timeout)

    def reset(self, name: str, ready_timeout: Optional[float] = None,
              request_id: Optional[str] = None,
              timeout: Optional[float] = None) -> lifecycle_pb2.TransitionResponse:
        request = pb.ResetRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                  ready_timeout=self._duration(ready_timeout))
        return self._transition("Reset", request, timeout)

    def start(self, name: str, firmware: Optional[str] = None, upload: Optional[str] = None,
              ready_timeout: Optional[float] = None, request_id: Optional[str] = None,
              timeout: Optional[float] = None,
              dry_run: bool = False) -> lifecycle_pb2.TransitionResponse:
        """With dry_run, every check a Start makes short of the secure world,
        and nothing done."""
        request = pb.StartRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                  firmware=self._source(firmware, upload),
                                  ready_timeout=self._duration(ready_timeout),
                                  dry_run=dry_run)
        return self._transition("Start", request, timeout)

    def stop(self, name: str, stop_ack_timeout: Optional[float] = None,
             request_id: Optional[str] = None,
             timeout: Optional[float] = None) -> lifecycle_pb2.TransitionResponse:
        request = pb.StopRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                 stop_ack_timeout=self._duration(stop_ack_timeout))
        return self._transition("Stop", request, timeout)

    def watch(self, name: str = "", timeout: Optional[float] = None,
              after_sequence: Optional[int] = None, epoch: str = "", resume: bool = True,
              reconnect_timeout: float = 60.0) -> Watch:
        """A Watch of `name` (all coprocessors when empty): iterates
        pil.v1.WatchEvent, the current states first, then changes; resumes
        by itself when the stream breaks (pild.watch says how, and how it
        tells that events were missed). Without `timeout` it has no
        deadline; with one the iteration ends when it passes. cancel() it,
        or use it as a context manager. `after_sequence` and `epoch` (of an
        event received earlier) start it as a resumed watch; resume=False
        raises Unavailable instead of resuming."""
        _seconds(timeout, "timeout")
        _seconds(reconnect_timeout, "reconnect_timeout")
        request = pb.WatchRequest(name=name, after_sequence=after_sequence, epoch=epoch)
        return Watch(lambda r, deadline: self.stub.Watch(r, timeout=deadline), request,
                     timeout, resume, reconnect_timeout)

    def inspect(self, firmware: Optional[str] = None, upload: Optional[str] = None,
                coprocessor: str = "", timeout: Optional[float] = None) -> image_pb2.ImageReport:
        request = pb.InspectImageRequest(firmware=self._source(firmware, upload),
                                         coprocessor=coprocessor)
        return self._transition("InspectImage", request, timeout)

    def upload(self, data: bytes, name: str = "image.mbn", chunk_size: int = 1 << 20,
               timeout: Optional[float] = None) -> lifecycle_pb2.UploadFirmwareResponse:
        """Uploads an image (bytes); returns the UploadFirmwareResponse."""
        deadline = _seconds(timeout, "timeout") or self.transition_timeout

        def requests() -> Iterator[Any]:
            yield pb.UploadFirmwareRequest(header=pb.UploadHeader(
                name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                request_id=str(uuid.uuid4())))
            for offset in range(0, len(data), chunk_size):
                yield pb.UploadFirmwareRequest(chunk=data[offset:offset + chunk_size])
        try:
            return self.stub.UploadFirmware(requests(), timeout=deadline)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None

    def coredump(self, name: str, crash_id: int = 0, timeout: Optional[float] = None
                 ) -> Tuple[Optional[lifecycle_pb2.CoredumpInfo], bytes]:
        """(CoredumpInfo, bytes) of a captured coredump."""
        deadline = _seconds(timeout, "timeout") or self.transition_timeout
        info, parts = None, []
        try:
            for chunk in self.stub.GetCoredump(pb.GetCoredumpRequest(name=name, crash_id=crash_id),
                                               timeout=deadline):
                if chunk.HasField("info"):
                    info = chunk.info
                else:
                    parts.append(chunk.data)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None
        return info, b"".join(parts)

    def update_recovery(self, name: str, restart: bool, max_restarts: int = 3,
                        initial_backoff: float = 0.1) -> lifecycle_pb2.Coprocessor:
        """Sets how `name` reacts to its next crashes (until pild restarts);
        returns the Coprocessor. `initial_backoff` in seconds."""
        policy = pb.RecoveryPolicy(restart=restart, max_restarts=max_restarts,
                                   initial_backoff=self._duration(initial_backoff))
        return self.call("UpdateRecoveryPolicy",
                         pb.UpdateRecoveryPolicyRequest(name=name, recovery=policy))

    @contextlib.contextmanager
    def lease(self, *names: str, holder: str = "") -> Iterator[lifecycle_pb2.LeaseResponse]:
        """Holds coprocessors `names` while the block runs: others cannot
        move them (Leased); when the block ends, or this process dies, pild
        stops them. Yields the pil.v1.LeaseResponse grant."""
        stream = self.stub.Lease(pb.LeaseRequest(names=names, holder=holder))
        try:
            try:
                grant = next(stream)
            except grpc.RpcError as error:
                raise PildError.from_rpc_error(error) from None
            yield grant
        finally:
            stream.cancel()

    def coredumps(self, name: str = "") -> List[lifecycle_pb2.CoredumpInfo]:
        """CoredumpInfo of every coredump pild holds (of `name`), newest first."""
        return list(self.call("ListCoredumps", pb.ListCoredumpsRequest(name=name)).coredumps)

    def uploads(self) -> List[lifecycle_pb2.Upload]:
        """pil.v1.Upload of every uploaded image pild holds, newest first."""
        return list(self.call("ListUploads", pb.ListUploadsRequest()).uploads)

    def delete_upload(self, sha256: str) -> None:
        """Forgets an uploaded image (UPLOAD_IN_USE while a coprocessor runs it)."""
        self.call("DeleteUpload", pb.DeleteUploadRequest(sha256=sha256))

    def history(self, name: str = "", limit: int = 0) -> List[history_pb2.HistoryEntry]:
        """The newest `limit` (default 100) audit-trail entries of `name` (all when empty)."""
        return self.history_page(name, limit)[0]

    def history_page(self, name: str = "", limit: int = 0, page_token: str = "",
                     caller_uid: Optional[int] = None, caller_certificate: str = "",
                     since: Optional[float] = None
                     ) -> Tuple[List[history_pb2.HistoryEntry], str]:
        """One page of the audit trail, newest first: (entries, next_page_token);
        `since` in seconds since the epoch."""
        request = pb.GetHistoryRequest(name=name, limit=limit, page_token=page_token,
                                       caller_certificate=caller_certificate)
        if caller_uid is not None:
            request.caller_uid = caller_uid
        if since is not None:
            request.since.FromNanoseconds(int(since * 1e9))
        response = self.call("GetHistory", request)
        return list(response.entries), response.next_page_token

    def info(self) -> info_pb2.GetInfoResponse:
        """pil.v1.GetInfoResponse: pild, its admission and audit state, and who the caller is."""
        return self.call("GetInfo", pb.GetInfoRequest())


def connect(address: Optional[str] = None, timeout: Optional[float] = None,
            tls: Optional[Tls] = None, transition_timeout: Optional[float] = None) -> Client:
    """A Client for `address` (default: default_endpoint()); `tls`: a Tls;
    `timeout` and `transition_timeout` in seconds (None: 10 s and 60 s)."""
    return Client(address, timeout, tls, transition_timeout)
