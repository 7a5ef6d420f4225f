"""The asynchronous C++ client (client/async_client.h) against a real pild
on the real qrb5165-rb5 device tree with Debian's firmware: its checks
(async_client_checks.cc), and the HAL example (client/examples), which must
keep its DSP running under a lease across a pild restart, stop it on
SIGTERM, and leave it to pild's lease release when killed."""

import os
import queue
import signal
import subprocess
import threading

import pild
import pytest
from pild import state_name
from pildtest import binary, realdata, running_pild, wait_until
from relay import Relay

BOARD = "qrb5165-rb5"
NEVER_READY = 'faults { coprocessor: "cdsp" never_ready: true repeat: true }\n'


def pild_args():
    return ("--dtb=" + realdata("dtb/%s.dtb" % BOARD),
            "--firmware-path=" + realdata("firmware"))


def test_async_client_checks():
    with running_pild(*pild_args(), profile=NEVER_READY) as server:
        env = dict(os.environ, PILD_ADDRESS=server.address,
                   ADSP_IMAGE=realdata("firmware/qcom/sm8250/adsp.mbn"))
        run = subprocess.run([binary("tests/client/async_client_checks")], env=env,
                             capture_output=True, text=True, timeout=240)
        print(run.stdout[-6000:], run.stderr[-3000:])
        assert run.returncode == 0, "the C++ checks failed (output above)"
        assert "[  PASSED  ] 12 tests" in run.stdout


class Hal:
    """The HAL example as a process whose lines can be awaited."""

    def __init__(self, address, name):
        self.process = subprocess.Popen(
            [binary("client/examples/hal_example"), "--address=" + address,
             "--coprocessor=" + name, "--holder=audio HAL"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout=30):
        """Waits for a line starting with "hal: " + prefix; returns it."""
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                if line is None:
                    raise AssertionError("hal_example ended (%s) before %r:\n%s"
                                         % (self.process.poll(), prefix, "\n".join(self.seen)))
                self.seen.append(line)
                if line.startswith("hal: " + prefix):
                    return line
        except queue.Empty:
            raise AssertionError("no %r within %d s:\n%s" % (prefix, timeout, "\n".join(self.seen)))

    def events(self):
        return [line for line in self.seen if line.startswith("hal: event ")]


def assert_leased(client, name):
    with pytest.raises(pild.PildError) as caught:
        client.stop(name)
    assert caught.value.reason == "LEASED" and "audio HAL" in caught.value.metadata["holder"]


def test_hal_example_survives_a_pild_restart_and_stops_on_sigterm():
    with running_pild(*pild_args()) as server:
        hal = Hal(server.address, "adsp")
        try:
            hal.expect("lease 1 granted")
            hal.expect("running adsp")
            with server.client() as c:
                assert state_name(c.get("adsp").state) == "running"
                assert_leased(c, "adsp")
            assert "hal: event 3 start mapped -> running" in hal.seen, hal.seen
            # pild is killed and comes back: the DSP keeps running (adopted),
            # the watch resumes telling the HAL that pild restarted, the
            # lease is taken again.
            server.process.kill()
            server.process.wait()
            hal.expect("lease ended: UNAVAILABLE")
            server.start()
            mark = len(hal.seen)
            hal.expect("running adsp")
            # The watch and the lease come back in either order.
            after = hal.seen[mark:]
            assert "hal: resync: pild restarted" in after, after
            assert [line for line in after if line.startswith("hal: lease 1 granted")], after
            with server.client() as c:
                cop = c.get("adsp")
                assert state_name(cop.state) == "running"
                assert_leased(c, "adsp")
            # Within one run of pild, the watch has no duplicates.
            before = [line.split()[2] for line in hal.events() if " initial " not in line]
            assert len(before) == len(set(before)), hal.events()
            hal.process.send_signal(signal.SIGTERM)
            hal.expect("stopped adsp")
            hal.expect("exit")
            assert hal.process.wait(timeout=10) == 0
            with server.client() as c:
                assert state_name(c.get("adsp").state) == "offline"
                sim = server.sim()
                try:
                    assert sim.leftovers(c.get("adsp")) == []
                finally:
                    sim.close()
        finally:
            hal.process.kill()
            hal.process.wait()


def test_hal_watch_resumes_a_broken_stream_without_gaps_or_duplicates():
    """The connection drops, pild stays: the lease ends (pild stops the DSP,
    as it must when its holder's connection goes), the watch resumes from
    its last event and delivers the stop it missed, once; no resync."""
    with running_pild(*pild_args()) as server:
        relay = Relay(server.socket, os.path.join(server.dir, "relay.sock"))
        hal = Hal("unix:" + relay.path, "adsp")
        try:
            hal.expect("running adsp")
            relay.cut()
            hal.expect("lease ended: UNAVAILABLE")
            with server.client() as c:
                assert wait_until(lambda: state_name(c.get("adsp").state) == "offline",
                                  timeout=20)
            relay.listen()
            hal.expect("lease 2 granted")
            hal.expect("running adsp")
            changes = [int(line.split()[2]) for line in hal.events() if " initial " not in line]
            assert changes == list(range(1, len(changes) + 1)), hal.events()
            assert len(changes) >= 8, hal.events()  # start, stop, start
            assert not [line for line in hal.seen if "resync" in line], hal.seen
            stops = [line for line in hal.events() if " stop " in line]
            assert len(stops) == 2, hal.events()  # running -> stopping -> offline
            hal.process.send_signal(signal.SIGTERM)
            hal.expect("stopped adsp")
            assert hal.process.wait(timeout=10) == 0
        finally:
            hal.process.kill()
            hal.process.wait()


def test_a_killed_hal_leaves_its_dsp_to_pild_which_stops_it():
    with running_pild(*pild_args()) as server:
        hal = Hal(server.address, "adsp")
        try:
            hal.expect("running adsp")
            hal.process.send_signal(signal.SIGKILL)
            hal.process.wait(timeout=10)
            with server.client() as c:
                assert wait_until(lambda: state_name(c.get("adsp").state) == "offline",
                                  timeout=20)
        finally:
            hal.process.kill()
            hal.process.wait()


def test_hal_example_refused_a_lease_exits_1():
    with running_pild(*pild_args()) as server, server.client() as c:
        with c.lease("adsp", holder="someone else"):
            hal = Hal(server.address, "adsp")
            hal.expect("lease ended: FAILED_PRECONDITION LEASED")
            assert hal.process.wait(timeout=10) == 1
