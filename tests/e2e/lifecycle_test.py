"""End to end: pild on each real device tree, driven over its Unix socket as
clients drive it, with the real firmware where the real data has a pair for
the board and test-signed images elsewhere. Every failure is checked for its
ErrorInfo reason and for leftovers on the simulated hardware (through
pilsim, independently of pild)."""

import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

import grpc
import pytest

import pild
from pildtest import (operation_of, result_of, REAL_DTBS, binary, health_pb2, health_pb2_grpc, pilctl, pilctl_json,
                      Pild, realdata, running_pild, signed_firmware_for, make_signed, wait_until)

state_name = pild.state_name

# The real firmware and the board it belongs to: (board, coprocessor,
# firmware name, hash-table version).
REAL_PAIRS = [
    ("qrb5165-rb5", "cdsp", "qcom/sm8250/cdsp.mbn", 6),
    ("sdm845-db845c", "cdsp", "qcom/sdm845/cdsp.mbn", 5),
    ("sdm845-db845c", "video", "qcom/venus-5.2/venus.mbn", 3),
    ("sm8550-qrd", "video", "qcom/vpu/vpu30_p4.mbn", 7),
    # Carveouts placed at boot (no reg), where Linux places them.
    ("apq8016-sbc", "wcnss", "qcom/apq8016/wcnss.mbn", 3),
    ("apq8016-sbc", "video", "qcom/venus-1.8/venus.mbn", 3),
]

# Where the DragonBoard 410c's regions land (platform/devicetree/
# reserved_memory.h): (coprocessor, base, size).
APQ8016_PLACED = [("wcnss", 0x8e200000, 0x600000), ("video", 0x8dd00000, 0x500000)]


def dtb(board):
    return "--dtb=" + realdata("dtb/%s.dtb" % board)


def real_firmware():
    return "--firmware-path=" + realdata("firmware")


def assert_clean(server, client, name):
    """OFFLINE, and nothing held on the hardware for `name`."""
    c = client.get(name, observe_hardware=True)
    assert state_name(c.state) == "offline"
    assert not c.hardware.metadata_held
    assert list(c.hardware.bridges) == []
    assert [m for m in c.hardware.mappings if m.owner == pild.pb.MAPPING_OWNER_OS] == []
    sim = server.sim()
    try:
        assert sim.leftovers(c) == []
    finally:
        sim.close()


@pytest.mark.parametrize("board,name,firmware,version", REAL_PAIRS,
                         ids=["%s-%s" % (p[0], p[1]) for p in REAL_PAIRS])
def test_real_firmware_full_lifecycle(board, name, firmware, version):
    with running_pild(dtb(board), real_firmware()) as server, server.client() as client:
        started = client.start(name)
        c = started.coprocessor
        assert state_name(c.state) == "running"
        assert c.image.source == firmware
        assert c.image.hash_table_version == version
        if board == "apq8016-sbc":
            region = c.carveouts[0]
            assert region.dynamically_placed
            assert (name, region.base, region.size) in APQ8016_PLACED
        assert len(c.image.sha256) == 64
        steps = [s.name for s in started.steps]
        assert steps[:4] == ["load", "verify_and_copy", "pas_init_image", "pas_mem_setup"]
        assert "pas_auth_and_reset" in steps and steps[-2:] == ["wait_ready", "release_metadata"]
        # These boards run the firmware under a hypervisor: it mapped the
        # carveout, pild did not, and no bridge outlived authentication.
        assert "IOMMU managed by the hypervisor" in started.note
        running = client.get(name, observe_hardware=True)
        assert not running.hardware.metadata_held
        assert [m.owner for m in running.hardware.mappings] == [pild.pb.MAPPING_OWNER_HYPERVISOR]
        assert list(running.hardware.bridges) == []
        # The image digest is the one InspectImage reports for the file.
        report = client.inspect(firmware=firmware, coprocessor=name)
        assert report.ok and report.metadata_sha256 == c.image.sha256

        stopped = client.stop(name)
        assert [s.name for s in stopped.steps][:3] == ["request_stop", "wait_stop_ack",
                                                       "pas_shutdown"]
        assert_clean(server, client, name)
        history = client.history(name)
        assert [(operation_of(h), result_of(h)) for h in history] == [("stop", "OK"), ("start", "OK")]


