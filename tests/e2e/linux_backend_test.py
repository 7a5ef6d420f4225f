"""The linux backend against a fake kernel (tests/fakekernel): what only
this backend does. Discovery joined with the kernel's remoteprocs, the
one-step start, adoption and the recovery/coredump knobs, the kernel's
refusals, idempotence where the kernel is not (a second `start` pins a
power reference), state changes made outside pild, with and without the
kernel's notification, and a crashed core left for inspection."""

import os
import stat

import pytest

import pild
from pildtest import operation_of, FakeKernel, binary, pilctl, realdata, running_pild, wait_until
import subprocess

state_name = pild.state_name
BOARD = "qrb5165-rb5"


def linux_pild(kernel, *args, poll="50ms"):
    return running_pild("--platform=linux", "--sysfs-root=" + kernel.root,
                        "--firmware-path=" + realdata("firmware"),
                        "--remoteproc-poll=" + poll, *args)


def fake(tmp_path, *args):
    firmware = tmp_path / "kernel-firmware"
    firmware.mkdir(exist_ok=True)
    return FakeKernel(realdata("dtb/%s.dtb" % BOARD), str(firmware), *args)


def test_coprocessors_are_joined_with_their_remoteprocs(tmp_path):
    with fake(tmp_path) as kernel, linux_pild(kernel) as server, server.client() as client:
        listed = {c.name: c for c in client.list()}
        with running_pild("--dtb=" + realdata("dtb/%s.dtb" % BOARD)) as sim, \
                sim.client() as sim_client:
            assert sorted(listed) == sorted(c.name for c in sim_client.list())
        for name in ["adsp", "cdsp"]:  # slpi is disabled on this board
            c = listed[name]
            assert c.support.backend == pild.pb.BACKEND_LINUX and c.support.drivable
            assert not c.support.separate_steps
            assert "one 'start'" in c.support.reason
            assert c.hardware.remoteproc.device.startswith("remoteproc")
            assert c.hardware.remoteproc.state == "offline"
        video = listed["video"]
        assert not video.support.drivable
        assert "not a remoteproc" in video.support.reason
        with pytest.raises(pild.PildError) as caught:
            client.start("video")
        assert (caught.value.code, caught.value.reason) == ("UNIMPLEMENTED", "NOT_SUPPORTED")
        table = pilctl("--server=" + server.address, "list", check=0).stdout.splitlines()
        assert table[0].split()[-1] == "REMOTEPROC"
        rows = {line.split()[0]: line for line in table[1:]}
        assert rows["cdsp"].split()[-1] == listed["cdsp"].hardware.remoteproc.device
        assert rows["video"].endswith("- (not a remoteproc)")


def test_step_verbs_say_the_kernel_does_them_as_one(tmp_path):
    with fake(tmp_path) as kernel, linux_pild(kernel) as server, server.client() as client:
        for verb in (client.authenticate, client.map):
            with pytest.raises(pild.PildError) as caught:
                verb("cdsp")
            assert caught.value.code == "FAILED_PRECONDITION"
            assert caught.value.reason == "STEP_NOT_SUPPORTED"
            assert "use Start" in caught.value.message
        assert kernel.status()["cdsp"]["starts"] == "0"


def test_adopts_what_runs_and_takes_over_recovery_and_coredumps(tmp_path):
    with fake(tmp_path, "--running=adsp") as kernel, linux_pild(kernel) as server, \
            server.client() as client:
        adsp = client.get("adsp")
        assert state_name(adsp.state) == "running"
        assert "adopted" in adsp.image.source
        status = kernel.status()
        for name in ["adsp", "cdsp"]:
            assert (status[name]["recovery"], status[name]["coredump"]) == \
                ("disabled", "enabled")
        with pytest.raises(pild.PildError) as caught:
            client.start("adsp")
        assert caught.value.reason == "WRONG_STATE"
        client.stop("adsp")
        assert kernel.status()["adsp"]["state"] == "offline"
        assert kernel.status()["adsp"]["power"] == "0"
        assert "adopted" in server.output()


