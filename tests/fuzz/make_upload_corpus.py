#!/usr/bin/env python3
"""Writes upload streams for upload_stream_fuzzer: whole uploads in one and
several chunks, and the ways a stream goes wrong (no header, two headers,
too many bytes, too few, a chunk over 1 MiB, a bad digest, control
characters in the name, a size over the limit).

    make_upload_corpus.py OUTDIR

Standard library only; the protobuf messages are encoded by hand
(protowire.py).
"""

import os
import struct
import sys

from protowire import field


def header(size, name="image.mbn", sha256=""):
    body = field(1, name) + field(2, size)
    if sha256:
        body += field(3, sha256)
    return record(field(1, body))


def chunk(data):
    return record(field(2, data))


def record(message):
    return struct.pack("<H", len(message)) + message


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = {
        "whole": header(8) + chunk(b"ELFimage"),
        "chunks": header(12) + chunk(b"abcd") + chunk(b"efgh") + chunk(b"ijkl"),
        "no-header": chunk(b"abcd"),
        "two-headers": header(4) + header(4),
        "too-many": header(4) + chunk(b"abcdef"),
        "too-few": header(8) + chunk(b"abc"),
        "empty": header(0),
        "over-limit": header(5 << 20) + chunk(b"x"),
        "budget": header(4 << 20),
        "bad-digest": header(4, sha256="Z" * 64) + chunk(b"abcd"),
        "digest": header(4, sha256="0" * 64) + chunk(b"abcd"),
        "control-name": header(4, name="a\nb") + chunk(b"abcd"),
        "long-name": header(4, name="n" * 300) + chunk(b"abcd"),
    }
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