def test_real_split_firmware_in_a_subdirectory_starts_by_its_device_tree_name(tmp_path):
    """Real split firmware lives in subdirectories (qcom/sdm845/...): the
    .bNN parts are found beside the image, whatever name it is started by."""
    firmware = tmp_path / "fw"
    subdir = firmware / "qcom" / "sdm845"
    subprocess.run([binary("tools/pilimage"), "split",
                    realdata("firmware/qcom/sdm845/cdsp.mbn"), str(subdir)],
                   check=True, capture_output=True)
    parts = sorted(p.name for p in subdir.iterdir() if p.name != "cdsp.mdt")
    assert len(parts) >= 2 and all(p.startswith("cdsp.b") for p in parts), parts
    # The kernel's loader accepts a split image under the device tree's
    # .mbn name: the parts are named from the stem either way.
    shutil.copy(subdir / "cdsp.mdt", subdir / "cdsp.mbn")
    with running_pild(dtb("sdm845-db845c"), "--firmware-path=" + str(firmware)) as server, \
            server.client() as client:
        with open(realdata("firmware/qcom/sdm845/cdsp.mbn"), "rb") as f:
            monolithic = client.upload(f.read(), name="cdsp.mbn").report
        assert not monolithic.split
        for name in (None, "qcom/sdm845/cdsp.mdt"):
            report = client.inspect(firmware=name or "qcom/sdm845/cdsp.mbn",
                                    coprocessor="cdsp")
            assert report.ok and report.split, report.problems
            assert report.metadata_sha256 == monolithic.metadata_sha256
            started = client.start("cdsp", firmware=name)
            image = started.coprocessor.image
            assert state_name(started.coprocessor.state) == "running"
            assert image.source == (name or "qcom/sdm845/cdsp.mbn")
            assert image.hash_table_version == 5
            assert image.sha256 == monolithic.metadata_sha256
            client.stop("cdsp")
            assert_clean(server, client, "cdsp")


def test_step_verbs_one_by_one_on_the_real_iris_firmware():
    with running_pild(dtb("sm8550-qrd"), real_firmware()) as server:
        common = ("--server=" + server.address,)
        auth = pilctl_json(*common, "authenticate", "video")
        assert auth["coprocessor"]["state"] == "authenticated"
        assert auth["coprocessor"]["hardware"]["metadata_held"] is True
        assert auth["coprocessor"]["image"]["hash_table_version"] == 7
        mapped = pilctl_json(*common, "map", "video")
        assert mapped["coprocessor"]["state"] == "mapped"
        assert "managed by the hypervisor" in mapped["note"]
        assert mapped["steps"] == []
        reset = pilctl_json(*common, "reset", "video", "--ready-timeout=3s")
        assert reset["coprocessor"]["state"] == "running"
        assert [s["name"] for s in reset["steps"]] == ["pas_auth_and_reset", "wait_ready",
                                                        "release_metadata"]
        people = pilctl(*common, "stop", "video", check=0).stdout
        assert people.startswith("video: offline (stop)")
        assert "pas_shutdown" in people
        with server.client() as client:
            assert_clean(server, client, "video")


def test_linux_owned_board_maps_bridges_and_unmaps(tmp_path):
    """x1e80100-crd-el2: no hypervisor; pild bridges around authentication
    and maps each carveout to the remoteproc's stream."""
    with running_pild(dtb("x1e80100-crd-el2")) as probe, probe.client() as client:
        coprocessors = client.list()
    firmware = signed_firmware_for(str(tmp_path / "fw"), coprocessors)
    with running_pild(dtb("x1e80100-crd-el2"), "--firmware-path=" + firmware) as server, \
            server.client() as client:
        for c in coprocessors:
            if c.iommu_owner != pild.pb.IOMMU_OWNER_LINUX:
                continue
            started = client.start(c.name)
            steps = [s.name for s in started.steps]
            assert "iommu_attach" in steps and "smmu_map" in steps
            i = steps.index("pas_auth_and_reset", steps.index("shm_bridge_create"))
            assert steps[i - 1] == "shm_bridge_create" and steps[i + 1] == "shm_bridge_delete"
            view = client.get(c.name, observe_hardware=True).hardware
            assert not view.metadata_held and list(view.bridges) == []
            assert {m.sid for m in view.mappings} == {c.firmware_sid}
            assert {m.owner for m in view.mappings} == {pild.pb.MAPPING_OWNER_OS}
            # Remoteprocs see their carveouts at their physical addresses.
            assert {(m.iova, m.physical_address) for m in view.mappings} == \
                {(r.base, r.base) for r in c.carveouts}
            client.stop(c.name)
            assert_clean(server, client, c.name)


