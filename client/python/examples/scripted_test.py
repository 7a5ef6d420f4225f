#!/usr/bin/env python3
"""A scripted RPC test of a coprocessor, as a user writes one with `pild`.

    scripted_test.py [--address unix:/run/pild/pild.sock] [--coprocessor cdsp]

Starts the coprocessor, watches it reach RUNNING, checks that pild refuses
what it must refuse, stops it and watches it reach OFFLINE. Prints PASS and
exits 0, or prints what failed and exits 1. The coprocessor must be OFFLINE
and its default firmware present; without --coprocessor, the first one
pild manages.
"""

import argparse
import sys
import time

import pild


def wait_for(watch, name, state, seconds=30.0):
    """Reads `watch` until `name` is in `state`; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    for event in watch:
        if event.coprocessor.name == name and pild.state_name(event.coprocessor.state) == state:
            return event
        if time.monotonic() > deadline:
            break
    raise AssertionError("%s did not reach %s in %.0f s" % (name, state, seconds))


def run(client, name):
    try:
        client.get("no-such-coprocessor")
        raise AssertionError("pild found a coprocessor that does not exist")
    except pild.NotFound as e:
        assert e.reason == "UNKNOWN_COPROCESSOR", e

    with client.watch(name) as watch:
        first = next(watch)
        assert first.initial and pild.state_name(first.coprocessor.state) == "offline", first
        started = client.start(name)
        assert pild.state_name(started.coprocessor.state) == "running", started
        running = wait_for(watch, name, "running")
        assert pild.enum_text(pild.pb.Operation, running.operation) == "start", running

        try:
            client.start(name)
            raise AssertionError("a second start of a running %s succeeded" % name)
        except pild.WrongState as e:
            assert e.code == "FAILED_PRECONDITION" and e.metadata["state"] == "running", e

        client.stop(name)
        wait_for(watch, name, "offline")
    assert pild.state_name(client.get(name).state) == "offline"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="pild's address (default: pild.default_endpoint())")
    parser.add_argument("--coprocessor", help="the coprocessor to start")
    args = parser.parse_args(argv)
    with pild.connect(args.address) as client:
        try:
            name = args.coprocessor or client.list()[0].name
            run(client, name)
        except pild.Unavailable as e:
            print("FAIL: cannot reach pild at %s: %s" % (client.address, e.message))
            return 1
        except (AssertionError, pild.PildError) as e:
            print("FAIL: %s" % e)
            return 1
    print("PASS: %s started, refused a second start, stopped" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
