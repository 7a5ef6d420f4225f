"""The pild package's error families and deadlines, and the example script
(client/python/examples) run against a pild on the simulated SoC."""

import subprocess
import sys

import grpc
import pytest

import pild
from pild._proto.google.rpc import error_details_pb2, status_pb2
from pildtest import runfile, running_pild, signed_bundled_firmware

EXAMPLE = "client/python/examples/scripted_test.py"


class FakeRpcError(grpc.RpcError):
    """What grpcio raises: a code, details and trailing metadata."""

    def __init__(self, code, details="", reason=None, domain="pild", metadata=None):
        self._code, self._details = code, details
        self._trailers = ()
        if reason is not None:
            status = status_pb2.Status(code=code.value[0], message=details)
            status.details.add().Pack(error_details_pb2.ErrorInfo(
                reason=reason, domain=domain, metadata=metadata or {}))
            self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


C = grpc.StatusCode
FAMILIES = [
    (C.NOT_FOUND, "UNKNOWN_COPROCESSOR", pild.NotFound),
    (C.NOT_FOUND, "FIRMWARE_NOT_FOUND", pild.NotFound),
    (C.FAILED_PRECONDITION, "WRONG_STATE", pild.WrongState),
    (C.FAILED_PRECONDITION, "STILL_HELD", pild.WrongState),
    (C.FAILED_PRECONDITION, "LEASED", pild.Leased),
    (C.FAILED_PRECONDITION, "DEVICE_TREE_INVALID", pild.FailedPrecondition),
    (C.RESOURCE_EXHAUSTED, "SERVER_BUSY", pild.Busy),
    (C.RESOURCE_EXHAUSTED, "CALLER_BUSY", pild.Busy),
    (C.RESOURCE_EXHAUSTED, "TOO_MANY_WATCHES", pild.Busy),
    (C.DEADLINE_EXCEEDED, "BUSY", pild.Busy),
    (C.RESOURCE_EXHAUSTED, "WATCH_TOO_SLOW", pild.ResourceExhausted),
    (C.PERMISSION_DENIED, "ACCESS_DENIED", pild.PermissionDenied),
    (C.PERMISSION_DENIED, "SIGNATURE_INVALID", pild.ImageInvalid),
    (C.INVALID_ARGUMENT, "SEGMENT_TRUNCATED", pild.ImageInvalid),
    (C.NOT_FOUND, "SPLIT_SEGMENT_MISSING", pild.ImageInvalid),
    (C.PERMISSION_DENIED, "SW_ID_MISMATCH", pild.ImageInvalid),
    (C.INVALID_ARGUMENT, "BAD_NAME", pild.InvalidArgument),
    (C.DEADLINE_EXCEEDED, "READY_TIMEOUT", pild.DeadlineExceeded),
    (C.DEADLINE_EXCEEDED, None, pild.DeadlineExceeded),
    (C.CANCELLED, "CANCELLED", pild.Cancelled),
    (C.ABORTED, "WATCHDOG", pild.Aborted),
    (C.UNAVAILABLE, None, pild.Unavailable),
    (C.INTERNAL, "UNMAP_INCOMPLETE", pild.PildError),
]


@pytest.mark.parametrize("code,reason,family", FAMILIES,
                         ids=["%s-%s" % (c.name, r) for c, r, _ in FAMILIES])
def test_each_reason_raises_its_family(code, reason, family):
    error = pild.PildError.from_rpc_error(
        FakeRpcError(code, "it failed", reason, metadata={"state": "running"}))
    assert type(error) is family and isinstance(error, pild.PildError)
    assert (error.code, error.message, error.reason) == (code.name, "it failed", reason or "")
    assert error.metadata == ({"state": "running"} if reason else {})


def test_error_info_of_another_domain_is_no_reason():
    error = pild.PildError.from_rpc_error(FakeRpcError(
        C.FAILED_PRECONDITION, "a proxy's", "WRONG_STATE", domain="example.com",
        metadata={"state": "running"}))
    assert type(error) is pild.FailedPrecondition
    assert error.reason == "" and error.metadata == {}
    assert str(error) == "FAILED_PRECONDITION: a proxy's"


class RecordingStub:
    """A LifecycleServiceStub that records the deadline of each call."""

    def __init__(self):
        self.deadlines = {}

    def __getattr__(self, method):
        def call(request, timeout=None):
            self.deadlines[method] = timeout
            raise FakeRpcError(C.UNAVAILABLE, "recorded")
        return call