def corrupt(path, offset_from_end=4096):
    data = bytearray(open(path, "rb").read())
    data[-offset_from_end] ^= 0x5A
    open(path, "wb").write(bytes(data))


def test_corrupted_image_is_refused_before_the_secure_world(tmp_path):
    firmware = tmp_path / "qcom" / "sm8250" / "cdsp.mbn"
    firmware.parent.mkdir(parents=True)
    shutil.copy(realdata("firmware/qcom/sm8250/cdsp.mbn"), firmware)
    corrupt(str(firmware))
    with running_pild(dtb("qrb5165-rb5"), "--firmware-path=%s" % tmp_path) as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        error = caught.value
        assert (error.code, error.reason) == ("INVALID_ARGUMENT", "HASH_MISMATCH")
        assert error.metadata["segment"].isdigit()
        assert "segment %s" % error.metadata["segment"] in error.message
        # The secure world was never asked.
        calls = [c.call for c in server.sim().observe().calls]
        assert "pas_init_image" not in calls
        c = client.get("cdsp")
        assert c.last_error.reason == "HASH_MISMATCH" and operation_of(c.last_error) == "start"
        assert_clean(server, client, "cdsp")


def test_a_dry_run_start_checks_real_firmware_without_the_secure_world(tmp_path):
    firmware = tmp_path / "qcom" / "sm8250" / "cdsp.mbn"
    firmware.parent.mkdir(parents=True)
    shutil.copy(realdata("firmware/qcom/sm8250/cdsp.mbn"), firmware)
    with running_pild(dtb("qrb5165-rb5"), "--firmware-path=%s" % tmp_path) as server, \
            server.client() as client:
        checked = client.start("cdsp", dry_run=True)
        assert checked.dry_run and [s.name for s in checked.steps] == ["load", "verify"]
        assert state_name(checked.coprocessor.state) == "offline"
        assert "dry run" in checked.note
        shown = pilctl("--server=" + server.address, "start", "cdsp", "--dry-run").stdout
        assert "cdsp: offline (start, dry run)" in shown
        corrupt(str(firmware))
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp", dry_run=True)
        assert caught.value.reason == "HASH_MISMATCH"
        # Neither asked the secure world nor left a record.
        calls = [c.call for c in server.sim().observe().calls]
        assert calls == [] or "pas_init_image" not in calls
        assert client.history("cdsp") == []
        assert_clean(server, client, "cdsp")


def test_inspect_reports_what_does_not_verify_and_fails_without_a_report(tmp_path):
    firmware = tmp_path / "qcom" / "sm8250" / "cdsp.mbn"
    firmware.parent.mkdir(parents=True)
    shutil.copy(realdata("firmware/qcom/sm8250/cdsp.mbn"), firmware)
    corrupt(str(firmware))
    (tmp_path / "garbage.mbn").write_bytes(b"not an ELF at all" * 10)
    with running_pild(dtb("qrb5165-rb5"), "--firmware-path=%s" % tmp_path) as server, \
            server.client() as client:
        report = client.inspect(firmware="qcom/sm8250/cdsp.mbn", coprocessor="cdsp")
        assert not report.ok and not report.hash_ok
        assert [p.reason for p in report.problems] == ["HASH_MISMATCH"]
        assert report.problems[0].segment >= 0
        # No report without an image whose headers parse.
        for name, reason in (("garbage.mbn", "ELF_BAD_MAGIC"),
                             ("qcom/sm8250/none.mbn", "FIRMWARE_NOT_FOUND")):
            with pytest.raises(pild.PildError) as caught:
                client.inspect(firmware=name)
            assert caught.value.reason == reason


def test_pilctl_timeout_bounds_a_transition_and_says_what_happened():
    with running_pild(dtb("qrb5165-rb5"), real_firmware(),
                      profile='faults { coprocessor: "cdsp" never_ready: true }\n') as server, \
            server.client() as client:
        began = time.monotonic()
        result = pilctl("--server=" + server.address, "--timeout=1s", "start", "cdsp", check=1)
        assert time.monotonic() - began < 4  # not pild's 5 s ready timeout, not 60 s
        assert "no answer from pild within the deadline (--timeout)" in result.stderr
        assert "cannot reach" not in result.stderr
        # pild saw the caller give up and rolled the start back.
        assert wait_until(lambda: client.get("cdsp").last_error.reason != "", timeout=20)
        c = client.get("cdsp")
        assert state_name(c.state) == "offline", c
        assert c.last_error.reason in ("DEADLINE_EXCEEDED", "CANCELLED"), c.last_error
        assert_clean(server, client, "cdsp")


