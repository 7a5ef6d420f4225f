"""pild.fleet.pild_coprocessor run by Debian's ansible-core on a local host
against pild on the sim (conftest.py): idempotence (no new audit record),
check mode (a dry-run Start), --diff, the health gate and rollback (from a
running or a crashed coprocessor; refused before anything changes when the
previous image cannot be started again), pild going away mid-gate, and the
options checked before anything is done."""

import os
import shutil
import threading
import time

import pild
from ansible_helpers import (OLD_IMAGE, module, new_image, newest_id, running_image,
                             too_large_image, upload)
from pildtest import wait_until


def starts(client):
    return len([e for e in client.history("cdsp") if e.operation == pild.pb.OPERATION_START])


def test_running_is_idempotent_and_stopped_and_restarted_act(server, client):
    rc, r = module("pild_coprocessor", {"name": "cdsp", "health_seconds": 0}, server.address)
    assert rc == 0 and r["changed"], r
    assert r["previous"]["state"] == "offline"
    assert r["current"]["image"]["source"] == OLD_IMAGE and r["state"] == "running"
    assert r["health"]["passed"] and r["health"]["seconds"] == 0, r["health"]
    # The same image, by pild's default or by its firmware name: no change,
    # and nothing pild records.
    newest = newest_id(client)
    for args in [{}, {"firmware": OLD_IMAGE}]:
        rc, r = module("pild_coprocessor", dict(args, name="cdsp"), server.address)
        assert rc == 0 and not r["changed"], r
    assert newest_id(client) == newest
    count = starts(client)

    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "restarted",
                                        "health_seconds": 0}, server.address)
    assert rc == 0 and r["changed"]
    assert r["current"]["image"]["source"] == OLD_IMAGE
    assert starts(client) == count + 1

    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "stopped"}, server.address)
    assert rc == 0 and r["changed"] and r["state"] == "offline"
    assert running_image(client) == ("offline", "")
    newest = newest_id(client)
    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "stopped"}, server.address)
    assert rc == 0 and not r["changed"]
    assert newest_id(client) == newest


def test_check_mode_is_a_dry_run_and_changes_nothing(server, client, image):
    path, sha256 = image
    upload(client, path)
    newest = newest_id(client)
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, check=True, diff=True)
    assert rc == 0 and r["changed"], r
    assert [step.split(":")[0] for step in r["dry_run"]] == ["load", "verify"], r["dry_run"]
    assert r["diff"]["before"] == {"state": "offline", "image": None}
    assert r["diff"]["after"]["state"] == "running"
    assert r["diff"]["after"]["image"]["source"] == "upload:" + sha256
    assert running_image(client) == ("offline", "")
    assert newest_id(client) == newest

    # From running, another image: changed reported, the old one still runs.
    client.start("cdsp")
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, check=True)
    assert rc == 0 and r["changed"] and "dry_run" not in r
    assert running_image(client) == ("running", OLD_IMAGE)

    # An image that would not fit: pild's reason, nothing changed.
    name, _ = too_large_image()
    for state in ["running", "offline"]:
        if state == "offline":
            client.stop("cdsp")
        newest = newest_id(client)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "firmware": name},
                       server.address, check=True)
        assert rc != 0 and "IMAGE_TOO_LARGE" in r["msg"] and not r["changed"], r
        assert running_image(client)[0] == state
        assert newest_id(client) == newest


def test_diff_shows_state_and_image_before_and_after(server, client, image):
    path, sha256 = image
    upload(client, path)
    client.start("cdsp")
    old = client.get("cdsp").image
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                        "health_seconds": 0.5}, server.address, diff=True)
    assert rc == 0 and r["changed"], r
    new = client.get("cdsp").image
    assert r["diff"]["before"] == {"state": "running", "image": {
        "sha256": old.sha256, "version": old.version, "source": OLD_IMAGE,
        "upload_sha256": None}}
    assert r["diff"]["after"] == {"state": "running", "image": {
        "sha256": new.sha256, "version": new.version, "source": "upload:" + sha256,
        "upload_sha256": sha256}}
    assert r["health"]["passed"]
    assert "+++ after" in r["_stdout"] and '+        "source": "upload:%s"' % sha256 in r["_stdout"]
    newest = newest_id(client)
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256.upper()},
                   server.address, diff=True)
    assert rc == 0 and not r["changed"]
    assert r["diff"]["before"] == r["diff"]["after"]
    assert newest_id(client) == newest


def test_a_crash_in_the_health_gate_rolls_back(server, client, image):
    path, sha256 = image
    upload(client, path)
    sim = server.sim()
    try:
        # Nothing ran before: rolled back to stopped.
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1}, server.address)
        assert rc != 0 and r["rolled_back"], r
        assert "WATCHDOG" in r["msg"] and "rolled back to stopped" in r["msg"], r["msg"]
        assert running_image(client) == ("offline", "")
        # The old image ran: it runs again.
        client.start("cdsp")
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1}, server.address)
        assert rc != 0 and r["rolled_back"] and r["changed"], r
        assert "WATCHDOG" in r["msg"] and "rolled back to %s" % OLD_IMAGE in r["msg"], r["msg"]
        assert r["previous"]["image"]["source"] == OLD_IMAGE
        assert r["current"] == r["previous"]
        assert running_image(client) == ("running", OLD_IMAGE)
        # rollback: false leaves it as the failure did.
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1, "rollback": False},
                       server.address)
        assert rc != 0 and not r["rolled_back"] and "rollback: false" in r["msg"], r
        assert running_image(client)[1] == "upload:" + sha256
    finally:
        sim.close()


