#!/usr/bin/env python3
"""Writes pilsim answers for sim_wire_fuzzer: hardware states with bridges,
mappings, streams, faults, peripherals, cores and calls, and signals of
every kind; and unknown words where the wire has words.

    make_sim_wire_corpus.py OUTDIR

Standard library only; the protobuf messages are encoded by hand
(protowire.py).
"""

import os
import sys

from protowire import field


def message(*fields):
    return b"".join(field(n, v) for n, v in fields)


STATE, SIGNAL = b"\x00", b"\x01"


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    state = message(
        (1, False),
        (2, message((1, 7), (2, 0x9bb00000), (3, 0x200000))),
        (3, message((1, 0), (2, 0x19e2), (3, 0), (4, 0), (5, 0x9bb00000), (6, 0x200000),
                    (7, 3), (8, "os"))),
        (4, message((1, 0x19e2), (2, 0x700000), (3, True), (4, "translation"), (5, "video"),
                    (6, 1700000000000000000), (7, "write"))),
        (5, message((1, 9), (2, "idle"), (3, False))),
        (5, message((1, 1), (2, "running"), (3, True))),
        (6, message((1, "/soc@0/remoteproc@3000000"), (2, "running"))),
        (7, message((1, "pas_init_image"), (2, 9), (3, ""), (4, -22), (5, 1))),
        (8, message((1, 0), (2, 0x1000), (3, 0x80), (4, "os"))),
    )
    cases = {
        "state": STATE + state,
        "state-hypervisor": STATE + message((1, True)),
        "state-unknown-owner": STATE + message((3, message((8, "nobody")))),
        "state-unknown-word": STATE + message((5, message((1, 1), (2, "dancing")))),
        "state-empty": STATE,
    }
    for kind in ["ready", "handover", "stop-ack", "watchdog", "fatal", "smmu-fault", "bogus"]:
        cases["signal-" + kind] = SIGNAL + message(
            (1, 3), (2, "cdsp"), (3, kind), (4, "detail"), (5, 0x1000), (6, 0x8000),
            (7, True), (8, "permission"), (9, -1), (10, "execute"))
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
