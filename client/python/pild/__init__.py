"""Python client of pild's pil.v1.LifecycleService API, for scripts and tests.

    import pild
    client = pild.connect()                 # default endpoint, 10 s deadline
    for c in client.list():
        print(c.name, pild.state_name(c.state))
    try:
        client.get("nope")
    except pild.PildError as e:
        print(e.code, e.reason, e.metadata)  # NOT_FOUND UNKNOWN_COPROCESSOR {...}

Over TCP, pild requires mutual TLS:

    client = pild.connect("192.0.2.7:7443", tls=pild.Tls(
        cert="client.pem", key="client.key", ca="pild-ca.pem"))

Needs the generated modules proto.pil.v1.*_pb2(_grpc) and
google.rpc.{status,error_details}_pb2 on sys.path (bazel-bin and
bazel-bin/third_party/googleapis after a build).
"""

import collections
import contextlib
import hashlib
import os
import types
import uuid

import grpc

from google.rpc import error_details_pb2, status_pb2
from proto.pil.v1 import (history_pb2, image_pb2, info_pb2, lifecycle_pb2,
                          lifecycle_pb2_grpc, state_pb2)

# Every pil.v1 message and enum, whichever file defines it.
pb = types.SimpleNamespace(**{
    name: value
    for module in (state_pb2, image_pb2, history_pb2, info_pb2, lifecycle_pb2)
    for name, value in vars(module).items() if not name.startswith("_")})

# Mutual-TLS material for a TCP connection: PEM file paths of the client's
# certificate and key (None: connect without one, which pild refuses) and of
# the CA that issued pild's certificate;
# `server_name` when pild's certificate names another host than the address.
Tls = collections.namedtuple("Tls", "cert key ca server_name", defaults=(None,))

__all__ = ["PildError", "Client", "Tls", "connect", "default_endpoint", "enum_text", "state_name",
           "pb"]


def default_endpoint():
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


def enum_text(enum, value):
    """A pil.v1 enum value as pilctl prints it: its name without the prefix
    every value of its enum has, in lower case; the number for a value this
    module does not know. enum_text(pb.Operation, pb.OPERATION_START) is
    "start"."""
    prefix = enum.DESCRIPTOR.values[0].name[:-len("UNSPECIFIED")]
    try:
        return enum.Name(value).removeprefix(prefix).lower()
    except ValueError:
        return str(value)


def state_name(state):
    """'offline', 'running', ... for a pil.v1.State value."""
    return enum_text(pb.State, state)


class PildError(Exception):
    """A failed call: gRPC code name, ErrorInfo reason and metadata."""

    def __init__(self, code, message, reason="", metadata=None):
        super().__init__("%s: %s%s" % (code, message, " [%s]" % reason if reason else ""))
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})

    @classmethod
    def from_rpc_error(cls, error):
        """Decodes the google.rpc.ErrorInfo a grpc.RpcError carries, if any."""
        reason, metadata = "", {}
        for key, value in error.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    info = error_details_pb2.ErrorInfo()
                    if detail.Unpack(info):
                        reason, metadata = info.reason, dict(info.metadata)
        return cls(error.code().name, error.details(), reason, metadata)