def test_image_too_big_for_the_carveout():
    # The SM8250 CDSP image spans more than the 8 MiB SDM845 CDSP carveout.
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.authenticate("cdsp", firmware="qcom/sm8250/cdsp.mbn")
        assert caught.value.reason == "IMAGE_TOO_LARGE"
        assert "0x800000" in caught.value.message
        assert_clean(server, client, "cdsp")


def test_missing_firmware_file_names_where_it_looked():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("adsp")  # qcom/sdm845/adsp.mbn is not in the real data
        error = caught.value
        assert (error.code, error.reason) == ("NOT_FOUND", "FIRMWARE_NOT_FOUND")
        assert error.metadata["name"] == "qcom/sdm845/adsp.mbn"
        assert realdata("firmware") in error.message
        assert_clean(server, client, "adsp")
        result = pilctl("--server=" + server.address, "start", "adsp")
        assert result.returncode == 4 and "[FIRMWARE_NOT_FOUND]" in result.stderr


def test_firmware_names_cannot_leave_the_firmware_directories():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        for name in ["../../../etc/passwd", "/etc/passwd", "qcom/./x.mbn"]:
            with pytest.raises(pild.PildError) as caught:
                client.start("cdsp", firmware=name)
            assert (caught.value.code, caught.value.reason) == \
                ("INVALID_ARGUMENT", "FIRMWARE_NAME_INVALID")


HOLDER = """
import sys, time
sys.path[:0] = sys.argv[3].split(":")
import pild
with pild.connect(sys.argv[1]) as client:
    client.start(sys.argv[2])
    with client.lease(sys.argv[2], holder="test HAL") as grant:
        print("leased", grant.lease_id, flush=True)
        time.sleep(600)
"""


def test_a_lease_keeps_others_off_and_its_holders_death_stops_the_coprocessor(tmp_path):
    """x1e80100-crd-el2 (no hypervisor: pild maps the ADSP's stream): a HAL
    starts the ADSP and leases it; nobody else may stop it; kill -9 of the
    HAL stops it and leaves nothing mapped."""
    with running_pild(dtb("x1e80100-crd-el2")) as probe, probe.client() as client:
        coprocessors = [c for c in client.list() if c.name == "adsp"]
    firmware = signed_firmware_for(str(tmp_path / "fw"), coprocessors)
    with running_pild(dtb("x1e80100-crd-el2"), "--firmware-path=" + firmware) as server, \
            server.client() as client:
        hal = subprocess.Popen([sys.executable, "-c", HOLDER, server.address, "adsp",
                                ":".join(sys.path)], stdout=subprocess.PIPE, text=True)
        try:
            assert hal.stdout.readline().startswith("leased"), hal.poll()
            c = client.get("adsp", observe_hardware=True)
            assert state_name(c.state) == "running" and list(c.hardware.mappings)
            for call in (lambda: client.stop("adsp"), lambda: client.start("adsp")):
                with pytest.raises(pild.PildError) as caught:
                    call()
                assert (caught.value.code, caught.value.reason) == (
                    "FAILED_PRECONDITION", "LEASED")
                assert "test HAL" in caught.value.metadata["holder"]
            with pytest.raises(pild.PildError) as caught:
                with client.lease("adsp"):
                    pass
            assert caught.value.reason == "LEASED"
            hal.send_signal(signal.SIGKILL)
            hal.wait(timeout=10)
            assert wait_until(lambda: state_name(client.get("adsp").state) == "offline",
                              timeout=20)
            assert_clean(server, client, "adsp")
            stop = [h for h in client.history("adsp") if operation_of(h) == "stop"][0]
            assert result_of(stop) == "OK" and stop.caller.pid == hal.pid
        finally:
            hal.kill()
            hal.wait()
        # A lease of one's own ends with the block: stopped as well.
        client.start("adsp")
        with client.lease("adsp", holder="me") as grant:
            assert list(grant.names) == ["adsp"] and "(me)" in grant.holder
            client.stop("adsp")  # the holder may
            client.start("adsp")
        assert wait_until(lambda: state_name(client.get("adsp").state) == "offline", timeout=20)
        assert_clean(server, client, "adsp")


