"""The canary rollout of ansible/examples/canary-rollout.yml over a fleet of
20 pild instances on the sim (SDM845, real firmware), and the report of
fleet-report.yml after it: hosts differ only by their socket and the
directory the image is copied to. Every host's CDSP first runs the real
qcom/sdm845/cdsp.mbn; the new image is a test-signed CDSP image
(ansible_helpers.new_image says why).

The failure variant runs first, on the fleet as it is: a watchdog injected
on the canary's CDSP fails the first wave, the rollout stops, the canary is
rolled back, no other host is touched, and the report shows every host on
the old image. Then the same playbook, without a fault, rolls the image out
to every host in waves of 1, 5 and 14; a second run changes nothing."""

import concurrent.futures
import json
import os
import re
import time

import pytest

import pild
from ansible_helpers import (EXAMPLES, OLD_IMAGE, new_image, newest_id, playbook,
                             running_image, sha256_of, write_inventory)
from pildtest import Pild, dtb, real_firmware

HOSTS = ["host%02d" % i for i in range(1, 21)]
WAVES = [HOSTS[:1], HOSTS[1:6], HOSTS[6:]]
ROLLOUT = os.path.join(EXAMPLES, "canary-rollout.yml")
REPORT = os.path.join(EXAMPLES, "fleet-report.yml")
HEALTH_SECONDS = 1


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """{host: Pild}, each CDSP running the old image; all stopped at the end."""
    servers = {host: Pild(dtb("sdm845-db845c"), real_firmware()) for host in HOSTS}
    started = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            for future in [pool.submit(s.start, 60) for s in servers.values()]:
                future.result()
        for server in servers.values():
            with server.client() as client:
                client.start("cdsp")
        print("20 pild instances up with cdsp running in %.1f s" % (time.monotonic() - started))
        yield servers
    finally:
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.process and s.process.poll() is None and s.stop(),
                          servers.values()))


@pytest.fixture(scope="module")
def rollout(fleet, tmp_path_factory):
    """(inventory, extra vars, {host: the directory its image is copied to})
    of the rollout of the new image, staged as the example does by default."""
    work = tmp_path_factory.mktemp("rollout")
    with fleet[HOSTS[0]].client() as client:
        image, sha256 = new_image(str(work), client)
    image_dirs = {h: str(work / "staged" / h) for h in HOSTS}
    for d in image_dirs.values():
        os.makedirs(d)
    inventory = write_inventory(str(work / "inventory.ini"),
                                {h: fleet[h].address for h in HOSTS},
                                {h: {"image_dir": d} for h, d in image_dirs.items()})
    return inventory, dict(image_src=image, image_sha256=sha256,
                           health_seconds=HEALTH_SECONDS), image_dirs


def starts_since(client, since):
    """Times (seconds) of cdsp's successful starts after `since`."""
    return sorted(e.time.ToNanoseconds() / 1e9 for e in client.history("cdsp", limit=100)
                  if e.operation == pild.pb.OPERATION_START and e.outcome == pild.pb.OUTCOME_OK
                  and e.time.ToNanoseconds() / 1e9 > since)


def recap(output):
    """{host: {ok: n, changed: n, failed: n, ...}} from the PLAY RECAP."""
    lines = output.split("PLAY RECAP")[-1].strip().splitlines()
    result = {}
    for line in lines:
        if ":" not in line:
            continue
        host, counts = line.split(":", 1)
        result[host.strip()] = dict((k, int(v)) for k, v in
                                    (w.split("=") for w in counts.split()))
    return result


def batches(output):
    """The hosts of each batch of the rollout play, in order: ansible-playbook
    opens each batch with the play's banner."""
    parts = output.split("PLAY [Roll the image out in waves]")[1:]
    return [sorted(set(re.findall(r"^\w+: \[(host\d+)\]", part.split("PLAY RECAP")[0],
                                  re.M)))
            for part in parts]


def report(inventory, path):
    """Runs fleet-report.yml; returns (its output, the report as JSON)."""
    run = playbook(REPORT, inventory, dict(report_file=path))
    print(run.stdout[-2000:])
    assert run.returncode == 0, run.stdout + run.stderr
    with open(path) as f:
        return run.stdout, json.load(f)


