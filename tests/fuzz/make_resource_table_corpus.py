#!/usr/bin/env python3
"""Writes resource tables for resource_table_fuzzer: valid ones with
device-memory and other entries, and the ways they go wrong (truncation,
bad offsets, misalignment, overlap, wrapping ranges, huge counts).

    make_resource_table_corpus.py OUTDIR
"""

import os
import struct
import sys


def devmem(da, pa, length, name, reserved=0):
    return struct.pack("<6I", 1, da, pa, length, 0, reserved) + name.encode().ljust(32, b"\0")


def table(entries, version=1, count=None):
    count = len(entries) if count is None else count
    header = struct.pack("<4I", version, count, 0, 0)
    offset = 16 + 4 * len(entries)
    offsets, body = b"", b""
    for e in entries:
        offsets += struct.pack("<I", offset + len(body))
        body += e
    return header + offsets + body


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    carveout = struct.pack("<7I", 0, 0, 0x1000, 0, 0, 0, 0)
    cases = {
        "empty": table([]),
        "one": table([devmem(0x20000000, 0x0a000000, 0x2000, "ipc")]),
        "mixed": table([devmem(0x20000000, 0x0a000000, 0x2000, "ipc"), carveout,
                        devmem(0x30000000, 0x0b000000, 0x1000, "timer")]),
        "overlap": table([devmem(0x1000, 0, 0x2000, "a"), devmem(0x2000, 0, 0x1000, "b")]),
        "misaligned": table([devmem(0x1001, 0, 0x1000, "odd")]),
        "wrap": table([devmem(0xFFFFF000, 0, 0x2000, "wrap")]),
        # Two entries whose 32-bit ends wrap to 0 once passed as disjoint.
        "top-twice": table([devmem(0xFFFFF000, 0, 0x1000, "top"),
                            devmem(0xFFFFF000, 0x1000, 0x1000, "again")]),
        "pa-wrap": table([devmem(0x1000, 0xFFFFF000, 0x2000, "pa")]),
        "reserved": table([devmem(0, 0, 0x1000, "r", reserved=1)]),
        "version2": table([], version=2),
        "huge-count": table([], count=0x40000000),
        "noname": table([devmem(0, 0, 0x1000, "x" * 32)]),
    }
    cases["truncated"] = cases["one"][:-9]
    cases["bad-offset"] = cases["one"][:16] + struct.pack("<I", 0xFFFFFFF0) + cases["one"][20:]
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
