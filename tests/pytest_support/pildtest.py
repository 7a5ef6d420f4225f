"""Helpers for the Python tests: binaries, real data, a pild under test.

Tests run under Bazel from the runfiles tree (cwd = <runfiles>/pild).
"""

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types

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
    """Path under the real data; fails the test loudly when it is absent.

    The path is in the real directory (STATUS names it), not the runfiles'
    links to it: pild reads firmware only beneath its firmware directories,
    and a runfiles link leads out of them."""
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
    return os.path.join(status.split(None, 1)[1], relative)


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


def _sim_modules():
    """pil.sim.v1 generated modules. They live under platform/sim/proto,
    whose top-level name clashes with Python's own `platform` module, so the
    package path is registered by hand."""
    if "platform.sim.proto.sim_pb2_grpc" in sys.modules:
        return sys.modules["platform.sim.proto.sim_pb2"], \
            sys.modules["platform.sim.proto.sim_pb2_grpc"]
    import platform  # noqa: F401  (the standard module stays as it is)
    base = runfile("platform/sim")
    for name, path in [("platform.sim", base), ("platform.sim.proto", base + "/proto")]:
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    loaded = []
    for name in ["profile_pb2", "sim_pb2", "sim_pb2_grpc"]:
        full = "platform.sim.proto." + name
        spec = importlib.util.spec_from_file_location(full, "%s/proto/%s.py" % (base, name))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        loaded.append(module)
    return loaded[1], loaded[2]


class Sim:
    """A client of the pilsim behind a pild: what the hardware holds, and
    fault injection."""

    def __init__(self, address):
        self.pb, grpc_module = _sim_modules()
        self.channel = grpc.insecure_channel(address)
        self.stub = grpc_module.SimSocStub(self.channel)

    def observe(self):
        return self.stub.Observe(self.pb.ObserveRequest(), timeout=10)

    def inject(self, **fault):
        """inject(coprocessor="cdsp", watchdog_after_ms=10)"""
        profile = sys.modules["platform.sim.proto.profile_pb2"]
        self.stub.InjectFault(profile.Fault(**fault), timeout=10)

    def inject_call(self, call, occurrence=1, fail_status=0, hold_ms=0):
        """A call fault: `call`'s `occurrence`-th next call fails with
        `fail_status` (no effect) or has its reply held `hold_ms`."""
        profile = sys.modules["platform.sim.proto.profile_pb2"]
        self.inject(call_fault=profile.CallFault(call=call, occurrence=occurrence,
                                                 fail_status=fail_status, hold_ms=hold_ms))

    def wrapper(self, coprocessor, offset):
        """A video wrapper register of `coprocessor` (name or node path)."""
        access = self.pb.WrapperAccess(coprocessor=coprocessor, offset=offset)
        return self.stub.WrapperRead(access, timeout=10).value

    def leftovers(self, coprocessor):
        """What the hardware still holds for a pil.v1.Coprocessor: a list of
        descriptions, empty when clean."""
        hw = self.observe()
        pas_ids = {coprocessor.pas_id}
        if coprocessor.HasField("dtb_pas_id"):
            pas_ids.add(coprocessor.dtb_pas_id)
        regions = [(c.base, c.size) for c in coprocessor.carveouts]

        def overlaps(base, size):
            return any(base < b + s and b < base + size for b, s in regions)

        found = []
        for p in hw.peripherals:
            if p.pas_id in pas_ids and (p.state != "idle" or p.metadata_held):
                found.append("PAS %d %s%s" % (p.pas_id, p.state,
                                              ", metadata held" if p.metadata_held else ""))
        for b in hw.bridges:
            if overlaps(b.base, b.size):
                found.append("bridge 0x%x over 0x%x+0x%x" % (b.handle, b.base, b.size))
        for m in hw.mappings:
            ours = coprocessor.HasField("firmware_sid") and m.sid == coprocessor.firmware_sid
            if ours or overlaps(m.pa, m.size):
                found.append("%s mapping sid 0x%x iova 0x%x" % (m.owner, m.sid, m.iova))
        for st in hw.streams:
            if coprocessor.HasField("firmware_sid") and st.sid == coprocessor.firmware_sid:
                found.append("%s stream 0x%x" % (st.owner, st.sid))
        for c in hw.cores:
            if c.coprocessor == coprocessor.node_path and c.state not in ("off", "stopped"):
                found.append("core " + c.state)
        return found

    def close(self):
        self.channel.close()