def test_watchdog_on_the_canary_stops_the_rollout_and_rolls_the_canary_back(
        fleet, rollout, tmp_path):
    inventory, extra_vars, image_dirs = rollout
    canary = fleet[HOSTS[0]]
    before = {}
    for host in HOSTS:
        with fleet[host].client() as client:
            assert running_image(client) == ("running", OLD_IMAGE)
            assert client.uploads() == []
            before[host] = (newest_id(client), client.get("cdsp").crash_count)
    sim = canary.sim()
    try:
        sim.inject(coprocessor="cdsp", watchdog_after_ms=300)
    finally:
        sim.close()

    started = time.monotonic()
    run = playbook(ROLLOUT, inventory, extra_vars)
    print("failed rollout: ansible-playbook took %.1f s" % (time.monotonic() - started))
    print(run.stdout[-3000:])
    assert run.returncode != 0, run.stdout
    assert "rolled back to %s" % OLD_IMAGE in run.stdout
    assert "WATCHDOG" in run.stdout
    # The rollout stopped after the first wave: only the canary ran any task.
    assert set(recap(run.stdout)) == {HOSTS[0]}, run.stdout
    assert batches(run.stdout) == [HOSTS[:1]]
    assert os.listdir(image_dirs[HOSTS[0]]) == ["pild-%s.mbn" % extra_vars["image_sha256"]]
    assert all(os.listdir(image_dirs[h]) == [] for h in HOSTS[1:])

    with canary.client() as client:
        assert running_image(client) == ("running", OLD_IMAGE)
        c = client.get("cdsp")
        assert c.crash_count == before[HOSTS[0]][1] + 1
        # Old image stopped, new one started and crashed, stopped; old one started again.
        done = [(pild.enum_text(pild.pb.Operation, e.operation), e.image_sha256[:12],
                 e.outcome == pild.pb.OUTCOME_OK)
                for e in reversed(client.history("cdsp", limit=100))
                if e.id > before[HOSTS[0]][0]]
        print("canary's history:", done)
        operations = [d[0] for d in done]
        assert operations[:2] == ["stop", "start"] and "crash" in operations, done
        assert operations[-2:] == ["stop", "start"] and done[-1][2], done
        assert [u.sha256 for u in client.uploads()] == [extra_vars["image_sha256"]]
    for host in HOSTS[1:]:
        with fleet[host].client() as client:
            assert running_image(client) == ("running", OLD_IMAGE), host
            assert newest_id(client) == before[host][0], host
            assert client.uploads() == [], host

    # The report, run after the failed rollout: every host on the old image.
    output, by_host = report(inventory, str(tmp_path / "report.json"))
    assert sorted(by_host) == HOSTS
    assert {(r["state"], r["image"]["source"]) for r in by_host.values()} == {
        ("running", OLD_IMAGE)}
    assert by_host[HOSTS[0]]["crash_count"] == before[HOSTS[0]][1] + 1
    version = by_host[HOSTS[0]]["image"]["version"]
    assert '"msg": "running %s %s: %s"' % (OLD_IMAGE, version, ", ".join(HOSTS)) in output


def test_rollout_reaches_every_host_in_waves_of_1_5_and_14(fleet, rollout, tmp_path):
    inventory, extra_vars, image_dirs = rollout
    since = time.time()
    started = time.monotonic()
    run = playbook(ROLLOUT, inventory, extra_vars)
    took = time.monotonic() - started
    print("rollout to 20 hosts: ansible-playbook took %.1f s" % took)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout + run.stderr
    counts = recap(run.stdout)
    assert set(counts) == set(HOSTS)
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), counts
    # The image was copied to each host's image_dir (the copy task ran).
    for host in HOSTS:
        staged = os.path.join(image_dirs[host], "pild-%s.mbn" % extra_vars["image_sha256"])
        assert sha256_of(staged) == extra_vars["image_sha256"], host

    # Each batch is one wave; each wave started after the previous one's
    # health gate ended.
    assert batches(run.stdout) == [sorted(w) for w in WAVES], batches(run.stdout)
    new_source = "upload:" + extra_vars["image_sha256"]
    first_start = {}
    for host in HOSTS:
        with fleet[host].client() as client:
            assert running_image(client) == ("running", new_source), host
            starts = starts_since(client, since)
            assert len(starts) == 1, (host, starts)
            first_start[host] = starts[0]
    for earlier, later in zip(WAVES, WAVES[1:]):
        assert max(first_start[h] for h in earlier) + HEALTH_SECONDS \
            < min(first_start[h] for h in later), first_start

    output, by_host = report(inventory, str(tmp_path / "report.json"))
    assert sorted(by_host) == HOSTS
    assert {r["image"]["source"] for r in by_host.values()} == {new_source}
    assert '"msg": "running %s PILD.TEST.1.0: %s"' % (new_source, ", ".join(HOSTS)) in output

    # Again: nothing changes, on any host, and pild records nothing.
    newest = {}
    for host in HOSTS:
        with fleet[host].client() as client:
            newest[host] = newest_id(client)
    again = playbook(ROLLOUT, inventory, extra_vars)
    assert again.returncode == 0, again.stdout + again.stderr
    counts = recap(again.stdout)
    assert set(counts) == set(HOSTS)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), counts
    for host in HOSTS:
        with fleet[host].client() as client:
            assert newest_id(client) == newest[host], host
            assert running_image(client) == ("running", new_source), host
