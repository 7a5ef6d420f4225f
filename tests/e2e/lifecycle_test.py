"""End to end: pild on each real device tree, driven over its Unix socket as
clients drive it, with the real firmware where the real data has a pair for
the board and test-signed images elsewhere. Every failure is checked for its
ErrorInfo reason and for leftovers on the simulated hardware (through
pilsim, independently of pild)."""

import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import pild
from pildtest import (operation_of, result_of, assert_clean, binary, corrupt, dtb, pilctl,
                      pilctl_json, real_firmware, realdata, running_pild, signed_firmware_for,
                      wait_until)

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
