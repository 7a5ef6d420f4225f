"""pild.Watch: a watch that resumes, nothing missed and nothing twice, when
its connection drops, and says so when pild restarted in between."""

import os
import threading
import time

import pytest

import pild
from pildtest import Pild, running_pild, signed_bundled_firmware
from relay import Relay

state_name = pild.state_name


def read_until(watch, done, seconds=30):
    """Events of `watch` up to the first for which done(event); the watch is
    cancelled (and the list ends short) if that takes over `seconds`."""
    guard = threading.Timer(seconds, watch.cancel)
    guard.start()
    events = []
    try:
        for event in watch:
            events.append((event, watch.missed, watch.restarted))
            if done(event):
                break
    finally:
        guard.cancel()
    return events


def reached(state):
    return lambda e: not e.initial and state_name(e.coprocessor.state) == state


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    return signed_bundled_firmware(str(tmp_path_factory.mktemp("fw")))


def test_watch_resumes_after_the_connection_drops(firmware):
    with running_pild("--firmware-path=" + firmware) as server, server.client() as direct:
        names = [c.name for c in direct.list()]
        proxy = Relay(server.socket, os.path.join(server.dir, "proxy.sock"))
        try:
            with pild.connect("unix:" + proxy.path) as client, client.watch() as watch:
                initial = [next(watch) for _ in names]
                assert all(e.initial for e in initial) and not watch.missed
                assert proxy.break_all() == 1
                direct.start(names[0])  # while the watcher reconnects
                events = read_until(watch, reached("running"))
                assert watch.reconnects >= 1
            direct.stop(names[0])
        finally:
            proxy.close()
    changes = [e for e, _, _ in events]
    assert [(e.coprocessor.name, state_name(e.coprocessor.state)) for e in changes] == [
        (names[0], "authenticated"), (names[0], "mapped"), (names[0], "running")]
    assert [e.sequence for e in changes] == [initial[-1].sequence + i for i in (1, 2, 3)]
    assert {e.epoch for e in changes} == {initial[0].epoch}
    assert not any(e.initial or missed or restarted for e, missed, restarted in events)


def test_watch_resumes_after_pild_is_killed_and_restarted_and_says_so(firmware):
    server = Pild("--firmware-path=" + firmware)
    with server, server.client() as client:
        name = client.list()[0].name
        with client.watch(name) as watch:
            first = next(watch)
            client.start(name)
            before = read_until(watch, reached("running"))
            epoch = watch.epoch
            server.kill()
            # The watcher retries while pild is down, then resumes.
            after = []
            reader = threading.Thread(target=lambda: after.extend(
                read_until(watch, lambda e: e.initial)))
            reader.start()
            time.sleep(1.0)
            server.start()
            reader.join(timeout=40)
            assert watch.reconnects >= 2
            client.stop(name)
            stopped = read_until(watch, reached("offline"))
    assert first.initial and [state_name(e.coprocessor.state) for e, _, _ in before] == [
        "authenticated", "mapped", "running"]
    # The new pild adopted the running core: its current state first, with
    # the new epoch, flagged as a restart.
    [(event, missed, restarted)] = after
    assert event.initial and state_name(event.coprocessor.state) == "running"
    assert event.epoch != epoch and missed and restarted
    assert [(state_name(e.coprocessor.state), m, r) for e, m, r in stopped] == [
        ("stopping", False, False), ("offline", False, False)]
    assert stopped[0][0].sequence > event.sequence
    assert all(e.epoch == event.epoch for e, _, _ in stopped)


def test_watch_without_resume_fails_unavailable_and_cancel_ends_it(firmware):
    server = Pild("--firmware-path=" + firmware)
    with server, server.client() as client:
        watch = client.watch(resume=False)
        next(watch)
        server.kill()
        with pytest.raises(pild.Unavailable):
            while True:
                next(watch)
    with running_pild() as server, server.client() as client:
        count = len(client.list())
        watch = client.watch()
        threading.Timer(0.3, watch.cancel).start()
        assert len(read_until(watch, lambda e: False)) == count  # then cancelled
        with pytest.raises(StopIteration):
            next(watch)
        began = time.monotonic()
        assert len(list(client.watch(timeout=0.5))) == count
        assert time.monotonic() - began < 5
