"""pild's --metrics-file served by Debian's real node exporter: pild on a
real board (sdm845-db845c) boots the real cdsp firmware on the sim, the
exporter's textfile collector reads the file, and a scrape over HTTP shows
the right values after a start, a crash (recovered by the default policy)
and a stop, a refused transition, a call the policy denied and a Watch
stream opened and cancelled — and that the exporter could parse the file
at all; pild writes it a last time as it stops."""

import grp
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

import pild
from pildtest import (Pild, as_user, binary, dtb, public_dir, real_firmware, realdata,
                      running_pild, scratch_dir, wait_until)

EXPORTER = "/usr/bin/prometheus-node-exporter"
STRANGER_UID = 1400  # no rule of the policy names it
USERS_GID = grp.getgrnam("users").gr_gid  # the socket's group
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, frozenset(labels)): value} of a scrape; fails on a line that
    is not a comment or a sample, or on a sample with a timestamp."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, "not a sample: %r" % line
        name, labels, value = match.groups()
        pairs = LABEL.findall(labels or "")
        unescaped = {k: v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                     for k, v in pairs}
        samples[(name, frozenset(unescaped.items()))] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    """prometheus-node-exporter with only the textfile collector, on a free
    loopback port."""

    def __init__(self, directory):
        if not os.access(EXPORTER, os.X_OK):
            pytest.fail("PROMETHEUS NODE EXPORTER MISSING, test did not run: no %s "
                        "(apt-get install prometheus-node-exporter; "
                        "build/debian-packages.txt)" % EXPORTER)
        self.directory = directory
        self.process = None
        self.log_path = os.path.join(directory, "..", "exporter.log")

    def start(self):
        for _ in range(5):  # another process may take the port meanwhile
            self.port = free_port()
            log = open(self.log_path, "w")
            self.process = subprocess.Popen(
                [EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                 "--collector.textfile.directory=" + self.directory,
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if wait_until(self._answers, timeout=10) and self.process.poll() is None:
                return self
            self.stop()
        raise AssertionError("the node exporter did not serve:\n" + open(self.log_path).read())

    def _answers(self):
        if self.process.poll() is not None:
            return True  # exited: start() tells by the scrape below
        try:
            self.scrape_text()
            return True
        except OSError:
            return False

    def scrape_text(self):
        url = "http://127.0.0.1:%d/metrics" % self.port
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def scrape(self):
        assert self.process.poll() is None, (
            "the node exporter exited:\n" + open(self.log_path).read())
        return parse(self.scrape_text())

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def scrape_until(exporter, predicate, what):
    """The scrape once `predicate` holds of it (pild rewrites the file
    within a second of a change); fails naming `what` with the last one."""
    last = {}

    def holds():
        nonlocal last
        last = exporter.scrape()
        return predicate(last)
    if not wait_until(holds, timeout=15, interval=0.2):
        pild_lines = sorted("%s %s %s" % (k[0], dict(k[1]), v)
                            for k, v in last.items() if k[0].startswith(("pild_", "node_text")))
        raise AssertionError("%s: not seen in the scrape:\n%s" % (what, "\n".join(pild_lines)))
    return last


def one_hot(samples, coprocessor):
    """The state whose pild_coprocessor_state is 1; asserts exactly one is,
    over every state name."""
    states = {dict(k[1])["state"]: v for k, v in samples.items()
              if k[0] == "pild_coprocessor_state" and dict(k[1])["coprocessor"] == coprocessor}
    assert sorted(states) == sorted(["offline", "authenticated", "mapped", "running",
                                     "stopping", "crashed", "recovering"]), states
    on = [s for s, v in states.items() if v == 1]
    assert len(on) == 1 and sum(states.values()) == 1, states
    return on[0]


def test_start_crash_and_stop_as_the_node_exporter_serves_them():
    # Other users reach pild's socket (a call the policy denies).
    base = public_dir("pild-metrics-")
    textfiles = os.path.join(base, "textfiles")
    os.makedirs(textfiles)
    os.chmod(textfiles, 0o755)  # pild refuses a directory others can write
    metrics_file = os.path.join(textfiles, "pild.prom")
    policy = os.path.join(base, "policy.textproto")
    with open(policy, "w") as f:
        f.write("rule { uid: 1013 role: OPERATOR coprocessor: \"video\" }\n")
    pilctl = os.path.join(base, "pilctl")
    shutil.copy(binary("client/pilctl"), pilctl)
    os.chmod(pilctl, 0o755)
    assert os.path.exists(realdata("firmware/qcom/sdm845/cdsp.mbn"))
    with Exporter(textfiles) as exporter, \
            running_pild(dtb("sdm845-db845c"), real_firmware(),
                         "--metrics-file=" + metrics_file, "--metrics-interval=2s",
                         "--policy=" + policy, "--socket-group=users",
                         directory=base) as server, \
            server.client() as client:
        assert oct(os.stat(metrics_file).st_mode & 0o777) == "0o644"
        first = scrape_until(exporter, lambda s: value(s, "pild_build_info", version=pild_version(
            client), backend="sim", board="Thundercomm Dragonboard 845c") == 1, "build info")
        assert value(first, "node_textfile_scrape_error") == 0
        assert one_hot(first, "cdsp") == "offline"
        assert value(first, "pild_coprocessor_crashes_total", coprocessor="cdsp") == 0
        written = value(first, "pild_metrics_written_timestamp_seconds")
        assert abs(written - time.time()) < 30

        # A start of the real image.
        client.start("cdsp")
        digest = client.inspect(firmware="qcom/sdm845/cdsp.mbn", coprocessor="cdsp").metadata_sha256
        version = client.get("cdsp").image.version
        assert len(digest) == 64 and version
        started = scrape_until(exporter, lambda s: value(
            s, "pild_transitions_total", coprocessor="cdsp", operation="start", result="OK") == 1,
            "a start")
        assert value(started, "node_textfile_scrape_error") == 0
        assert one_hot(started, "cdsp") == "running"
        assert one_hot(started, "adsp") == "offline"
        assert value(started, "pild_transition_duration_seconds_count",
                     coprocessor="cdsp", operation="start") == 1
        assert value(started, "pild_transition_duration_seconds_bucket",
                     coprocessor="cdsp", operation="start", le="+Inf") == 1
        assert 0 < value(started, "pild_transition_duration_seconds_sum",
                         coprocessor="cdsp", operation="start") < 60
        assert value(started, "pild_coprocessor_image_info", coprocessor="cdsp", sha256=digest,
                     version=version, source="qcom/sdm845/cdsp.mbn") == 1
        assert value(started, "pild_coprocessor_state_since_seconds",
                     coprocessor="cdsp") > written - 1
        assert not [k for k in started if k[0] == "pild_coprocessor_last_error"]

        # A Watch stream is counted while it is open, and no longer once
        # it is cancelled.
        stream = client.watch("cdsp")
        next(stream)
        scrape_until(exporter, lambda s: value(s, "pild_watch_streams") == 1, "a watch stream")
        stream.cancel()
        scrape_until(exporter, lambda s: value(s, "pild_watch_streams") == 0,
                     "the watch stream cancelled")

        # A watchdog bite on the next boot; pild's default policy restarts it.
        server.sim().inject(coprocessor="cdsp", watchdog_after_ms=1)
        client.stop("cdsp")
        client.start("cdsp")
        crashed = scrape_until(exporter, lambda s: value(
            s, "pild_transitions_total", coprocessor="cdsp", operation="recover",
            result="OK") == 1, "a crash and its recovery")
        assert value(crashed, "node_textfile_scrape_error") == 0
        assert value(crashed, "pild_coprocessor_crashes_total", coprocessor="cdsp") == 1
        assert value(crashed, "pild_coprocessor_restarts_total", coprocessor="cdsp") == 1
        assert one_hot(crashed, "cdsp") == "running"
        assert pild.state_name(client.get("cdsp").state) == "running"
        assert value(crashed, "pild_coprocessor_last_error", coprocessor="cdsp",
                     reason="WATCHDOG", operation="crash") == 1
        assert value(crashed, "pild_coprocessor_last_error_timestamp_seconds",
                     coprocessor="cdsp") > written - 1
        assert value(crashed, "pild_transitions_total", coprocessor="cdsp", operation="start",
                     result="OK") == 2
        assert value(crashed, "pild_transition_duration_seconds_count",
                     coprocessor="cdsp", operation="recover") == 1
        assert value(crashed, "pild_coprocessor_crashes_total", coprocessor="adsp") == 0

        # A stop.
        client.stop("cdsp")
        stopped = scrape_until(exporter, lambda s: one_hot(s, "cdsp") == "offline", "a stop")
        assert value(stopped, "node_textfile_scrape_error") == 0
        assert value(stopped, "pild_transitions_total", coprocessor="cdsp", operation="stop",
                     result="OK") == 2
        assert not [k for k in stopped if k[0] == "pild_coprocessor_image_info"]
        assert value(stopped, "pild_coprocessor_crashes_total", coprocessor="cdsp") == 1
        assert value(stopped, "pild_connections_admitted_total") >= 1
        assert value(stopped, "pild_connections_refused_total") == 0
        assert value(stopped, "pild_audit_write_failures_total") == 0
        assert value(stopped, "pild_denied_calls_total") == 0
        assert not [k for k in stopped if k[0] == "pild_coprocessor_last_error"]

        # A refused transition: a Map of an OFFLINE coprocessor.
        with pytest.raises(pild.PildError) as refused:
            client.map("cdsp")
        reason = refused.value.reason
        assert reason == "WRONG_STATE", refused.value
        mapped = scrape_until(exporter, lambda s: value(
            s, "pild_transitions_total", coprocessor="cdsp", operation="map",
            result=reason) == 1, "a refused map")
        assert value(mapped, "pild_transition_duration_seconds_count",
                     coprocessor="cdsp", operation="map") is None
        assert one_hot(mapped, "cdsp") == "offline"

        # A call the policy denies: a user no rule names.
        denied = as_user(STRANGER_UID, STRANGER_UID, [USERS_GID], pilctl,
                         "--server=" + server.address, "list")
        assert denied.returncode == 7 and "[ACCESS_DENIED]" in denied.stderr, denied
        scrape_until(exporter, lambda s: value(s, "pild_denied_calls_total") == 1,
                     "a denied call")
        # Rewritten at least every --metrics-interval, even without a change.
        later = scrape_until(exporter, lambda s: value(
            s, "pild_metrics_written_timestamp_seconds") > value(
                stopped, "pild_metrics_written_timestamp_seconds"), "a refreshed timestamp")
        assert value(later, "node_textfile_scrape_error") == 0
        # Past every periodic write (the last one at most 2 s ago).
        stopping = time.time()
    # pild wrote the file once more as it stopped, and left nothing else.
    assert os.listdir(textfiles) == ["pild.prom"]
    final = parse(open(metrics_file).read())
    assert value(final, "pild_metrics_written_timestamp_seconds") >= stopping - 0.01
    assert value(final, "pild_metrics_written_timestamp_seconds") >= value(
        later, "pild_metrics_written_timestamp_seconds")
    assert value(final, "pild_metrics_interval_seconds") == 2


def test_a_metrics_file_in_a_missing_directory_is_refused_by_name():
    server = Pild("--metrics-file=" + os.path.join(scratch_dir("pild-metrics-"), "no-such-dir",
                                                   "pild.prom"))
    result = subprocess.run(server.args, capture_output=True, text=True, timeout=60)
    server.stop_sim()
    assert result.returncode == 2, result.stderr
    assert not os.path.exists(os.path.join(server.dir, "pilsim.sock.pid")), "pilsim started"
    assert "--metrics-file must name a file ending in .prom in an existing directory" in \
        result.stderr
    assert "does not exist" in result.stderr


def pild_version(client):
    return client.info().version
