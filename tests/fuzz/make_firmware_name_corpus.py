#!/usr/bin/env python3
"""Writes firmware names for firmware_store_fuzzer: the files, split images,
FIFOs and links of its directory, and ways out of it.

    make_firmware_name_corpus.py OUTDIR
"""

import os
import sys

NAMES = [
    "qcom/a.mbn", "qcom/s.mdt", "qcom/f.mdt", "qcom/fifo.mbn", "in.mbn",
    "qcom/sub/up.mbn", "out.mbn", "abs.mbn", "qcom/parent/secret.mbn",
    "qcom/parent/qcom/a.mbn", "qcom/sub/grandparent/secret.mbn", "loop",
    "magic.mbn", "../secret.mbn", "/etc/passwd", "qcom//a.mbn", "qcom/./a.mbn",
    "qcom/a.mbn\n", "qcom/\x1b[2Ja.mbn", "qcom", "", "a" * 300,
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for i, name in enumerate(NAMES):
        with open(os.path.join(out, "name-%02d" % i), "wb") as f:
            f.write(name.encode())


if __name__ == "__main__":
    main()
