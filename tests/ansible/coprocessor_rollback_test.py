"""pild_coprocessor's start, health gate and rollback against a scripted
pild (FakePild below), for what a real one does rarely or at a bad moment:
an error after the first stop, BUSY on the rollback's stop, a restart of pild
(a new epoch) or another image in the gate, a last error from before the
start, a rollback that starts another image than the previous one. The
module's Task runs in this process, without Ansible."""

import sys

import pytest

import pild
from pildtest import runfile

sys.path.insert(0, runfile("ansible"))
from ansible_collections.pild.fleet.plugins.modules import pild_coprocessor  # noqa: E402

pb = pild.pb
OLD, NEW = "qcom/sdm845/cdsp.mbn", "upload:" + "ab" * 32
IDENTITY = {OLD: "0" * 64, NEW: "1" * 64}


class Ended(Exception):
    """exit_json or fail_json: `failed` and the result."""

    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


class FakeModule(object):
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict(name="cdsp", state="running", upload_sha256=NEW[len("upload:"):],
                           firmware=None, ready_timeout=None, health_seconds=0.3,
                           rollback=True, timeout=2.0)
        self.params.update(params)

    def exit_json(self, **result):
        raise Ended(False, result)

    def fail_json(self, **result):
        raise Ended(True, result)


def error(code, reason="", message="refused"):
    return pild.family(code, reason)(code, message, reason)


class FakePild(object):
    """cdsp running OLD. `faults[method]`: what the next calls of `method`
    do before their effect (after it for a start), in turn: an exception is raised, a callable is
    called with the FakePild, None does nothing."""

    def __init__(self, state=pb.STATE_RUNNING):
        self.c = pb.Coprocessor(name="cdsp", state=state, firmware_names=[OLD])
        self.c.image.source, self.c.image.sha256 = OLD, IDENTITY[OLD]
        self.epoch = "first"
        self.runs = dict(IDENTITY)  # what a start of each source runs
        self.faults = {}
        self.calls = []

    def _call(self, method):
        self.calls.append(method)
        queue = self.faults.get(method)
        if queue:
            fault = queue.pop(0)
            if isinstance(fault, Exception):
                raise fault
            if fault is not None:
                fault(self)

    def crash(self, reason="WATCHDOG"):
        self.c.state = pb.STATE_CRASHED
        self.c.crash_count += 1
        self.c.last_error.reason, self.c.last_error.message = reason, "bitten"
        self.c.last_error.time.FromSeconds(self.c.last_error.time.seconds + 1)

    def get(self, name):
        self._call("get")
        c = pb.Coprocessor()
        c.CopyFrom(self.c)
        return c

    def info(self):
        self._call("info")
        return pb.GetInfoResponse(epoch=self.epoch)

    def inspect(self, coprocessor="", firmware=None, upload=None):
        source = firmware or "upload:" + upload
        self._call("inspect")
        return pb.ImageReport(ok=True, source=source, metadata_sha256=IDENTITY[source])

    def stop(self, name):
        self._call("stop")
        self.c.state = pb.STATE_OFFLINE
        self.c.ClearField("image")

    def start(self, name, firmware=None, upload=None, ready_timeout=None):
        source = firmware or "upload:" + upload
        self.c.state = pb.STATE_RUNNING
        self.c.image.source, self.c.image.sha256 = source, self.runs[source]
        self._call("start " + source)  # after it: a fault here strikes the started image


def run(fake, **params):
    with pytest.raises(Ended) as ended:
        pild_coprocessor.Task(FakeModule(**params), fake).run()
    return ended.value


def test_the_wanted_image_staying_healthy_passes():
    fake = FakePild()
    end = run(fake)
    assert not end.failed and end.result["changed"] and end.result["health"]["passed"]
    assert fake.calls.count("start " + NEW) == 1 and "start " + OLD not in fake.calls


@pytest.mark.parametrize("method", ["get", "info"])
def test_an_error_after_the_first_stop_is_a_change_and_rolled_back(method):
    fake = FakePild()
    # The first calls (before the stop and the baseline) pass; the gate's fail.
    fake.faults[method] = [None] * (2 if method == "get" else 1) + [
        error("UNAVAILABLE", message="connection reset")]
    end = run(fake)
    assert end.failed and end.result["changed"] and end.result["rolled_back"], end.result
    assert "health gate of %s failed: UNAVAILABLE: connection reset" % NEW in end.result["msg"]
    assert "rolled back to %s" % OLD in end.result["msg"]
    assert fake.c.image.source == OLD and fake.c.state == pb.STATE_RUNNING