def test_skipped_map_on_an_os_owned_iommu_is_an_smmu_fault(tmp_path):
    """The EL1 device tree of x1e80100-crd (no `iommus`) on a SoC without a
    hypervisor: pild has no stream to map, the DSP faults on its first
    fetch, and pild reports the fault and rolls back."""
    with running_pild(dtb("x1e80100-crd")) as probe, probe.client() as client:
        cdsp = client.get("cdsp")
    firmware = signed_firmware_for(str(tmp_path / "fw"), [cdsp])
    with running_pild(dtb("x1e80100-crd"), "--firmware-path=" + firmware,
                      profile="hypervisor: false\n") as server, server.client() as client:
        client.authenticate("cdsp")
        mapped = client.map("cdsp")
        assert "nothing mapped" in mapped.note
        with pytest.raises(pild.PildError) as caught:
            client.reset("cdsp")
        error = caught.value
        assert (error.code, error.reason) == ("FAILED_PRECONDITION", "SMMU_FAULT")
        assert error.metadata["coprocessor"] == "cdsp"
        assert error.metadata["fault"] == "unmatched stream"
        assert error.metadata["sid"].startswith("0x") and error.metadata["iova"].startswith("0x")
        assert "was the firmware stream mapped?" in error.message
        faults = server.sim().observe().faults
        assert faults and "0x%x" % faults[-1].sid == error.metadata["sid"]
        assert client.get("cdsp").last_error.reason == "SMMU_FAULT"
        assert_clean(server, client, "cdsp")


def test_concurrent_start_and_stop_from_several_clients(tmp_path):
    with running_pild(dtb("sm8550-qrd"), real_firmware()) as server:
        outcomes = []
        lock = threading.Lock()

        def worker(index):
            with server.client(timeout=30) as client:
                for round_ in range(4):
                    call = client.start if (index + round_) % 2 == 0 else client.stop
                    try:
                        call("video")
                        result = "OK"
                    except pild.PildError as e:
                        result = e.reason
                    with lock:
                        outcomes.append(result)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(outcomes) <= {"OK", "WRONG_STATE"}, outcomes
        assert "OK" in outcomes
        with server.client() as client:
            # One transition at a time: each recorded transition starts where
            # the one before it ended.
            history = list(reversed(client.history("video", limit=100)))
            assert len(history) == len(outcomes)
            state = pild.pb.STATE_OFFLINE
            for entry in history:
                assert entry.from_state == state, entry
                state = entry.to_state
            if state_name(client.get("video").state) == "running":
                client.stop("video")
            assert_clean(server, client, "video")


def collect(stream, into, stop_when):
    for event in stream:
        into.append(event)
        if stop_when(event):
            break


def test_watch_streams_current_state_then_changes_in_order():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        all_events, video_events = [], []
        everything = client.watch()
        only_video = client.watch("video")
        finished = lambda e: (e.coprocessor.name == "video" and not e.initial
                              and state_name(e.coprocessor.state) == "offline")
        threads = [threading.Thread(target=collect, args=(everything, all_events, finished)),
                   threading.Thread(target=collect, args=(only_video, video_events, finished))]
        for t in threads:
            t.start()
        assert wait_until(lambda: len(all_events) >= 3 and len(video_events) >= 1)
        client.start("cdsp")
        client.start("video")
        client.stop("video")
        for t in threads:
            t.join(timeout=20)
        everything.cancel()
        only_video.cancel()

        initial = [e for e in all_events if e.initial]
        # mpss (sdm845-mss-pil) is listed but boots without PAS: never started.
        assert [e.coprocessor.name for e in initial] == ["adsp", "cdsp", "mpss", "video"]
        assert all(state_name(e.coprocessor.state) == "offline" for e in initial)
        changes = [e for e in all_events if not e.initial]
        sequences = [e.sequence for e in changes]
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
        assert [(e.coprocessor.name, state_name(e.coprocessor.state)) for e in changes] == [
            ("cdsp", "authenticated"), ("cdsp", "mapped"), ("cdsp", "running"),
            ("video", "authenticated"), ("video", "mapped"), ("video", "running"),
            ("video", "stopping"), ("video", "offline")]
        for e in changes:
            assert operation_of(e) in ("start", "stop") and e.reason == ""
        assert [state_name(e.coprocessor.state) for e in video_events] == [
            "offline", "authenticated", "mapped", "running", "stopping", "offline"]
        assert [e.sequence for e in video_events[1:]] == \
            [e.sequence for e in changes if e.coprocessor.name == "video"]


