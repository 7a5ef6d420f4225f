"""The lifecycle on both backends, driven the same way: the sim (pild runs
the secure-world flow) and the linux backend over a fake kernel's sysfs
(the kernel's remoteproc runs it). Real firmware on its real board
(qrb5165-rb5's compute DSP), the verbs both backends have, failures before
anything reaches the secure world or the kernel, Watch, a crash with its
recovery and coredump, history."""

import contextlib
import hashlib
import os
import threading
import time

import pytest

import pild
from pildtest import operation_of, result_of, FakeKernel, realdata, running_pild, wait_until

state_name = pild.state_name
BACKENDS = ["sim", "linux"]
BOARD = "qrb5165-rb5"


@contextlib.contextmanager
def lifecycle_pild(backend, tmp_path, firmware_path, *args):
    """pild on BOARD with `firmware_path`; `.crash(name)` crashes a running
    coprocessor the way its backend's hardware would (the sim's watchdog,
    the fake kernel's crash), `.clean(client, name)` checks nothing is held."""
    dtb = realdata("dtb/%s.dtb" % BOARD)
    if backend == "sim":
        with running_pild("--dtb=" + dtb, "--firmware-path=" + firmware_path,
                          *args) as server:
            def crash(name):
                # A watchdog bite the next time the core boots: restart it.
                server.sim().inject(coprocessor=name, watchdog_after_ms=1)
                with server.client() as c:
                    c.stop(name)
                    c.start(name)

            def clean(client, name):
                assert server.sim().leftovers(client.get(name)) == []
            server.crash, server.clean = crash, clean
            yield server
        return
    kernel_firmware = str(tmp_path / "kernel-firmware")
    os.makedirs(kernel_firmware, exist_ok=True)
    with FakeKernel(dtb, kernel_firmware) as kernel, \
            running_pild("--platform=linux", "--sysfs-root=" + kernel.root,
                         "--firmware-path=" + firmware_path, "--remoteproc-poll=50ms",
                         *args) as server:
        def crash(name):
            kernel.control("crash " + name)

        def clean(client, name):
            assert kernel.status()[name]["state"] == "offline"
            assert kernel.status()[name]["power"] == "0"
        server.crash, server.clean, server.kernel = crash, clean, kernel
        yield server


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_firmware_starts_and_stops(backend, tmp_path):
    firmware = realdata("firmware")
    with lifecycle_pild(backend, tmp_path, firmware) as server, server.client() as client:
        started = client.start("cdsp")
        c = started.coprocessor
        assert state_name(c.state) == "running"
        assert c.image.source == "qcom/sm8250/cdsp.mbn"
        assert c.image.hash_table_version == 6
        report = client.inspect(firmware="qcom/sm8250/cdsp.mbn", coprocessor="cdsp")
        assert c.image.sha256 == report.metadata_sha256
        assert pild.enum_text(pild.pb.Backend, c.support.backend) == backend and c.support.drivable
        assert c.support.separate_steps == (backend == "sim")
        steps = [s.name for s in started.steps]
        assert steps[0] == "load"
        assert any(s.startswith("verify") for s in steps)
        stopped = client.stop("cdsp")
        assert state_name(stopped.coprocessor.state) == "offline"
        server.clean(client, "cdsp")
        assert [(operation_of(h), result_of(h)) for h in client.history("cdsp")] == [
            ("stop", "OK"), ("start", "OK")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_images_are_refused_before_anything_boots(backend, tmp_path):
    firmware = tmp_path / "fw"
    target = firmware / "qcom" / "sm8250"
    target.mkdir(parents=True)
    data = bytearray(open(realdata("firmware/qcom/sm8250/cdsp.mbn"), "rb").read())
    data[-100] ^= 0xFF  # inside the last loadable segment
    (target / "cdsp.mbn").write_bytes(bytes(data))
    with lifecycle_pild(backend, tmp_path, str(firmware)) as server, \
            server.client() as client:
        for name, reason in [(None, "HASH_MISMATCH"), ("qcom/none.mbn", "FIRMWARE_NOT_FOUND"),
                             ("../cdsp.mbn", "FIRMWARE_NAME_INVALID")]:
            with pytest.raises(pild.PildError) as caught:
                client.start("cdsp", firmware=name)
            assert caught.value.reason == reason, caught.value
            assert state_name(client.get("cdsp").state) == "offline"
            server.clean(client, "cdsp")
        if backend == "linux":
            assert server.kernel.status()["cdsp"]["starts"] == "0"


@pytest.mark.parametrize("backend", BACKENDS)
def test_watch_reports_every_change_in_order(backend, tmp_path):
    with lifecycle_pild(backend, tmp_path, realdata("firmware")) as server, \
            server.client() as client:
        events, done = [], threading.Event()
        stream = client.watch("cdsp")

        def read():
            for event in stream:
                events.append(event)
                if not event.initial and state_name(event.coprocessor.state) == "offline":
                    done.set()
                    return
        reader = threading.Thread(target=read)
        reader.start()
        assert wait_until(lambda: len(events) >= 1)
        client.start("cdsp")
        client.stop("cdsp")
        assert done.wait(20)
        stream.cancel()
        reader.join(timeout=10)
    states = [state_name(e.coprocessor.state) for e in events]
    expected = {"sim": ["offline", "authenticated", "mapped", "running", "stopping", "offline"],
                "linux": ["offline", "running", "stopping", "offline"]}[backend]
    assert states == expected
    sequences = [e.sequence for e in events[1:]]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_crash_is_recovered_with_a_coredump(backend, tmp_path):
    with lifecycle_pild(backend, tmp_path, realdata("firmware"), "--restart-backoff=20ms") \
            as server, server.client() as client:
        client.start("cdsp")
        server.crash("cdsp")
        assert wait_until(lambda: client.get("cdsp").crash_count == 1, timeout=20)
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "running", timeout=20)
        # The recovery's record follows its state by a moment.
        assert wait_until(lambda: operation_of(client.history("cdsp")[0]) == "recover")
        info, data = client.coredump("cdsp")
        assert len(data) == info.size > 0
        assert hashlib.sha256(data).hexdigest() == info.sha256
        assert data[:4] == b"\x7fELF"
        history = client.history("cdsp")
        # The download of raw coprocessor memory is on the record too.
        assert [operation_of(h) for h in history[:3]] == ["coredump", "recover", "crash"]
        assert result_of(history[0]) == "OK" and info.sha256 in history[0].message
        # Every dump held is listed, the one downloaded among them.
        listed = client.coredumps()
        assert [(d.name, d.crash_id, d.sha256) for d in listed] == [("cdsp", info.crash_id,
                                                                     info.sha256)]
        assert client.coredumps("cdsp") == listed and client.coredumps("adsp") == []
        client.stop("cdsp")
        server.clean(client, "cdsp")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_recovery_policy_leaves_the_next_crash_alone(backend, tmp_path):
    with lifecycle_pild(backend, tmp_path, realdata("firmware"), "--restart-backoff=20ms") \
            as server, server.client() as client:
        for bad in (dict(initial_backoff=0), dict(max_restarts=101),
                    dict(initial_backoff=7200)):
            with pytest.raises(pild.PildError) as caught:
                client.update_recovery("cdsp", restart=False, **bad)
            assert caught.value.reason == "BAD_RECOVERY_POLICY"
        c = client.update_recovery("cdsp", restart=False, max_restarts=1, initial_backoff=0.5)
        assert (c.recovery.restart, c.recovery.max_restarts) == (False, 1)
        assert client.get("cdsp").recovery == c.recovery
        assert client.get("adsp").recovery.restart  # only cdsp changed
        entry = client.history("cdsp")[0]
        assert (operation_of(entry), result_of(entry)) == ("update_recovery", "OK")
        client.start("cdsp")
        server.crash("cdsp")
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "crashed", timeout=20)
        time.sleep(0.5)  # longer than a restart would take
        assert state_name(client.get("cdsp").state) == "crashed"
        client.stop("cdsp")
        server.clean(client, "cdsp")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_firmware_upload_starts(backend, tmp_path):
    with lifecycle_pild(backend, tmp_path, str(tmp_path)) as server, server.client() as client:
        data = open(realdata("firmware/qcom/sm8250/cdsp.mbn"), "rb").read()
        sha = client.upload(data, name="cdsp.mbn").sha256
        assert [(u.sha256, u.size, u.name) for u in client.uploads()] == [
            (sha, len(data), "cdsp.mbn")]
        started = client.start("cdsp", upload=sha)
        assert started.coprocessor.image.source == "upload:" + sha
        # What a running coprocessor was booted from stays (its recovery
        # needs it).
        with pytest.raises(pild.PildError) as caught:
            client.delete_upload(sha)
        assert (caught.value.reason, caught.value.metadata["coprocessor"]) == (
            "UPLOAD_IN_USE", "cdsp")
        if backend == "linux":
            staged = server.kernel.status()["cdsp"]["firmware"]
            assert staged == "pild/%s.mbn" % started.coprocessor.image.sha256
            kernel_copy = os.path.join(server.kernel.firmware_dir, staged)
            assert open(kernel_copy, "rb").read() == data
        client.stop("cdsp")
        server.clean(client, "cdsp")
        client.delete_upload(sha)
        assert client.uploads() == []
        assert operation_of(client.history()[0]) == "delete_upload"
        for call in (lambda: client.delete_upload(sha), lambda: client.start("cdsp", upload=sha)):
            with pytest.raises(pild.PildError) as caught:
                call()
            assert caught.value.reason == "UPLOAD_NOT_FOUND"