def test_an_error_reading_the_baseline_is_rolled_back_too():
    fake = FakePild()
    fake.faults["info"] = [error("UNAVAILABLE")]
    end = run(fake)
    assert end.failed and end.result["changed"] and end.result["rolled_back"], end.result
    assert "reading cdsp before the start failed: UNAVAILABLE" in end.result["msg"]
    assert "start " + NEW not in fake.calls and fake.c.image.source == OLD


def test_a_refused_first_stop_changes_nothing():
    fake = FakePild()
    fake.faults["stop"] = [error("FAILED_PRECONDITION", "LEASED", "held by maintenance")]
    end = run(fake)
    assert end.failed and not end.result["changed"] and not end.result["rolled_back"]
    assert "stop of cdsp failed: LEASED: held by maintenance" in end.result["msg"]
    assert fake.calls.count("stop") == 1


def test_the_rollbacks_stop_is_tried_again_while_pild_is_busy():
    fake = FakePild()
    fake.faults["start " + NEW] = [lambda f: f.crash()]
    fake.faults["stop"] = [None, error("DEADLINE_EXCEEDED", "BUSY"),
                           error("FAILED_PRECONDITION", "WRONG_STATE"), None]
    end = run(fake)
    assert end.failed and end.result["rolled_back"], end.result
    assert fake.calls.count("stop") == 4
    assert "WATCHDOG: bitten (state crashed, 1 crash since the start)" in end.result["msg"]
    assert fake.c.image.source == OLD


def test_a_stop_busy_past_the_timeout_reports_the_state():
    fake = FakePild()
    fake.faults["start " + NEW] = [lambda f: f.crash()]
    fake.faults["stop"] = [None] + [error("DEADLINE_EXCEEDED", "BUSY")] * 100
    end = run(fake, timeout=0.5)
    assert end.failed and end.result["changed"] and not end.result["rolled_back"]
    assert "rollback failed: stop: BUSY: refused; cdsp is crashed" in end.result["msg"]
    assert 3 <= fake.calls.count("stop") < 20


def test_a_restart_of_pild_in_the_gate_fails_it():
    fake = FakePild()
    fake.faults["info"] = [None, lambda f: setattr(f, "epoch", "second")]
    end = run(fake)
    assert end.failed and end.result["rolled_back"]
    assert "PILD_RESTARTED: pild restarted (epoch first, now second)" in end.result["msg"]
    assert end.result["error"]["reason"] == "PILD_RESTARTED"


def test_another_image_in_the_gate_fails_it():
    fake = FakePild()
    fake.runs[NEW] = "2" * 64
    end = run(fake)
    assert end.failed and end.result["rolled_back"]
    assert "IMAGE_MISMATCH: it runs the image with sha256 %s, not the wanted %s" % (
        "2" * 64, IDENTITY[NEW]) in end.result["msg"]


def test_a_last_error_from_before_the_start_is_not_reported():
    fake = FakePild()
    fake.crash("SMMU_FAULT")  # before the task
    fake.c.state = pb.STATE_RUNNING
    fake.faults["start " + NEW] = [lambda f: setattr(f.c, "crash_count", f.c.crash_count + 1)]
    end = run(fake)
    assert end.failed and "SMMU_FAULT" not in end.result["msg"], end.result["msg"]
    assert "CRASHED: no error reported since the start (state running, 1 crash" \
        in end.result["msg"]


@pytest.mark.parametrize("state", [pb.STATE_CRASHED, pb.STATE_RECOVERING])
def test_an_image_held_while_not_running_is_the_one_rolled_back_to(state):
    fake = FakePild(state)
    fake.faults["start " + NEW] = [lambda f: f.crash()]
    end = run(fake)
    assert end.failed and end.result["rolled_back"]
    assert "rolled back to %s (sha256 %s), running again" % (OLD, IDENTITY[OLD]) \
        in end.result["msg"]


def test_a_rollback_that_runs_another_image_says_so():
    fake = FakePild()
    fake.faults["start " + NEW] = [lambda f: (f.crash(), f.runs.update({OLD: "3" * 64}))]
    end = run(fake)
    assert end.failed and not end.result["rolled_back"] and end.result["changed"]
    assert "rollback to %s started the image with sha256 %s, not the %s that ran before" % (
        OLD, "3" * 64, IDENTITY[OLD]) in end.result["msg"]


def test_health_seconds_defaults_to_10():
    module = FakeModule(health_seconds=None)
    pild_coprocessor.checked_params(module)
    assert module.params["health_seconds"] == 10
