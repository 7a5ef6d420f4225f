"""pilctl's commands for what pild keeps and how it treats coprocessors
(uploads, coredumps, recovery, lease) against a real pild on the sim, as
people and scripts (--json) use them, failures included."""

import hashlib
import json
import signal
import subprocess

import pild
from pildtest import binary, pilctl, pilctl_json, realdata, running_pild, wait_until

state_name = pild.state_name
BOARD = "--dtb=" + realdata("dtb/qrb5165-rb5.dtb")
FIRMWARE = "--firmware-path=" + realdata("firmware")
CDSP_IMAGE = realdata("firmware/qcom/sm8250/cdsp.mbn")


def usage_error(*words):
    """Runs a mistaken command line: exit 2, a JSON error with reason USAGE."""
    error = pilctl_json(*words, check=2)["error"]
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "USAGE"), error
    return error["message"]


def test_uploads_are_listed_kept_while_in_use_and_deleted(tmp_path):
    with running_pild(BOARD, "--firmware-path=%s" % tmp_path) as server:
        at = "--server=" + server.address
        assert pilctl(at, "uploads", check=0).stdout == "no uploads\n"
        assert pilctl_json(at, "uploads") == []
        sha = pilctl_json(at, "upload", CDSP_IMAGE)["sha256"]
        assert sha == hashlib.sha256(open(CDSP_IMAGE, "rb").read()).hexdigest()
        listed = pilctl_json(at, "uploads")
        assert [(u["sha256"], u["name"]) for u in listed] == [(sha, "cdsp.mbn")]
        assert set(listed[0]) == {"sha256", "size", "name", "time"}
        table = pilctl(at, "uploads", check=0).stdout.splitlines()
        assert table[0].split() == ["SHA256", "SIZE", "TIME", "NAME"]
        assert table[1].startswith(sha) and table[1].endswith("cdsp.mbn")

        pilctl(at, "start", "cdsp", "--upload=" + sha, check=0)
        busy = pilctl_json(at, "uploads", "delete", sha, check=6)["error"]
        assert busy["reason"] == "UPLOAD_IN_USE" and busy["metadata"]["coprocessor"] == "cdsp"
        pilctl(at, "stop", "cdsp", check=0)
        assert pilctl_json(at, "uploads", "delete", sha) == {"sha256": sha}
        assert pilctl_json(at, "uploads") == []
        gone = pilctl(at, "uploads", "delete", sha, check=4)
        assert "[UPLOAD_NOT_FOUND]" in gone.stderr
        assert "usage: pilctl uploads [delete SHA256]" in usage_error(at, "uploads", "remove", sha)
        usage_error(at, "uploads", "delete")


def test_coredumps_lists_what_a_crash_left():
    with running_pild(BOARD, FIRMWARE, "--recovery=none",
                      profile='faults { coprocessor: "cdsp" watchdog_after_ms: 50 }\n') \
            as server, server.client() as client:
        at = "--server=" + server.address
        assert pilctl(at, "coredumps", check=0).stdout == "no coredumps\n"
        client.start("cdsp")
        assert wait_until(lambda: pilctl_json(at, "coredumps", "cdsp") != [], timeout=20)
        listed = pilctl_json(at, "coredumps", "cdsp")
        assert [(d["name"], d["crash_id"], d["reason"]) for d in listed] == [
            ("cdsp", 1, "WATCHDOG")]
        assert set(listed[0]) == {"name", "crash_id", "reason", "time", "size", "sha256"}
        assert pilctl_json(at, "coredumps") == listed
        assert pilctl_json(at, "coredumps", "adsp") == []
        table = pilctl(at, "coredumps", check=0).stdout.splitlines()
        assert table[0].split() == ["NAME", "CRASH", "TIME", "REASON", "SIZE", "SHA256"]
        assert table[1].split()[:2] == ["cdsp", "1"] and listed[0]["sha256"] in table[1]
        downloaded = pilctl_json(at, "coredump", "cdsp", "--output=/dev/null")
        assert {k: downloaded[k] for k in listed[0]} == listed[0]
        error = pilctl_json(at, "coredumps", "gpu", check=4)["error"]
        assert error["reason"] == "UNKNOWN_COPROCESSOR"
        client.stop("cdsp")