class Client:
    """One channel to pild; every call has a deadline of `timeout` seconds."""

    def __init__(self, address=None, timeout=10.0, tls=None):
        self.address = address or default_endpoint()
        self.timeout = timeout
        if tls is None:
            self.channel = grpc.insecure_channel(self.address)
        else:
            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            credentials = grpc.ssl_channel_credentials(
                read(tls.ca), read(tls.key) if tls.key else None,
                read(tls.cert) if tls.cert else None)
            options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
            self.channel = grpc.secure_channel(self.address, credentials, options)
        self.stub = lifecycle_pb2_grpc.LifecycleServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, request, timeout=None):
        """Calls a unary method by name, raising PildError on failure."""
        try:
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None

    def list(self, observe_hardware=False):
        request = pb.ListCoprocessorsRequest(observe_hardware=observe_hardware)
        return list(self.call("ListCoprocessors", request).coprocessors)

    def get(self, name, observe_hardware=False):
        request = pb.GetCoprocessorRequest(name=name, observe_hardware=observe_hardware)
        return self.call("GetCoprocessor", request)

    # Transitions return a pil.v1.TransitionResponse. `firmware` is a name
    # relative to pild's firmware directories, `upload` the SHA-256 an
    # upload returned; neither means the device tree's firmware name. A
    # fresh request id is made when none is given.

    @staticmethod
    def _source(firmware, upload):
        if firmware is not None and upload is not None:
            raise ValueError("give firmware or upload, not both")
        if firmware is not None:
            return pb.FirmwareSource(firmware_name=firmware)
        if upload is not None:
            return pb.FirmwareSource(upload_sha256=upload)
        return None

    @staticmethod
    def _duration(seconds):
        if seconds is None:
            return None
        from google.protobuf import duration_pb2
        d = duration_pb2.Duration()
        d.FromNanoseconds(int(seconds * 1e9))
        return d

    def authenticate(self, name, firmware=None, upload=None, request_id=None, timeout=None):
        request = pb.AuthenticateRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                         firmware=self._source(firmware, upload))
        return self.call("Authenticate", request, timeout)

    def map(self, name, request_id=None, timeout=None):
        request = pb.MapRequest(name=name, request_id=request_id or str(uuid.uuid4()))
        return self.call("Map", request, timeout)

    def reset(self, name, ready_timeout=None, request_id=None, timeout=None):
        request = pb.ResetRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                  ready_timeout=self._duration(ready_timeout))
        return self.call("Reset", request, timeout)

    def start(self, name, firmware=None, upload=None, ready_timeout=None, request_id=None,
              timeout=None, dry_run=False):
        """With dry_run, every check a Start makes short of the secure world,
        and nothing done."""
        request = pb.StartRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                  firmware=self._source(firmware, upload),
                                  ready_timeout=self._duration(ready_timeout),
                                  dry_run=dry_run)
        return self.call("Start", request, timeout)

    def stop(self, name, stop_ack_timeout=None, request_id=None, timeout=None):
        request = pb.StopRequest(name=name, request_id=request_id or str(uuid.uuid4()),
                                 stop_ack_timeout=self._duration(stop_ack_timeout))
        return self.call("Stop", request, timeout)

    def watch(self, name="", timeout=None, after_sequence=None, epoch=""):
        """Iterates pil.v1.WatchEvent: the current state first, then changes.
        Without `timeout` the stream has no deadline; cancel() the returned
        iterator to end it. With `after_sequence` and `epoch` (of the last
        event received) it resumes a broken watch: the events after it when
        pild still holds them, else the current state again."""
        request = pb.WatchRequest(name=name, after_sequence=after_sequence, epoch=epoch)
        stream = self.stub.Watch(request, timeout=timeout)
        return _Stream(stream)

    def inspect(self, firmware=None, upload=None, coprocessor=""):
        request = pb.InspectImageRequest(firmware=self._source(firmware, upload),
                                         coprocessor=coprocessor)
        return self.call("InspectImage", request)

    def upload(self, data, name="image.mbn", chunk_size=1 << 20, timeout=None):
        """Uploads an image (bytes); returns the UploadFirmwareResponse."""
        def requests():
            yield pb.UploadFirmwareRequest(header=pb.UploadHeader(
                name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                request_id=str(uuid.uuid4())))
            for offset in range(0, len(data), chunk_size):
                yield pb.UploadFirmwareRequest(chunk=data[offset:offset + chunk_size])
        try:
            return self.stub.UploadFirmware(requests(), timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None

    def coredump(self, name, crash_id=0):
        """(CoredumpInfo, bytes) of a captured coredump."""
        info, parts = None, []
        try:
            for chunk in self.stub.GetCoredump(pb.GetCoredumpRequest(name=name, crash_id=crash_id),
                                               timeout=self.timeout):
                if chunk.HasField("info"):
                    info = chunk.info
                else:
                    parts.append(chunk.data)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None
        return info, b"".join(parts)

    def update_recovery(self, name, restart, max_restarts=3, initial_backoff=0.1):
        """Sets how `name` reacts to its next crashes (until pild restarts);
        returns the Coprocessor. `initial_backoff` in seconds."""
        policy = pb.RecoveryPolicy(restart=restart, max_restarts=max_restarts,
                                   initial_backoff=self._duration(initial_backoff))
        return self.call("UpdateRecoveryPolicy",
                         pb.UpdateRecoveryPolicyRequest(name=name, recovery=policy))

    @contextlib.contextmanager
    def lease(self, *names, holder=""):
        """Holds coprocessors `names` while the block runs: others cannot
        move them (LEASED); when the block ends, or this process dies, pild
        stops them. Yields the pil.v1.LeaseResponse grant."""
        stream = _Stream(self.stub.Lease(pb.LeaseRequest(names=names, holder=holder)))
        try:
            yield next(stream)
        finally:
            stream.cancel()

    def coredumps(self, name=""):
        """CoredumpInfo of every coredump pild holds (of `name`), newest first."""
        return list(self.call("ListCoredumps", pb.ListCoredumpsRequest(name=name)).coredumps)

    def uploads(self):
        """pil.v1.Upload of every uploaded image pild holds, newest first."""
        return list(self.call("ListUploads", pb.ListUploadsRequest()).uploads)

    def delete_upload(self, sha256):
        """Forgets an uploaded image (UPLOAD_IN_USE while a coprocessor runs it)."""
        self.call("DeleteUpload", pb.DeleteUploadRequest(sha256=sha256))

    def history(self, name="", limit=0):
        """The newest `limit` (default 100) audit-trail entries of `name` (all when empty)."""
        return self.history_page(name, limit)[0]

    def history_page(self, name="", limit=0, page_token="", caller_uid=None,
                     caller_certificate="", since=None):
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

    def info(self):
        """pil.v1.GetInfoResponse: pild, its admission and audit state, and who the caller is."""
        return self.call("GetInfo", pb.GetInfoRequest())


class _Stream:
    """A server stream whose errors are PildErrors."""

    def __init__(self, stream):
        self._stream = stream

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._stream)
        except grpc.RpcError as error:
            raise PildError.from_rpc_error(error) from None

    def cancel(self):
        self._stream.cancel()


def connect(address=None, timeout=10.0, tls=None):
    """A Client for `address` (default: default_endpoint()); `tls`: a Tls."""
    return Client(address, timeout, tls)
