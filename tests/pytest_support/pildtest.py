"""Helpers for the Python tests: binaries, real data, a pild under test.

Tests run under Bazel from the runfiles tree (cwd = <runfiles>/pild).
"""

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time

import grpc
import pytest

RUNFILES = os.environ.get("TEST_SRCDIR", os.path.dirname(os.getcwd()))

# gRPC's own health/reflection protos are generated into @grpc_protos under
# the "grpc" package name, which the grpcio module already owns.
grpc.__path__.append(os.path.join(RUNFILES, "grpc_protos", "grpc"))
from grpc.health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc.reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: E402

import pild  # noqa: E402


def binary(relative):
    """Path of a binary built by the workspace, e.g. 'server/pild'."""
    path = os.path.join(RUNFILES, "pild", relative)
    assert os.access(path, os.X_OK), "missing binary %s (add it to data)" % path
    return path


def runfile(relative):
    return os.path.join(RUNFILES, "pild", relative)


def realdata(relative=""):
    """Path under the real data; fails the test loudly when it is absent."""
    status_file = os.path.join(RUNFILES, "realdata", "STATUS")
    try:
        status = open(status_file).read().strip()
    except OSError as e:
        pytest.fail("REAL DATA MISSING, test did not run: no %s (%s)" % (status_file, e))
    if not status.startswith("available"):
        pytest.fail(
            "REAL DATA MISSING, test did not run: %s. Put it at ../shared/realdata, "
            "set PILD_REALDATA, or run tools/fetch-realdata.sh" % status
        )
    return os.path.join(RUNFILES, "realdata", relative)


REAL_DTBS = ["qrb5165-rb5", "sdm845-db845c", "sm8550-qrd", "x1e80100-crd", "x1e80100-crd-el2"]


def pilctl(*args, check=None):
    """Runs pilctl; returns CompletedProcess (text). `check` = expected exit code."""
    result = subprocess.run(
        [binary("client/pilctl"), *args], capture_output=True, text=True, timeout=60
    )
    if check is not None:
        assert result.returncode == check, (
            "pilctl %s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s"
            % (" ".join(args), result.returncode, check, result.stdout, result.stderr)
        )
    return result


def pilctl_json(*args, check=0):
    return json.loads(pilctl("--json", *args, check=check).stdout)


class Pild:
    """A pild process on a private Unix socket."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="pild-test-")
        self.socket = os.path.join(self.dir, "pild.sock")
        self.address = "unix:" + self.socket
        self.log_path = os.path.join(self.dir, "pild.log")
        self.args = [binary("server/pild"), "--listen=" + self.address, *args]
        self.process = None

    def start(self, timeout=20):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        channel = grpc.insecure_channel(self.address)
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            self.process.kill()
            self.stop_sim()
            raise AssertionError("pild did not come up:\n" + self.output())
        finally:
            channel.close()
        return self

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def client(self, timeout=10.0):
        return pild.connect(self.address, timeout)

    def channel(self):
        return grpc.insecure_channel(self.address)

    def stop(self, keep_sim=False):
        """SIGTERM; returns the exit code. Also powers off the pilsim that
        pild started, unless keep_sim."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("pild did not exit on SIGTERM:\n" + self.output())
        self.log.close()
        if not keep_sim:
            self.stop_sim()
        return code

    def stop_sim(self):
        """SIGTERM to the pilsim beside pild's socket, if one runs."""
        pid_file = os.path.join(self.dir, "pilsim.sock.pid")
        try:
            pid = int(open(pid_file).read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.stop()
        else:
            self.stop_sim()


@contextlib.contextmanager
def running_pild(*args):
    server = Pild(*args)
    server.start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            code = server.stop()
            assert code == 0, "pild exited %d:\n%s" % (code, server.output())
        else:
            server.stop_sim()


def wait_until(predicate, timeout=10, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