def test_a_core_that_never_runs_times_out_and_is_left_offline(tmp_path):
    with fake(tmp_path, "--ready-timeout-ms=200") as kernel, linux_pild(kernel) as server, \
            server.client() as client:
        kernel.control("never-running cdsp")
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        assert caught.value.reason == "READY_TIMEOUT"
        assert "Connection timed out" in caught.value.message
        assert state_name(client.get("cdsp").state) == "offline"
        assert kernel.status()["cdsp"]["state"] == "offline"
        client.start("cdsp")  # the next start works
        assert kernel.status()["cdsp"]["state"] == "running"


def test_start_written_outside_pild_is_not_doubled(tmp_path):
    """An unguarded kernel pins a power reference for every `start`: pild
    reads the state first, even when it has not yet seen the change."""
    with fake(tmp_path, "--no-guards", "--no-notify") as kernel, \
            linux_pild(kernel, poll="1m") as server, server.client() as client:
        default = os.path.join(kernel.firmware_dir, "qcom", "sm8250")
        os.makedirs(default)
        with open(os.path.join(default, "cdsp.mbn"), "wb") as f:
            f.write(open(realdata("firmware/qcom/sm8250/cdsp.mbn"), "rb").read())
        assert kernel.write("cdsp", "state", "start") == 0
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        assert caught.value.reason == "ALREADY_RUNNING"
        assert "qcom/sm8250/cdsp.mbn" in caught.value.message
        status = kernel.status()["cdsp"]
        assert (status["power"], status["starts"]) == ("1", "1")


def test_a_second_holder_keeps_the_core_up_after_stop(tmp_path):
    with fake(tmp_path, "--no-guards") as kernel, linux_pild(kernel) as server, \
            server.client() as client:
        client.start("cdsp")
        assert kernel.write("cdsp", "state", "start") == 0  # power 2
        with pytest.raises(pild.PildError) as caught:
            client.stop("cdsp")
        assert caught.value.reason == "KERNEL_STILL_RUNNING"
        # pild tells what the kernel runs, not what it asked for.
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "running")
        assert kernel.status()["cdsp"]["power"] == "1"
        client.stop("cdsp")
        assert kernel.status()["cdsp"]["state"] == "offline"


@pytest.mark.parametrize("notify,poll", [("on", "1m"), ("off", "50ms")],
                         ids=["notified", "polled"])
def test_changes_outside_pild_are_followed(tmp_path, notify, poll):
    args = [] if notify == "on" else ["--no-notify"]
    with fake(tmp_path, *args) as kernel, linux_pild(kernel, poll=poll) as server, \
            server.client() as client:
        client.start("cdsp")
        assert kernel.write("cdsp", "state", "stop") == 0
        # With notification the change arrives long before the 1 min poll.
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "offline", timeout=5)
        assert wait_until(lambda: operation_of(client.history("cdsp")[0]) == "observed")
        latest = client.history("cdsp")[0]
        assert "reports it stopped: a change pild did not make" in latest.message
        assert latest.caller.peer == "linux"
        staged = kernel.status()["cdsp"]["firmware"]
        assert kernel.write("cdsp", "state", "start") == 0
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "running", timeout=5)
        assert kernel.status()["cdsp"]["firmware"] == staged


def test_recovery_none_leaves_the_crash_for_inspection(tmp_path):
    with fake(tmp_path) as kernel, linux_pild(kernel, "--recovery=none") as server, \
            server.client() as client:
        client.start("cdsp")
        kernel.control("crash cdsp")
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "crashed")
        c = client.get("cdsp")
        assert (c.crash_count, c.last_error.reason) == (1, "CRASHED")
        assert kernel.status()["cdsp"]["state"] == "crashed", "pild disabled the kernel's recovery"
        with pytest.raises(pild.PildError) as caught:
            client.coredump("cdsp")
        assert caught.value.reason == "NO_COREDUMP"
        # The kernel stops only a running core: pild recovers it first, and
        # the dump the kernel writes then is the crash's.
        stopped = client.stop("cdsp")
        assert [s.name for s in stopped.steps][:3] == ["read_state", "recover", "wait_running"]
        assert kernel.status()["cdsp"]["state"] == "offline"
        info, data = client.coredump("cdsp")
        assert data.startswith(b"\x7fELF") and b"FAKE COREDUMP cdsp" in data
        assert kernel.status()["devcoredumps"] == []


