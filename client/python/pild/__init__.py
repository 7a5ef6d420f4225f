"""Python client of pild's pil.v1.Lifecycle API, for scripts and tests.

    import pild
    client = pild.connect()                 # default endpoint, 10 s deadline
    for c in client.list():
        print(c.name, pild.state_name(c.state))
    try:
        client.get("nope")
    except pild.PildError as e:
        print(e.code, e.reason, e.metadata)  # NOT_FOUND UNKNOWN_COPROCESSOR {...}

Needs the generated modules proto.pil.v1.lifecycle_pb2(_grpc) and
google.rpc.{status,error_details}_pb2 on sys.path (bazel-bin and
bazel-bin/third_party/googleapis after a build).
"""

import os

import grpc

from google.rpc import error_details_pb2, status_pb2
from proto.pil.v1 import lifecycle_pb2, lifecycle_pb2_grpc

pb = lifecycle_pb2

__all__ = ["PildError", "Client", "connect", "default_endpoint", "state_name", "pb"]


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


def state_name(state):
    """'offline', 'running', ... for a pil.v1.State value."""
    return pb.State.Name(state).removeprefix("STATE_").lower()


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

    def __init__(self, address=None, timeout=10.0):
        self.address = address or default_endpoint()
        self.timeout = timeout
        self.channel = grpc.insecure_channel(self.address)
        self.stub = lifecycle_pb2_grpc.LifecycleStub(self.channel)

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

    def list(self):
        return list(self.call("ListCoprocessors", pb.ListCoprocessorsRequest()).coprocessors)

    def get(self, name):
        return self.call("GetCoprocessor", pb.GetCoprocessorRequest(name=name))


def connect(address=None, timeout=10.0):
    """A Client for `address` (default: default_endpoint())."""
    return Client(address, timeout)