def make_signed(path, base, size, sw_id, version=6, seed=1, chain="rsa"):
    """A test-signed image for a carveout at `path` (pilimage synth+sign)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    elf = path + ".elf"
    subprocess.run([binary("tools/pilimage"), "synth", "--base=0x%x" % base,
                    "--size=0x%x" % size, "--seed=%d" % seed, elf],
                   check=True, capture_output=True)
    subprocess.run([binary("tools/pilimage"), "sign", "--version=%d" % version,
                    "--chain=" + chain, "--keys=" + runfile("platform/image/testkeys"),
                    "--sw-id=0x%x" % sw_id, elf, path],
                   check=True, capture_output=True)
    os.unlink(elf)
    return path


# Image types the simulated secure world expects per PAS id (docs/SIM.md).
SW_ID = {1: 0x4, 4: 0x2, 9: 0xE, 12: 0x18, 18: 0x17, 30: 0x44, 36: 0x53, 37: 0x52, 38: 0x51}


def signed_firmware_for(directory, coprocessors, span=0x200000):
    """Test-signed images under `directory` for every coprocessor's firmware
    names (main, then DTB), each placed at its carveout."""
    for c in coprocessors:
        pas_ids = [c.pas_id] + ([c.dtb_pas_id] if c.HasField("dtb_pas_id") else [])
        for i, name in enumerate(c.firmware_names):
            if i >= len(c.carveouts) or i >= len(pas_ids):
                break
            region = c.carveouts[i]
            make_signed(os.path.join(directory, name), region.base,
                        min(span, region.size), SW_ID[pas_ids[i]], seed=i + 1)
    return directory


def signed_bundled_firmware(directory):
    """Test-signed images under `directory` for every coprocessor of the
    board pild bundles (its default); pass it as --firmware-path."""
    with running_pild() as probe, probe.client() as client:
        coprocessors = client.list()
    return signed_firmware_for(directory, coprocessors)


# Longest socket file name a test puts in a scratch directory ("pilsim.sock").
_SOCKET_NAME_MAX = 11


def scratch_dir(prefix):
    """A private directory for one pild: under Bazel's TEST_TMPDIR when a
    Unix socket path inside it fits (107 bytes), else under /tmp and then
    removed when the test process exits, so that no run leaves /tmp behind."""
    base = os.environ.get("TEST_TMPDIR")
    if base and len(base) + len(prefix) + 10 + _SOCKET_NAME_MAX <= 107:
        return tempfile.mkdtemp(prefix=prefix, dir=base)
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def public_dir(prefix):
    """A directory under /tmp that other users may traverse (mode 0755), for
    tests that call pild as another user; removed when the test process
    exits."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def as_user(uid, gid, groups, *command, timeout=60):
    """Runs `command` as uid/gid with supplementary `groups` (setpriv, as
    root); returns the CompletedProcess."""
    return subprocess.run(
        ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
         "--groups=" + ",".join(str(g) for g in groups) if groups else "--clear-groups",
         *command],
        capture_output=True, text=True, timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": "/"}, cwd="/")


class FakeKernel:
    """A fake kernel's sysfs (tests/fakekernel, FUSE) for the linux backend:
    remoteprocs for `dtb`'s remoteproc nodes, firmware looked up in
    `firmware_dir` (its firmware_class.path)."""

    def __init__(self, dtb, firmware_dir, *args):
        self.dir = scratch_dir("fake-sysfs-")
        self.root = os.path.join(self.dir, "sys")
        os.makedirs(self.root)
        self.firmware_dir = firmware_dir
        self.log_path = os.path.join(self.dir, "fake_kernel.log")
        self.args = [binary("tests/fakekernel/fake_kernel"), "--mount=" + self.root,
                     "--dtb=" + dtb, "--firmware-dir=" + firmware_dir, *args]

    def __enter__(self):
        self.log = open(self.log_path, "a")  # a restart appends
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        status = os.path.join(self.root, "fake", "status")
        if not wait_until(lambda: os.path.exists(status) or self.process.poll() is not None):
            raise AssertionError("the fake kernel did not mount")
        if self.process.poll() is not None:
            raise AssertionError("the fake kernel failed:\n" + open(self.log_path).read())
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        # A fake that died leaves its mount behind.
        subprocess.run(["umount", "-l", self.root], capture_output=True)
        self.log.close()

    def control(self, command):
        with open(os.path.join(self.root, "fake", "control"), "w") as f:
            f.write(command)

    def status(self):
        """{name: {field: value}} for each remoteproc; "devcoredumps": [...]"""
        out = {"devcoredumps": []}
        for line in open(os.path.join(self.root, "fake", "status")).read().splitlines():
            words = line.split()
            if words[0] == "devcoredump":
                out["devcoredumps"].append(words[1])
                continue
            fields = dict(w.split("=", 1) for w in words[1:])
            out[fields["name"]] = fields
        return out

    def remoteproc(self, name):
        """The class directory of the remoteproc named `name`."""
        base = os.path.join(self.root, "class", "remoteproc")
        for entry in sorted(os.listdir(base)):
            if open(os.path.join(base, entry, "name")).read().strip() == name:
                return os.path.join(base, entry)
        raise AssertionError("no remoteproc named " + name)

    def write(self, name, attribute, value):
        """Writes as `echo` would; returns the errno (0 on success)."""
        try:
            with open(os.path.join(self.remoteproc(name), attribute), "w") as f:
                f.write(value + "\n")
            return 0
        except OSError as e:
            return e.errno


