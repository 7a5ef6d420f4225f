#!/usr/bin/env python3
"""Writes request sequences for service_fuzzer: each method with a valid
request, and with the requests a hostile client sends (names too long or
with control characters, unknown coprocessors, bad page tokens, paths out
of the firmware directory, uploads that lie about their size).

    make_service_corpus.py OUTDIR

Standard library only; the protobuf messages are encoded by hand
(protowire.py).
"""

import os
import struct
import sys

from protowire import field

WATCH, GET, LIST, HISTORY, INSPECT, COREDUMP, UPLOAD, INFO = range(8)


def call(method, payload=b""):
    return bytes([method]) + struct.pack("<H", len(payload)) + payload


def framed(*messages):
    return b"".join(struct.pack("<H", len(m)) + m for m in messages)


def upload(size, data, name="image.mbn"):
    header = field(1, field(1, name) + field(2, size))
    return framed(header, field(2, data))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = {
        "watch_all": call(WATCH),
        "watch_one": call(WATCH, field(1, "adsp")),
        "watch_unknown": call(WATCH, field(1, "gpu")),
        "watch_long_name": call(WATCH, field(1, "x" * 4000)),
        "watch_control": call(WATCH, field(1, "ad\x1bsp")),
        "get": call(GET, field(1, "video") + field(2, True)),
        "get_empty": call(GET),
        "list_observed": call(LIST, field(1, True)),
        "history": call(HISTORY, field(1, "adsp") + field(2, 5)),
        "history_bad_token": call(HISTORY, field(3, "not-a-token")),
        "history_negative_uid": call(HISTORY, field(4, -5)),
        "inspect_escape": call(INSPECT, field(1, field(1, "../../etc/passwd"))),
        "inspect_upload": call(INSPECT, field(1, field(2, "ab" * 32))),
        "inspect_short_sha": call(INSPECT, field(1, field(2, "abc"))),
        "coredump_none": call(COREDUMP, field(1, "cdsp")),
        "coredump_id": call(COREDUMP, field(1, "cdsp") + field(2, 7)),
        "upload_short": call(UPLOAD, upload(100, b"ELF")),
        "upload_long": call(UPLOAD, upload(2, b"ELFimage")),
        "upload_no_header": call(UPLOAD, framed(field(2, b"data"))),
        "upload_huge": call(UPLOAD, upload(1 << 40, b"")),
        "info": call(INFO),
        "garbage": call(GET, b"\xff\xff\xff\xff") + call(WATCH, b"\x0a\xff"),
        "mixed": call(INFO) + call(WATCH, field(1, "cdsp")) + call(LIST) +
                 call(GET, field(1, "cdsp")),
    }
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
