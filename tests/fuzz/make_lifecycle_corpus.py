#!/usr/bin/env python3
"""Writes request sequences for lifecycle_fuzzer (see lifecycle_fuzzer.cc
for the format): uploads of the seed images followed by whole lifecycles,
step-by-step boots, steps out of order, retried request ids, hostile
firmware names and corrupted uploads.

    make_lifecycle_corpus.py OUTDIR SEED.mbn...

Standard library only; the protobuf messages are encoded by hand
(protowire.py).
"""

import os
import struct
import sys

from protowire import field

UPLOAD, AUTHENTICATE, MAP, RESET, START, STOP = range(6)


def request(name, request_id="", firmware_name=None, upload=None, timeout_ms=None):
    """Fields 1 name, 2 request_id, then 3 firmware (Authenticate/Start) or
    a duration (Reset: 3, Start: 4)."""
    out = field(1, name)
    if request_id:
        out += field(2, request_id)
    if firmware_name is not None:
        out += field(3, field(1, firmware_name))
    if upload is not None:
        out += field(3, field(2, upload))
    if timeout_ms is not None:
        out += field(3, field(2, timeout_ms * 1000000))
    return out


def record(op, payload):
    return struct.pack("<BH", op, len(payload)) + payload


def main():
    out, seeds = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    cases = {}
    for i, path in enumerate(seeds):
        image = open(path, "rb").read()
        up = record(UPLOAD, image)
        video = request("video")
        corrupted = bytearray(image)
        corrupted[-64] ^= 0x10
        cases.update({
            "%d-start-stop" % i: up + record(START, video) + record(STOP, video),
            "%d-steps" % i: up + record(AUTHENTICATE, video) + record(MAP, video) +
            record(RESET, request("video", timeout_ms=50)) + record(STOP, video),
            "%d-out-of-order" % i: up + record(AUTHENTICATE, video) + record(RESET, video) +
            record(MAP, video) + record(STOP, video) + record(MAP, video),
            "%d-retry" % i: up + record(START, request("video", "id-1")) +
            record(START, request("video", "id-1")) + record(STOP, request("video", "id-1")) +
            record(STOP, video),
            "%d-stop-mapped" % i: up + record(AUTHENTICATE, video) + record(MAP, video) +
            record(STOP, video),
            "%d-corrupted" % i: record(UPLOAD, bytes(corrupted)) + record(START, video),
            "%d-wrong-carveout" % i: up + record(START, request("adsp")) +
            record(START, request("cdsp")),
        })
    cases["names"] = (record(AUTHENTICATE, request("video", firmware_name="../../etc/passwd")) +
                      record(START, request("video", upload="0" * 64)) +
                      record(START, request("gpu")) + record(MAP, request("")) +
                      record(STOP, b"\xff\xff"))
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