def test_staged_images_are_read_only_and_stale_ones_pruned(tmp_path):
    with fake(tmp_path) as kernel:
        staging = os.path.join(kernel.firmware_dir, "pild")
        os.makedirs(staging)
        stale = os.path.join(staging, "0" * 64 + ".mbn")
        open(stale, "w").write("old")
        with linux_pild(kernel) as server, server.client() as client:
            assert not os.path.exists(stale)
            started = client.start("cdsp")
            staged = os.path.join(kernel.firmware_dir,
                                  "pild/%s.mbn" % started.coprocessor.image.sha256)
            assert stat.S_IMODE(os.stat(staged).st_mode) == 0o444
            assert stat.S_IMODE(os.stat(staging).st_mode) == 0o700
            assert [s.name for s in started.steps] == [
                "load", "verify", "stage_firmware", "read_state", "set_firmware", "start",
                "wait_running"]


def test_staging_refuses_a_linked_or_shared_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # (The fake kernel's firmware directory is this test's, fresh.)
    with fake(tmp_path) as kernel, linux_pild(kernel) as server, server.client() as client:
        os.symlink(str(elsewhere), os.path.join(kernel.firmware_dir, "pild"))
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        assert caught.value.reason == "STAGING_FAILED"
        assert os.listdir(str(elsewhere)) == []
        os.unlink(os.path.join(kernel.firmware_dir, "pild"))
        os.chmod(kernel.firmware_dir, 0o777)
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        assert caught.value.reason == "STAGING_FAILED"
        assert "writable by others" in caught.value.message
        assert kernel.status()["cdsp"]["starts"] == "0"
        os.chmod(kernel.firmware_dir, 0o755)
        client.start("cdsp")


def test_bad_poll_interval_is_refused(tmp_path):
    with fake(tmp_path) as kernel:
        result = subprocess.run([binary("server/pild"), "--platform=linux",
                                 "--sysfs-root=" + kernel.root, "--remoteproc-poll=1ms",
                                 "--listen=unix:" + os.path.join(kernel.dir, "p.sock")],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--remoteproc-poll must be 10ms..1m, got 1ms" in result.stderr


def test_a_modem_booted_through_its_qdsp6_registers_is_left_to_the_kernel(tmp_path):
    """db845c's mpss (qcom,sdm845-mss-pil) is a remoteproc pild does not
    model: listed, not drivable, and its kernel recovery left enabled (pild
    adopting it would have disabled it)."""
    firmware = tmp_path / "kernel-firmware"
    firmware.mkdir()
    with FakeKernel(realdata("dtb/sdm845-db845c.dtb"), str(firmware)) as kernel, \
            linux_pild(kernel) as server, server.client() as client:
        mpss = client.get("mpss")
        assert mpss.boot_method == pild.pb.BOOT_METHOD_QDSP6_REGISTERS
        assert not mpss.support.drivable
        assert "does not model" in mpss.support.reason
        with pytest.raises(pild.PildError) as caught:
            client.start("mpss")
        assert (caught.value.code, caught.value.reason) == ("UNIMPLEMENTED", "NOT_SUPPORTED")
        status = kernel.status()
        assert status["modem"]["recovery"] == "enabled"  # the kernel names it modem
        assert status["modem"]["starts"] == "0"
        assert status["cdsp"]["recovery"] == "disabled"  # adopted: pild recovers it