def test_watch_resumes_within_a_run_and_starts_over_after_a_restart():
    server = Pild(dtb("qrb5165-rb5"), real_firmware()).start()
    try:
        with server.client() as client:
            stream = client.watch("cdsp")
            first = next(stream)
            assert first.initial and first.sequence == 0 and len(first.epoch) == 32
            assert client.info().epoch == first.epoch
            stream.cancel()
            client.start("cdsp")  # three changes while nobody watches
            resumed = client.watch("cdsp", after_sequence=first.sequence, epoch=first.epoch)
            missed = [next(resumed) for _ in range(3)]
            resumed.cancel()
            assert [(e.sequence, e.initial, state_name(e.coprocessor.state)) for e in missed] == [
                (1, False, "authenticated"), (2, False, "mapped"), (3, False, "running")]
        server.stop(keep_sim=True)
        server.start()
        with server.client() as client:
            # Another run: the old resume point means nothing; the current
            # state (adopted: still running) comes first, with the new epoch.
            again = client.watch("cdsp", after_sequence=3, epoch=first.epoch)
            event = next(again)
            again.cancel()
            assert event.initial and event.epoch != first.epoch
            assert event.epoch == client.info().epoch
            assert state_name(event.coprocessor.state) == "running"
            client.stop("cdsp")
    finally:
        server.stop()


def test_watch_of_an_unknown_coprocessor_fails():
    with running_pild() as server, server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            next(client.watch("gpu"))
        assert caught.value.reason == "UNKNOWN_COPROCESSOR"


def elf_core_header(data):
    assert data[:4] == b"\x7fELF"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_phnum = struct.unpack_from("<H", data, 44)[0]
    return e_type, e_machine, e_phnum


def test_crash_is_recovered_and_its_coredump_downloaded(tmp_path):
    with running_pild(dtb("qrb5165-rb5"), real_firmware(), "--restart-backoff=20ms",
                      profile='faults { coprocessor: "cdsp" watchdog_after_ms: 50 }\n') \
            as server, server.client() as client:
        events = []
        stream = client.watch("cdsp")
        watcher = threading.Thread(target=collect, args=(
            stream, events,
            lambda e: operation_of(e) == "recover" and state_name(e.coprocessor.state) == "running"))
        watcher.start()
        client.start("cdsp")
        watcher.join(timeout=20)
        stream.cancel()
        states = [(state_name(e.coprocessor.state), operation_of(e), e.reason)
                  for e in events if not e.initial]
        assert states == [("authenticated", "start", ""), ("mapped", "start", ""),
                          ("running", "start", ""), ("crashed", "crash", "WATCHDOG"),
                          ("recovering", "recover", "restart 1 of 3"), ("running", "recover", "")]
        c = client.get("cdsp")
        assert state_name(c.state) == "running" and c.crash_count == 1
        assert c.image.source == "qcom/sm8250/cdsp.mbn"

        # The recovery's record follows its state by a moment.
        assert wait_until(lambda: operation_of(client.history("cdsp")[0]) == "recover")
        info, data = client.coredump("cdsp")
        assert info.reason == "WATCHDOG" and info.crash_id == 1
        assert len(data) == info.size and hashlib.sha256(data).hexdigest() == info.sha256
        e_type, e_machine, e_phnum = elf_core_header(data)
        assert e_type == 4  # ET_CORE
        assert e_machine == 164  # EM_QDSP6, as the image
        assert e_phnum >= 2
        out = tmp_path / "cdsp.core"
        text = pilctl("--server=" + server.address, "coredump", "cdsp",
                      "--output=%s" % out, check=0).stdout
        assert "WATCHDOG" in text and open(out, "rb").read() == data

        history = [(operation_of(h), result_of(h)) for h in client.history("cdsp")]
        # Both downloads (client and pilctl) are on the record.
        assert history == [("coredump", "OK"), ("coredump", "OK"), ("recover", "OK"),
                           ("crash", "WATCHDOG"), ("start", "OK")]
        client.stop("cdsp")
        assert_clean(server, client, "cdsp")


