"""The fault-injection matrix: for every hardware call of every transition,
pild meets a failure of that call, a client that cancels while it is in
flight, and a SIGKILL while it is in flight followed by a restart. After
each, the coprocessor is in a consistent state (OFFLINE with nothing held,
or the state the transition reached holding exactly what that state holds)
and stops clean. Crashes of the coprocessor in each state it can crash in
(booting, running, stopping, recovering, while pild is down) follow.

The board is the real x1e80100-crd-el2 device tree (no hypervisor: pild
bridges and maps), its ADSP booting a test-signed main and DTB image, with a
resource table of device memory. The sim's call faults (docs/SIM.md) fail a
call or hold its reply after it took effect; the matrix is learned from the
steps of a clean run, so a new step joins it by itself.
"""
import collections
import time

import grpc
import pytest

import pild
from pildtest import operation_of, result_of, Pild, realdata, signed_firmware_for, wait_until

state_name = pild.state_name

NAME = "adsp"
PROFILE = """
peripherals {
  coprocessor: "adsp"
  devmem { da: 0x800000 pa: 0x6800000 length: 0x4000 name: "lpass_regs" }
}
"""
# pild's step name -> the sim call it makes (steps absent make none).
STEP_CALLS = {
    "pas_init_image": "pas_init_image",
    "pas_mem_setup": "pas_mem_setup",
    "iommu_attach": "iommu_attach",
    "smmu_map": "iommu_map",
    "pas_get_rsctable": "pas_get_resource_table",
    "shm_bridge_create": "shm_bridge_create",
    "pas_auth_and_reset": "pas_auth_and_reset",
    "shm_bridge_delete": "shm_bridge_delete",
    "release_metadata": "release_metadata",
    "request_stop": "request_stop",
    "pas_shutdown": "pas_shutdown",
    "smmu_unmap": "iommu_unmap",
    "iommu_detach": "iommu_detach",
}
# Each transition, the state it starts from and the state it reaches.
TRANSITIONS = {
    "start": ("offline", "running"),
    "stop": ("running", "offline"),
    "authenticate": ("offline", "authenticated"),
    "map": ("authenticated", "mapped"),
    "reset": ("mapped", "running"),
}
BOOTS = ("start", "reset")  # finished after a kill once reset was released

Point = collections.namedtuple("Point", "transition step call occurrence released")

RESULTS = collections.Counter()


def dtb():
    return "--dtb=" + realdata("dtb/x1e80100-crd-el2.dtb")


def invoke(client, transition, **kwargs):
    return getattr(client, transition)(NAME, **kwargs)


def request_for(transition, request_id):
    pb = pild.pb
    return {
        "start": pb.StartRequest,
        "stop": pb.StopRequest,
        "authenticate": pb.AuthenticateRequest,
        "map": pb.MapRequest,
        "reset": pb.ResetRequest,
    }[transition](name=NAME, request_id=request_id)


def bring_to(client, state):
    """From OFFLINE to `state` through the step verbs."""
    order = ["offline", "authenticated", "mapped", "running"]
    verbs = {"authenticated": "authenticate", "mapped": "map", "running": "reset"}
    for s in order[1:order.index(state) + 1]:
        invoke(client, verbs[s])


def points(steps, transition):
    """The calls of a transition's steps, in order, each with its
    occurrence among calls of its kind, and whether reset was released
    (the main image's pas_auth_and_reset done) once it took effect."""
    seen = collections.Counter()
    out = []
    auths = [i for i, s in enumerate(steps) if s.name == "pas_auth_and_reset"]
    main_auth = auths[-1] if auths else None
    for i, step in enumerate(steps):
        call = STEP_CALLS.get(step.name)
        if call is None:
            continue
        seen[call] += 1
        released = main_auth is not None and i >= main_auth
        out.append(Point(transition, step.name, call, seen[call], released))
    return out


def hardware_of(server, client):
    c = client.get(NAME, observe_hardware=True)
    sim = server.sim()
    try:
        return c, sim.observe(), sim.leftovers(c)
    finally:
        sim.close()


def assert_consistent(server, client, context):
    """The coprocessor holds exactly what its state holds; returns the
    state."""
    c, hw, leftovers = hardware_of(server, client)
    state = state_name(c.state)
    core = [k.state for k in hw.cores if k.coprocessor == c.node_path]
    bridges = [b for b in hw.bridges
               if any(b.base < r.base + r.size and r.base < b.base + b.size
                      for r in c.carveouts)]
    ours = [m for m in hw.mappings if m.sid == c.firmware_sid]
    ids = {c.pas_id, c.dtb_pas_id}
    metadata = any(p.metadata_held for p in hw.peripherals if p.pas_id in ids)
    running = [p.state for p in hw.peripherals if p.pas_id in ids]
    if state == "offline":
        assert leftovers == [], "%s: offline but holds %s" % (context, leftovers)
    elif state == "running":
        assert core == ["running"], context
        assert not metadata and bridges == [], "%s: %s" % (context, leftovers)
        assert ours and all(m.owner == "os" for m in ours), context
        assert set(running) == {"running"}, context
    elif state in ("authenticated", "mapped"):
        assert metadata and bridges == [] and core in (["off"], []), context
        assert bool(ours) == (state == "mapped"), context
    else:
        raise AssertionError("%s: left %s" % (context, state))
    return state