class Pild:
    """A pild process on a private Unix socket."""

    def __init__(self, *args, profile=None, directory=None):
        self.dir = directory or scratch_dir("pild-test-")
        self.socket = os.path.join(self.dir, "pild.sock")
        self.address = "unix:" + self.socket
        self.log_path = os.path.join(self.dir, "pild.log")
        self.audit_db = os.path.join(self.dir, "audit.db")
        self.args = [binary("server/pild"), "--listen=" + self.address,
                     "--audit-db=" + self.audit_db, *args]
        if profile is not None:
            profile_path = os.path.join(self.dir, "profile.textproto")
            with open(profile_path, "w") as f:
                f.write(profile)
            self.args.append("--profile=" + profile_path)
        self.process = None

    def sim(self):
        """A Sim client of the pilsim this pild uses (started beside it)."""
        return Sim("unix:" + os.path.join(self.dir, "pilsim.sock"))

    def start(self, timeout=20):
        self.log = open(self.log_path, "a")  # a restart appends
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

    def client(self, timeout=pild.QUERY_TIMEOUT):
        """A pild.Client; `timeout` bounds its queries and, when longer than
        the library's 60 s, its transitions too."""
        return pild.connect(self.address, timeout,
                            transition_timeout=max(timeout, pild.TRANSITION_TIMEOUT))

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

    def kill(self):
        """SIGKILL, as a crash: pild's streams break and the pilsim beside
        it keeps running; start() again serves the same socket."""
        self.process.kill()
        self.process.wait(timeout=20)
        self.log.close()

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
def running_pild(*args, profile=None, directory=None):
    server = Pild(*args, profile=profile, directory=directory)
    server.start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            code = server.stop()
            assert code == 0, "pild exited %d:\n%s" % (code, server.output())
        else:
            server.stop_sim()


def dtb(board):
    """pild's --dtb for a real board."""
    return "--dtb=" + realdata("dtb/%s.dtb" % board)


def real_firmware():
    """pild's --firmware-path for the real firmware."""
    return "--firmware-path=" + realdata("firmware")


def corrupt(path, offset_from_end=4096):
    """Flips a byte of the file at `path`, `offset_from_end` from its end."""
    data = bytearray(open(path, "rb").read())
    data[-offset_from_end] ^= 0x5A
    open(path, "wb").write(bytes(data))


def assert_clean(server, client, name):
    """`name` OFFLINE, and nothing held for it on the hardware: as pild
    reports it, and as pilsim sees it."""
    c = client.get(name, observe_hardware=True)
    assert pild.state_name(c.state) == "offline"
    assert not c.hardware.metadata_held
    assert list(c.hardware.bridges) == []
    assert [m for m in c.hardware.mappings if m.owner == pild.pb.MAPPING_OWNER_OS] == []
    sim = server.sim()
    try:
        assert sim.leftovers(c) == []
    finally:
        sim.close()


def wait_until(predicate, timeout=10, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def buf_binary():
    """The buf executable from @buf; fails loudly when it could not be had."""
    status_file = os.path.join(RUNFILES, "buf", "STATUS")
    try:
        status = open(status_file).read().strip()
    except OSError as e:
        pytest.fail("BUF MISSING, test did not run: no %s (%s)" % (status_file, e))
    if not status.startswith("available"):
        pytest.fail("BUF MISSING, test did not run: %s. The npm registry "
                    "(registry.npmjs.org) must be reachable when Bazel first "
                    "fetches @buf; see build/npm.bzl" % status)
    return os.path.join(RUNFILES, "buf", "package", "bin", "buf")


def operation_of(entry):
    """A history entry's or event's operation as text: "start", "crash", ..."""
    return pild.enum_text(pild.pb.Operation, entry.operation)


def result_of(entry):
    """A history entry's result as text: "OK" or the failure's reason."""
    return "OK" if entry.outcome == pild.pb.OUTCOME_OK else entry.reason


def is_refused(entry):
    """Turned away before anything was done (denied or refused)."""
    return entry.outcome in (pild.pb.OUTCOME_REFUSED, pild.pb.OUTCOME_DENIED)