def deadlines(client, calls):
    client.stub = RecordingStub()
    for call in calls:
        with pytest.raises(pild.Unavailable):
            call(client)
    return client.stub.deadlines


QUERIES_AND_TRANSITIONS = [
    lambda c: c.list(), lambda c: c.get("adsp"), lambda c: c.info(), lambda c: c.history(),
    lambda c: c.start("adsp"), lambda c: c.stop("adsp"), lambda c: c.map("adsp"),
    lambda c: c.inspect(firmware="a.mbn"), lambda c: c.upload(b"x"),
]


def test_queries_wait_10_s_and_transitions_60_s_as_in_the_cpp_client():
    assert (pild.QUERY_TIMEOUT, pild.TRANSITION_TIMEOUT) == (10.0, 60.0)
    with pild.connect("unix:/nonexistent") as client:
        assert deadlines(client, QUERIES_AND_TRANSITIONS) == {
            "ListCoprocessors": 10.0, "GetCoprocessor": 10.0, "GetInfo": 10.0,
            "GetHistory": 10.0, "Start": 60.0, "Stop": 60.0, "Map": 60.0,
            "InspectImage": 60.0, "UploadFirmware": 60.0}
    with pild.connect("unix:/nonexistent", timeout=2, transition_timeout=90) as client:
        assert set(deadlines(client, QUERIES_AND_TRANSITIONS).values()) == {2.0, 90.0}
        assert deadlines(client, [lambda c: c.start("adsp", timeout=5),
                                  lambda c: c.get("adsp") and None]) == {
            "Start": 5, "GetCoprocessor": 2.0}


@pytest.mark.parametrize("bad", [0, 0.0, -1, True, "10"])
def test_a_timeout_that_is_not_positive_is_refused(bad):
    with pytest.raises(ValueError, match="timeout"):
        pild.connect("unix:/nonexistent", timeout=bad)
    with pytest.raises(ValueError, match="transition_timeout"):
        pild.connect("unix:/nonexistent", transition_timeout=bad)
    with pild.connect("unix:/nonexistent") as client:
        client.stub = RecordingStub()
        for call in (lambda: client.call("GetCoprocessor", pild.pb.GetCoprocessorRequest(),
                                         timeout=bad),
                     lambda: client.start("adsp", timeout=bad),
                     lambda: client.watch("adsp", timeout=bad)):
            with pytest.raises(ValueError, match="timeout"):
                call()
        assert client.stub.deadlines == {}


def test_unreachable_pild_is_unavailable():
    with pild.connect("unix:/nonexistent/pild.sock") as client:
        with pytest.raises(pild.Unavailable) as caught:
            client.list()
        assert caught.value.code == "UNAVAILABLE" and caught.value.reason == ""


def test_real_errors_come_in_their_families(tmp_path):
    firmware = signed_bundled_firmware(str(tmp_path / "fw"))
    with running_pild("--firmware-path=" + firmware) as server, server.client() as client:
        with pytest.raises(pild.NotFound) as caught:
            client.get("gpu")
        assert caught.value.reason == "UNKNOWN_COPROCESSOR"
        assert caught.value.metadata["coprocessor"] == "gpu"
        name = client.list()[0].name
        with pytest.raises(pild.WrongState) as caught:
            client.map(name)
        assert caught.value.metadata["state"] == "offline"
        with pytest.raises(pild.InvalidArgument):
            client.start(name, firmware="/etc/passwd")


def test_the_example_script_passes_against_pild(tmp_path):
    firmware = signed_bundled_firmware(str(tmp_path / "fw"))
    with running_pild("--firmware-path=" + firmware) as server:
        result = subprocess.run([sys.executable, runfile(EXAMPLE), "--address", server.address],
                                capture_output=True, text=True, timeout=120)
        print(result.stdout, result.stderr)
        assert result.returncode == 0 and result.stdout.startswith("PASS"), result
        # It fails, and says so, when the coprocessor is not where it expects.
        with server.client() as client:
            name = client.list()[0].name
            client.start(name)
        again = subprocess.run([sys.executable, runfile(EXAMPLE), "--address", server.address],
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 1 and again.stdout.startswith("FAIL"), again
    gone = subprocess.run([sys.executable, runfile(EXAMPLE), "--address", server.address],
                          capture_output=True, text=True, timeout=120)
    assert gone.returncode == 1 and "cannot reach pild" in gone.stdout, gone