def test_recovery_changes_one_part_of_the_policy_at_a_time():
    with running_pild(BOARD, FIRMWARE) as server, server.client() as client:
        at = "--server=" + server.address
        before = client.get("cdsp").recovery
        changed = pilctl_json(at, "recovery", "cdsp", "--restart=off", "--max-restarts=1",
                              "--initial-backoff=500ms")
        assert changed["name"] == "cdsp"
        assert changed["recovery"] == {"restart": False, "max_restarts": 1,
                                       "initial_backoff": "0.500s"}
        # Options not given keep their value.
        text = pilctl(at, "recovery", "cdsp", "--restart=on", check=0).stdout
        assert text == "cdsp: recovery restart up to 1 times, first after 500ms\n"
        policy = client.get("cdsp").recovery
        assert (policy.restart, policy.max_restarts) == (True, 1)
        assert client.get("adsp").recovery == before  # only cdsp changed
        assert pilctl_json(at, "status", "cdsp")["recovery"]["initial_backoff"] == "0.500s"

        error = pilctl_json(at, "recovery", "gpu", "--restart=on", "--max-restarts=2",
                            "--initial-backoff=1s", check=4)["error"]
        assert error["reason"] == "UNKNOWN_COPROCESSOR"
        assert "[UNKNOWN_COPROCESSOR]" in pilctl(at, "recovery", "gpu", "--restart=on",
                                                 check=4).stderr
        bad = pilctl_json(at, "recovery", "cdsp", "--max-restarts=101", check=5)["error"]
        assert bad["reason"] == "BAD_RECOVERY_POLICY"
        usage_error(at, "recovery", "cdsp")
        usage_error(at, "recovery", "cdsp", "--restart=maybe")
        usage_error(at, "recovery", "cdsp", "--max-restarts=many")
        usage_error(at, "recovery", "cdsp", "--initial-backoff=0s")


def hold(address, *words):
    """A `pilctl --json lease` in the background, once it holds the lease:
    (process, the lease it printed)."""
    holder = subprocess.Popen([binary("client/pilctl"), "--server=" + address, "--json",
                               "lease", *words], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = holder.stdout.readline()
    assert line, holder.communicate(timeout=10)
    return holder, json.loads(line)


def test_a_lease_keeps_others_off_until_its_holder_goes_and_then_stops():
    with running_pild(BOARD, FIRMWARE) as server, server.client() as client:
        at = "--server=" + server.address
        pilctl(at, "start", "cdsp", check=0)
        holder, lease = hold(server.address, "cdsp", "--holder=e2e lease")
        try:
            assert lease["names"] == ["cdsp"] and "(e2e lease)" in lease["holder"]
            assert set(lease) == {"lease_id", "names", "holder", "granted"}
            refused = pilctl_json(at, "stop", "cdsp", check=6)["error"]
            assert refused["reason"] == "LEASED"
            assert "e2e lease" in refused["metadata"]["holder"]
            assert "[LEASED]" in pilctl(at, "start", "cdsp").stderr
            taken = pilctl_json(at, "lease", "cdsp", check=6)["error"]
            assert taken["reason"] == "LEASED"
            assert state_name(client.get("cdsp").state) == "running"
            holder.send_signal(signal.SIGTERM)
            assert holder.wait(timeout=10) == 0
        finally:
            holder.kill()
            holder.wait()
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "offline",
                          timeout=20)

        # End of input releases too; a killed holder's lease ends all the same.
        client.start("cdsp")
        holder, lease = hold(server.address, "cdsp")
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "offline",
                          timeout=20)
        client.start("cdsp")
        holder, lease = hold(server.address, "cdsp")
        holder.kill()
        holder.wait()
        assert wait_until(lambda: state_name(client.get("cdsp").state) == "offline",
                          timeout=20)

        text = subprocess.run([binary("client/pilctl"), at, "lease", "adsp"], input="",
                              capture_output=True, text=True, timeout=30)
        assert text.returncode == 0, text.stderr
        assert text.stdout.startswith("lease ") and " adsp held by " in text.stdout
        assert "released lease" in text.stdout
        unknown = pilctl_json(at, "lease", "gpu", check=4)["error"]
        assert unknown["reason"] == "UNKNOWN_COPROCESSOR"
        usage_error(at, "lease")
