"""End to end, past a single boot: Watch streams, crashes with recovery
and coredumps, uploads, retried request ids, deadlines, health, pilctl for
scripts, every real board's bootable coprocessors, and the history's
callers — pild on real device trees over its Unix socket, leftovers checked
on the simulated hardware through pilsim."""

import hashlib
import os
import shutil
import struct
import threading
import time

import grpc
import pytest

import pild
from pildtest import (operation_of, result_of, REAL_DTBS, assert_clean, corrupt, dtb, health_pb2,
                      health_pb2_grpc, pilctl, pilctl_json, Pild, real_firmware, realdata,
                      running_pild, signed_firmware_for, wait_until)

state_name = pild.state_name


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