def crash(server, client, **start):
    """Starts cdsp (`start`: its source) and has it crash, and stay crashed."""
    client.update_recovery("cdsp", restart=False)
    sim = server.sim()
    try:
        sim.inject(coprocessor="cdsp", watchdog_after_ms=50)
    finally:
        sim.close()
    client.start("cdsp", **start)
    wait_until(lambda: client.get("cdsp").state == pild.pb.STATE_CRASHED)


def test_a_crashed_coprocessor_is_rolled_back_to_the_image_it_held(server, client, image):
    path, sha256 = image
    upload(client, path)
    crash(server, client)
    held = client.get("cdsp").image.sha256
    sim = server.sim()
    try:
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
    finally:
        sim.close()
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                        "health_seconds": 1}, server.address)
    assert rc != 0 and r["changed"] and r["rolled_back"], r
    assert r["previous"]["state"] == "crashed"
    assert "rolled back to %s (sha256 %s), running again" % (OLD_IMAGE, held) in r["msg"], r
    assert running_image(client) == ("running", OLD_IMAGE)


def test_rollback_impossible_when_the_previous_source_is_gone_or_changed(server, client,
                                                                        image, tmp_path):
    path, sha256 = image
    upload(client, path)
    # A firmware name that now names another file than the one running.
    name = "qcom/test/cdsp-rollback.mbn"
    target = os.path.join(server.firmware_dir, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    first, _ = new_image(str(tmp_path), client, seed=11)
    second, _ = new_image(str(tmp_path), client, seed=12)
    shutil.copy(first, target)
    client.start("cdsp", firmware=name)
    shutil.copy(second, target)
    newest = newest_id(client)
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address)
    assert rc != 0 and not r["changed"] and not r["rolled_back"], r
    assert "rollback impossible: %s now holds another image" % name in r["msg"], r["msg"]
    assert newest_id(client) == newest
    assert running_image(client) == ("running", name)
    # Check mode says so too.
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, check=True)
    assert rc != 0 and "rollback impossible" in r["msg"], r
    # rollback: false goes ahead.
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                        "health_seconds": 0, "rollback": False}, server.address)
    assert rc == 0 and r["changed"], r
    client.stop("cdsp")

    # An upload that is gone: pild keeps uploads in memory, so a restarted
    # pild adopts the coprocessor that runs one, but no longer has it.
    other, other_sha256 = new_image(str(tmp_path), client, seed=13)
    upload(client, other)
    client.start("cdsp", upload=other_sha256)
    server.kill()
    server.start()
    wait_until(lambda: answers(client.uploads) == [])
    assert running_image(client) == ("running", "upload:" + other_sha256)
    upload(client, path)
    newest = newest_id(client)
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address)
    assert rc != 0 and not r["changed"], r
    assert "rollback impossible" in r["msg"] and "UPLOAD_NOT_FOUND" in r["msg"], r["msg"]
    assert r["error"]["reason"] == "UPLOAD_NOT_FOUND"
    assert newest_id(client) == newest
    assert running_image(client) == ("running", "upload:" + other_sha256)


def answers(call):
    """What `call` returns; None while pild does not answer."""
    try:
        return call()
    except pild.Unavailable:
        return None


def test_pild_going_away_in_the_health_gate_is_a_change_and_a_failure(server, client, image):
    path, sha256 = image
    upload(client, path)
    client.start("cdsp")

    def kill_when_started():
        wait_until(lambda: running_image(client)[1] == "upload:" + sha256, timeout=30)
        time.sleep(0.5)
        server.kill()
    killer = threading.Thread(target=kill_when_started)
    killer.start()
    try:
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 20, "timeout": 5},
                       server.address)
    finally:
        killer.join()
        server.start()
    assert rc != 0 and r["changed"] and not r["rolled_back"], r
    assert "health gate of upload:%s failed: UNAVAILABLE" % sha256 in r["msg"], r["msg"]
    assert "rollback failed: stop: UNAVAILABLE" in r["msg"], r["msg"]
    assert r["error"]["code"] == "UNAVAILABLE"
    assert r["current"]["state"] == "unknown"


def test_options_are_checked_before_anything_is_done(server, client):
    client.start("cdsp")
    newest = newest_id(client)
    cases = [({"health_seconds": -1}, "health_seconds must be 0 or more seconds, got -1"),
             ({"upload_sha256": "abc"}, "upload_sha256 must be a SHA-256, 64 hex digits"),
             ({"upload_sha256": "g" * 64}, "upload_sha256 must be a SHA-256"),
             ({"state": "stopped", "firmware": OLD_IMAGE}, "firmware: not for state=stopped"),
             ({"state": "stopped", "health_seconds": 5}, "health_seconds: not for state=stopped"),
             ({"ready_timeout": 0}, "ready_timeout must be a number of seconds > 0")]
    for args, message in cases:
        rc, r = module("pild_coprocessor", dict(args, name="cdsp"), server.address)
        assert rc != 0 and message in r["msg"], (args, r)
    rc, r = module("pild_coprocessor", {"name": "cdsp"}, server.tcp)
    assert rc != 0 and "pild accepts TCP only with mutual TLS" in r["msg"], r
    assert newest_id(client) == newest
    assert running_image(client) == ("running", OLD_IMAGE)