def test_crash_without_restart_stays_crashed_for_inspection():
    with running_pild(dtb("sdm845-db845c"), real_firmware(), "--recovery=none",
                      profile='faults { coprocessor: "video" fatal_after_ms: 20 }\n') \
            as server, server.client() as client:
        client.start("video")
        assert wait_until(lambda: state_name(client.get("video").state) == "crashed")
        time.sleep(0.2)
        c = client.get("video")
        assert state_name(c.state) == "crashed"
        assert (c.last_error.reason, operation_of(c.last_error)) == ("FATAL_ERROR", "crash")
        assert wait_until(lambda: pilctl("--server=" + server.address, "coredump",
                                         "video", "--output=/dev/null").returncode == 0)
        client.stop("video")
        assert_clean(server, client, "video")


def test_upload_then_start_from_the_upload(tmp_path):
    with running_pild(dtb("sm8550-qrd"), "--firmware-path=%s" % tmp_path) as server, \
            server.client() as client:
        image = realdata("firmware/qcom/vpu/vpu30_p4.mbn")
        uploaded = pilctl_json("--server=" + server.address, "upload", image)
        digest = hashlib.sha256(open(image, "rb").read()).hexdigest()
        assert uploaded["sha256"] == digest and uploaded["report"]["ok"] is True
        started = client.start("video", upload=digest)
        assert started.coprocessor.image.source == "upload:" + digest
        client.stop("video")

        bad = tmp_path / "bad.mbn"
        shutil.copy(image, bad)
        corrupt(str(bad))
        with pytest.raises(pild.PildError) as caught:
            client.upload(open(bad, "rb").read(), name="bad.mbn")
        assert caught.value.reason == "HASH_MISMATCH"
        bad_digest = hashlib.sha256(open(bad, "rb").read()).hexdigest()
        with pytest.raises(pild.PildError) as caught:
            client.start("video", upload=bad_digest)
        assert caught.value.reason == "UPLOAD_NOT_FOUND"
        assert_clean(server, client, "video")


def test_upload_checks_size_and_digest():
    with running_pild() as server:
        channel = grpc.insecure_channel(server.address)
        stub = pild.lifecycle_pb2_grpc.LifecycleServiceStub(channel)
        pb = pild.pb

        def upload(*messages):
            with pytest.raises(grpc.RpcError) as caught:
                stub.UploadFirmware(iter(messages), timeout=10)
            return pild.PildError.from_rpc_error(caught.value).reason

        assert upload(pb.UploadFirmwareRequest(chunk=b"x")) == "UPLOAD_HEADER_MISSING"
        header = pb.UploadFirmwareRequest(header=pb.UploadHeader(name="a", size=4))
        assert upload(header, pb.UploadFirmwareRequest(chunk=b"abc")) == "UPLOAD_SIZE_MISMATCH"
        assert upload(header, pb.UploadFirmwareRequest(chunk=b"abcde")) == "UPLOAD_SIZE_MISMATCH"
        wrong = pb.UploadFirmwareRequest(header=pb.UploadHeader(name="a", size=4,
                                                                sha256="0" * 64))
        assert upload(wrong, pb.UploadFirmwareRequest(chunk=b"abcd")) == "UPLOAD_DIGEST_MISMATCH"
        assert upload(header, pb.UploadFirmwareRequest(chunk=b"abcd")) == "IMAGE_TOO_SHORT"
        channel.close()


def test_retried_request_id_is_answered_not_executed():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        first = client.start("cdsp", request_id="retry-me-1")
        again = client.start("cdsp", request_id="retry-me-1")
        assert not first.replayed and again.replayed
        assert again.coprocessor.image.sha256 == first.coprocessor.image.sha256
        assert len(client.history("cdsp")) == 1
        with pytest.raises(pild.PildError) as caught:
            client.stop("cdsp", request_id="retry-me-1")
        assert caught.value.reason == "REQUEST_ID_REUSED"
        client.stop("cdsp")


def test_client_deadline_rolls_back(tmp_path):
    with running_pild(dtb("sdm845-db845c"), real_firmware(),
                      profile='faults { coprocessor: "cdsp" never_ready: true }\n') as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp", ready_timeout=30, timeout=0.5)
        assert caught.value.code == "DEADLINE_EXCEEDED"
        # pild notices, rolls back, and records why.
        assert wait_until(lambda: client.get("cdsp").last_error.reason == "DEADLINE_EXCEEDED")
        assert_clean(server, client, "cdsp")