def settle(server, client, context):
    """Back to OFFLINE with nothing held."""
    state = state_name(client.get(NAME).state)
    if state != "offline":
        client.stop(NAME)
    state = assert_consistent(server, client, context + " after stop")
    assert state == "offline", context


def record_of(client, request_id):
    for entry in client.history(NAME, limit=50):
        if entry.request_id == request_id:
            return entry
    return None


def wait_held(server, call):
    sim = server.sim()
    try:
        assert wait_until(lambda: call in sim.observe().held, timeout=20), \
            "the sim never held " + call
    finally:
        sim.close()


def wait_nothing_held(server):
    """A reply held for a killed pild is still held for a while: the next
    case waits for it, so that it sees only its own."""
    sim = server.sim()
    try:
        assert wait_until(lambda: not sim.observe().held, timeout=20)
    finally:
        sim.close()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Firmware for the board and the call points of every transition,
    learned from a clean run."""
    firmware = str(tmp_path_factory.mktemp("fw"))
    with Pild(dtb(), profile=PROFILE) as probe, probe.client() as client:
        signed_firmware_for(firmware, [c for c in client.list() if c.name == NAME])
        probe.stop()
    args = [dtb(), "--firmware-path=" + firmware]
    found = []
    with Pild(*args, profile=PROFILE) as server, server.client() as client:
        for transition, (before, _) in TRANSITIONS.items():
            bring_to(client, before)
            found += points(list(invoke(client, transition).steps), transition)
            settle(server, client, "clean " + transition)
        server.stop()
    assert {p.transition for p in found} == set(TRANSITIONS)
    assert any(p.call == "shm_bridge_delete" for p in found)
    assert any(p.step == "smmu_map" and p.occurrence >= 3 for p in found)  # devmem
    yield args, found
    print("fault matrix: %d cases: %s" % (sum(RESULTS.values()), dict(RESULTS)))


def test_a_failure_of_each_call_leaves_a_consistent_state(matrix):
    args, found = matrix
    with Pild(*args, profile=PROFILE) as server, server.client() as client:
        sim = server.sim()
        for p in found:
            context = "%s: %s #%d fails" % (p.transition, p.call, p.occurrence)
            bring_to(client, TRANSITIONS[p.transition][0])
            sim.inject_call(p.call, p.occurrence, fail_status=-22)
            try:
                invoke(client, p.transition)
                outcome = "OK"
            except pild.PildError as error:
                outcome = error.reason
            state = assert_consistent(server, client, context)
            if outcome != "OK":
                assert state == "offline", context
                assert client.get(NAME).last_error.reason == outcome, context
            else:
                # Only a failed request to stop is survivable: the stop goes on.
                assert (p.transition, p.call) == ("stop", "request_stop"), context
            RESULTS["fail/" + outcome] += 1
            settle(server, client, context)
        sim.close()


def test_a_client_cancelling_during_each_call_leaves_a_consistent_state(matrix):
    args, found = matrix
    with Pild(*args, profile=PROFILE) as server, server.client() as client:
        sim = server.sim()
        for i, p in enumerate(found):
            context = "%s: cancelled during %s #%d" % (p.transition, p.call, p.occurrence)
            bring_to(client, TRANSITIONS[p.transition][0])
            wait_nothing_held(server)
            sim.inject_call(p.call, p.occurrence, hold_ms=1000)
            request_id = "cancel-%d" % i
            call = getattr(client.stub, p.transition.capitalize()).future(
                request_for(p.transition, request_id), timeout=60)
            wait_held(server, p.call)
            call.cancel()
            assert wait_until(lambda: record_of(client, request_id) is not None, timeout=20), \
                context
            record = record_of(client, request_id)
            state = assert_consistent(server, client, context)
            # A stop is never abandoned; a transition whose last call was held
            # may have completed; any other is rolled back.
            assert result_of(record) in ("OK", "CANCELLED"), "%s: %s" % (context, result_of(record))
            if result_of(record) == "CANCELLED":
                assert state == "offline", context
            else:
                assert state == TRANSITIONS[p.transition][1], context
            if p.transition == "stop":
                assert result_of(record) == "OK", context
            RESULTS["cancel/" + result_of(record)] += 1
            settle(server, client, context)
        sim.close()


def test_pild_killed_during_each_call_finishes_or_undoes_it_on_restart(matrix):
    args, found = matrix
    server = Pild(*args, profile=PROFILE)
    server.start()
    try:
        for i, p in enumerate(found):
            context = "%s: killed during %s #%d" % (p.transition, p.call, p.occurrence)
            wait_nothing_held(server)
            with server.client() as client:
                bring_to(client, TRANSITIONS[p.transition][0])
                sim = server.sim()
                sim.inject_call(p.call, p.occurrence, hold_ms=1500)
                sim.close()
                call = getattr(client.stub, p.transition.capitalize()).future(
                    request_for(p.transition, "kill-%d" % i), timeout=60)
                wait_held(server, p.call)
                server.process.kill()
                server.process.wait()
                with pytest.raises(grpc.RpcError):
                    call.result()
            server.start()  # the same socket, audit trail, journal and pilsim
            with server.client() as client:
                c = client.get(NAME)
                state = assert_consistent(server, client, context)
                finished = p.transition == "stop" or (p.transition in BOOTS and p.released)
                expected = TRANSITIONS[p.transition][1] if finished else "offline"
                assert state == expected, "%s: %s, expected %s" % (context, state, expected)
                adopt = [e for e in client.history(NAME, limit=20) if operation_of(e) == "adopt"][0]
                assert ("%s was in progress (at step %s)" % (p.transition, p.step)) \
                    in adopt.message, "%s: %s\n%s" % (context, adopt.message, server.output())
                if finished:
                    assert "finished" in adopt.message, context
                else:
                    assert c.last_error.reason == "INTERRUPTED", context
                if state == "running":
                    assert c.image.source == "qcom/x1e80100/adsp.mbn", context
                RESULTS["kill/" + ("finished" if finished else "undone")] += 1
                settle(server, client, context)
    finally:
        server.stop()


def test_a_crash_in_each_state_a_core_can_crash_in_leaves_a_consistent_state(matrix):
    """Booting, running (recovered), stopping, recovering, and while pild
    is down. A core held in reset (AUTHENTICATED, MAPPED) runs nothing that
    could crash."""
    args, _ = matrix
    server = Pild(*args, profile=PROFILE)
    server.start()
    try:
        with server.client() as client:
            sim = server.sim()

            sim.inject(coprocessor=NAME, crash_while_booting=True)
            with pytest.raises(pild.PildError) as caught:
                client.start(NAME)
            assert "while booting" in caught.value.message
            assert assert_consistent(server, client, "crash while booting") == "offline"
            RESULTS["crash/booting"] += 1

            sim.inject(coprocessor=NAME, watchdog_after_ms=30)
            client.start(NAME)
            assert wait_until(lambda: any(operation_of(e) == "recover" and result_of(e) == "OK"
                                          for e in client.history(NAME, limit=10)))
            assert assert_consistent(server, client, "crash while running") == "running"
            RESULTS["crash/running"] += 1

            sim.inject(coprocessor=NAME, crash_on_stop=True)
            client.stop(NAME)
            assert assert_consistent(server, client, "crash while stopping") == "offline"
            RESULTS["crash/stopping"] += 1

            # The recovery's boot crashes too: CRASHED, holding nothing.
            sim.inject(coprocessor=NAME, watchdog_after_ms=300)
            client.start(NAME)
            sim.inject(coprocessor=NAME, crash_while_booting=True)  # the next boot
            assert wait_until(lambda: any(operation_of(e) == "recover" and result_of(e) != "OK"
                                          for e in client.history(NAME, limit=10)))
            c = client.get(NAME, observe_hardware=True)
            assert state_name(c.state) == "crashed"
            assert sim.leftovers(c) == [] or sim.leftovers(c) == ["core crashed"]
            settle(server, client, "crash while recovering")
            RESULTS["crash/recovering"] += 1

            # It crashes while no pild runs: the next one finds it CRASHED,
            # with the image it ran.
            sim.inject(coprocessor=NAME, watchdog_after_ms=1000)
            client.start(NAME)
            sim.close()
        server.process.kill()
        server.process.wait()
        sim = server.sim()
        assert wait_until(lambda: any(k.state == "crashed" for k in sim.observe().cores))
        sim.close()
        server.start()
        with server.client() as client:
            c = client.get(NAME)
            assert state_name(c.state) == "crashed"
            assert c.image.source == "qcom/x1e80100/adsp.mbn"
            settle(server, client, "crash while pild was down")
            RESULTS["crash/pild down"] += 1
    finally:
        server.stop()
