"""pild under load, as a real process on a real board with real firmware:
64 concurrent clients mixing reads, Watch streams and lifecycle calls for
PILD_LOAD_SECONDS (60 by default), while another user holds a flood of
2 000 idle connections and a burst of parallel uploads comes in. Asserts no
unexpected error, a fresh client served within 1 s throughout, pild's own
memory bounded, and every coprocessor clean at the end; prints calls/s,
p50/p99 latency and peak memory."""

import grp
import os
import re
import statistics
import subprocess
import threading
import time

import pild
from pild import state_name
from pildtest import public_dir, realdata, running_pild, wait_until

SECONDS = float(os.environ.get("PILD_LOAD_SECONDS", "60"))
READERS, WATCHERS, OPERATORS = 40, 16, 8  # 64 clients
FLOOD = 2000
FLOOD_UID = 1400
USERS_GID = grp.getgrnam("users").gr_gid
# What concurrent operators of one coprocessor tell each other.
EXPECTED = {"WRONG_STATE"}

FLOOD_PROGRAM = """
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(%d):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
    except OSError:
        pass
    held.append(s)
print(len(held), flush=True)
sys.stdin.read()
"""


def anon_mib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.calls = 0
        self.expected = 0
        self.unexpected = []

    def time(self, call):
        began = time.monotonic()
        try:
            call()
            outcome = None
        except pild.PildError as e:
            outcome = e
        took = time.monotonic() - began
        with self.lock:
            self.calls += 1
            self.latencies.append(took)
            if outcome is not None:
                if outcome.reason in EXPECTED:
                    self.expected += 1
                else:
                    self.unexpected.append("%s: %s" % (outcome.reason, outcome.message))


def test_pild_keeps_serving_under_load():
    directory = public_dir("pild-load-")
    policy = os.path.join(directory, "policy.textproto")
    with open(policy, "w") as f:
        f.write("rule { uid: %d role: OBSERVER }\n" % FLOOD_UID)
    with running_pild("--dtb=" + realdata("dtb/qrb5165-rb5.dtb"),
                      "--firmware-path=" + realdata("firmware"), "--policy=" + policy,
                      "--socket-group=users", directory=directory) as server:
        pid = server.process.pid
        idle = anon_mib(pid)
        flood = subprocess.Popen(
            ["setpriv", "--reuid=%d" % FLOOD_UID, "--regid=%d" % FLOOD_UID,
             "--groups=%d" % USERS_GID, "/usr/bin/python3", "-c", FLOOD_PROGRAM % FLOOD,
             server.socket],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        assert flood.stdout.readline().strip() == str(FLOOD)

        reads, lifecycle, watch_events = Tally(), Tally(), [0]
        probes, peak = [], [idle]
        stop = threading.Event()
        image = open(realdata("firmware/qcom/vpu/vpu30_p4.mbn"), "rb").read()
        uploads = Tally()

        def reader(i):
            with server.client(timeout=30) as c:
                while not stop.is_set():
                    reads.time(lambda: c.get("cdsp") if i % 2 else c.list())

        def watcher():
            with server.client(timeout=30) as c:
                stream = c.watch()
                for _ in stream:
                    watch_events[0] += 1
                    if stop.is_set():
                        stream.cancel()
                        return

        def operator(i):
            name = "adsp" if i % 2 else "cdsp"
            with server.client(timeout=120) as c:
                while not stop.is_set():
                    lifecycle.time(lambda: c.start(name))
                    lifecycle.time(lambda: c.stop(name))

        def upload():
            with server.client(timeout=120) as c:
                uploads.time(lambda: c.upload(image, name="burst.mbn"))

        threads = ([threading.Thread(target=reader, args=(i,)) for i in range(READERS)] +
                   [threading.Thread(target=watcher) for _ in range(WATCHERS)] +
                   [threading.Thread(target=operator, args=(i,)) for i in range(OPERATORS)])
        began = time.monotonic()
        for t in threads:
            t.start()
        burst_at = began + SECONDS / 2
        burst = []
        while time.monotonic() - began < SECONDS:
            if not burst and time.monotonic() >= burst_at:
                burst = [threading.Thread(target=upload) for _ in range(8)]
                for t in burst:
                    t.start()
            t0 = time.monotonic()
            with server.client(timeout=5) as fresh:
                fresh.list()
            probes.append(time.monotonic() - t0)
            peak.append(anon_mib(pid))
            time.sleep(0.5)
        stop.set()
        # The operators finish their last call first: pild's lane of 8 Stops
        # (uncharged for root) is exactly what 8 operators can fill, and a
        # ninth stopper would be refused SERVER_BUSY, as documented.
        operators = threads[READERS + WATCHERS:]
        for t in operators:
            t.join(timeout=240)
            assert not t.is_alive(), "an operator's call did not return"
        # A last event ends the watchers that wait for one.
        with server.client(timeout=60) as c:
            for name in ("adsp", "cdsp"):
                wait_until(lambda: _stopped(c, name), timeout=60, interval=0.2)
        for t in threads + burst:
            t.join(timeout=120)
        elapsed = time.monotonic() - began
        flood.stdin.close()
        flood.wait(timeout=30)

        with server.client(timeout=60) as c:
            for name in ("adsp", "cdsp"):
                cop = c.get(name)
                assert state_name(cop.state) == "offline", name
                sim = server.sim()
                try:
                    assert sim.leftovers(cop) == [], name
                finally:
                    sim.close()
    # pild says how many connections it refused when it stops.
    log = open(server.log_path).read()
    refused = max([int(n) for n in re.findall(r"(\d+) connections refused", log)] or [0])
    lat = sorted(reads.latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print("load: %.0f s, %d reads (%.0f/s, p50 %.1f ms, p99 %.1f ms), %d lifecycle calls "
          "(%d WRONG_STATE), %d watch events, %d/%d uploads, fresh client max %.0f ms "
          "(median %.0f ms), pild's own memory idle %.1f MiB peak %.1f MiB, flood of %d "
          "connections (%d refused)"
          % (elapsed, len(lat), len(lat) / elapsed, p(0.5), p(0.99), lifecycle.calls,
             lifecycle.expected, watch_events[0], uploads.calls - len(uploads.unexpected),
             len(burst), max(probes) * 1000, statistics.median(probes) * 1000, idle,
             max(peak), FLOOD, refused))
    assert not reads.unexpected and not lifecycle.unexpected and not uploads.unexpected, \
        (reads.unexpected[:5], lifecycle.unexpected[:5], uploads.unexpected[:5])
    assert max(probes) < 1.0, "a fresh client waited %.2f s" % max(probes)
    assert max(peak) - idle < 512, "pild's own memory grew by %.0f MiB" % (max(peak) - idle)
    assert watch_events[0] > 0 and lifecycle.calls > 0
    # The flood's user has its 256 connections, no more.
    assert refused >= FLOOD - 256


def _stopped(client, name):
    try:
        client.stop(name)
    except pild.PildError as e:
        if e.reason != "WRONG_STATE":
            raise
    return state_name(client.get(name).state) == "offline"