def test_ready_timeout_is_reported_and_rolled_back():
    with running_pild(dtb("sdm845-db845c"), real_firmware(),
                      profile='faults { coprocessor: "video" never_ready: true }\n') as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("video", ready_timeout=0.3)
        assert (caught.value.code, caught.value.reason) == ("DEADLINE_EXCEEDED", "READY_TIMEOUT")
        assert caught.value.metadata["timeout_ms"] == "300"
        assert_clean(server, client, "video")


def test_health_follows_each_coprocessor():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        channel = server.channel()
        health = health_pb2_grpc.HealthStub(channel)

        def serving(name):
            request = health_pb2.HealthCheckRequest(service="pil.v1.LifecycleService/" + name)
            return health.Check(request, timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING

        assert not serving("video")
        client.start("video")
        assert serving("video") and not serving("cdsp")
        client.stop("video")
        assert not serving("video")
        channel.close()


def test_pilctl_verbs_for_people_and_scripts(tmp_path):
    with running_pild(dtb("qrb5165-rb5"), real_firmware()) as server:
        common = ("--server=" + server.address,)
        text = pilctl(*common, "start", "cdsp", check=0).stdout
        assert text.startswith("cdsp: running (start)")
        assert "verify_and_copy" in text and "hash table v6 sha384" in text
        assert "note: IOMMU managed by the hypervisor" in text
        status = pilctl(*common, "status", "cdsp", "--hardware", check=0).stdout
        assert "image sha256:" in status and "hypervisor" in status
        watched = pilctl(*common, "watch", "cdsp", "--count=1", check=0).stdout
        assert "cdsp  running  (current)" in watched
        events = pilctl(*common, "--json", "watch", "--count=3", check=0).stdout.splitlines()
        assert len(events) == 3 and all(line.startswith('{"sequence":') for line in events)
        quiet = pilctl(*common, "watch", "--changes", "--for=300ms", check=0).stdout
        assert quiet == ""
        history = pilctl_json(*common, "history", "cdsp")
        assert [h["operation"] for h in history] == ["start"]
        assert history[0]["from_state"] == "offline" and history[0]["to_state"] == "running"
        table = pilctl(*common, "history", check=0).stdout
        assert table.splitlines()[0].split()[:4] == ["ID", "TIME", "NAME", "OPERATION"]
        report = pilctl_json(*common, "inspect", "--firmware=qcom/sm8250/cdsp.mbn",
                             "--coprocessor=cdsp")
        assert report["ok"] is True and report["version"] == 6
        refused = pilctl(*common, "map", "cdsp")
        assert refused.returncode == 6 and "[WRONG_STATE]" in refused.stderr
        missing = pilctl(*common, "coredump", "adsp", "--output=%s" % (tmp_path / "x"))
        assert missing.returncode == 4 and "[NO_COREDUMP]" in missing.stderr
        pilctl(*common, "stop", "cdsp", check=0)


@pytest.mark.parametrize("board", REAL_DTBS)
def test_every_real_board_starts_and_stops_each_bootable_coprocessor(board, tmp_path):
    """Test-signed images in each coprocessor's carveout, on every real
    device tree: each one that can boot does, and leaves nothing behind."""
    with running_pild(dtb(board)) as probe, probe.client() as client:
        coprocessors = [c for c in client.list() if not c.problems]
    firmware = signed_firmware_for(str(tmp_path / "fw"), coprocessors)
    with running_pild(dtb(board), "--firmware-path=" + firmware) as server, \
            server.client() as client:
        for c in coprocessors:
            started = client.start(c.name)
            assert state_name(started.coprocessor.state) == "running", c.name
            client.stop(c.name)
            assert_clean(server, client, c.name)


def test_history_names_the_caller_by_its_credentials():
    with running_pild(dtb("sdm845-db845c"), real_firmware()) as server, \
            server.client() as client:
        client.start("video", request_id="who-started-it")
        entry = client.history("video")[0]
        assert (entry.caller.uid, entry.caller.gid, entry.caller.pid) == \
            (os.getuid(), os.getgid(), os.getpid())
        assert entry.request_id == "who-started-it"
        assert entry.image_sha256 == client.get("video").image.sha256
        text = pilctl("--server=" + server.address, "history", "video", check=0).stdout
        assert "uid %d pid %d" % (os.getuid(), os.getpid()) in text
        client.stop("video")
