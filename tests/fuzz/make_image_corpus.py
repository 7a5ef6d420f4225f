#!/usr/bin/env python3
"""Writes malformed variants of signed images for image_fuzzer.

    make_image_corpus.py OUTDIR SEED.mbn...

For each seed: truncations at every structural boundary, overflowing
header and program-header fields, overlapping segments, inconsistent
hash-segment sizes, unknown hash-table versions, garbage certificate
chains, and split forms (see image_fuzzer.cc for the input format).
Standard library only.
"""

import os
import random
import struct
import sys


def phdrs(image):
    phoff, = struct.unpack_from("<I", image, 28)
    phnum, = struct.unpack_from("<H", image, 44)
    out = []
    for i in range(phnum):
        out.append(struct.unpack_from("<8I", image, phoff + 32 * i))
    return phoff, out


def hash_index(table):
    for i, p in enumerate(table):
        if i and (p[6] >> 24) & 7 == 2:
            return i
    return None


def put32(image, offset, value):
    image = bytearray(image)
    struct.pack_into("<I", image, offset, value & 0xFFFFFFFF)
    return bytes(image)


def variants(image):
    """(label, bytes) pairs of monolithic variants."""
    phoff, table = phdrs(image)
    hidx = hash_index(table)
    hoff, hsize = table[hidx][1], table[hidx][4]
    version, = struct.unpack_from("<I", image, hoff + 4)
    header = 48 if version == 6 else 40

    # Truncations at every boundary.
    cuts = {0, 1, 4, 16, 51, 52, phoff, hoff, hoff + header, hoff + hsize - 1}
    for i in range(len(table)):
        cuts.update({phoff + 32 * i, phoff + 32 * i + 16})
        off, filesz = table[i][1], table[i][4]
        if filesz:
            cuts.update({off, off + 1, off + filesz - 1})
    # Certificates: every DER start in the chain region.
    region = image[hoff:hoff + hsize]
    at = region.find(b"\x30\x82")
    while at != -1:
        cuts.update({hoff + at, hoff + at + 4})
        at = region.find(b"\x30\x82", at + 1)
    for cut in sorted(c for c in cuts if c < len(image)):
        yield "cut%06x" % cut, image[:cut]

    # ELF header fields.
    for label, offset, value in [
            ("phoff-huge", 28, 0xFFFFFFF0), ("phoff-mid", 28, 0x7FFFFFFF),
            ("phoff-inside-data", 28, len(image) - 40),
            ("shoff-huge", 32, 0xFFFFFFF0)]:
        yield label, put32(image, offset, value)
    for label, offset, value in [
            ("phnum-max", 44, 0xFFFF), ("phnum-0", 44, 0), ("phnum-1", 44, 1),
            ("phentsize-0", 42, 0), ("phentsize-56", 42, 56),
            ("shnum", 48, 0x100), ("shentsize", 46, 40)]:
        mutated = bytearray(image)
        struct.pack_into("<H", mutated, offset, value)
        yield label, bytes(mutated)
    yield "class64", image[:4] + b"\x02" + image[5:]

    # Program-header fields of every segment.
    for i in range(len(table)):
        base = phoff + 32 * i
        for label, field, value in [
                ("offset-huge", 4, 0xFFFFFFFF), ("offset-end", 4, len(image)),
                ("paddr-wrap", 12, 0xFFFFF000), ("filesz-huge", 16, 0xFFFFFFFF),
                ("filesz-plus1", 16, table[i][4] + 1), ("memsz-0", 20, 0),
                ("memsz-huge", 20, 0xFFFFFFFF), ("flags-hash", 24, 0x02200000),
                ("flags-reloc", 24, table[i][6] ^ 0x08000000), ("type-load", 0, 1),
                ("type-null", 0, 0)]:
            yield "ph%d-%s" % (i, label), put32(image, base + field, value)
    # Overlapping segments: the last copies the one before it.
    if len(table) >= 4:
        mutated = bytearray(image)
        mutated[phoff + 32 * (len(table) - 1):phoff + 32 * len(table)] = \
            image[phoff + 32 * (len(table) - 2):phoff + 32 * (len(table) - 1)]
        yield "overlap", bytes(mutated)

    # Hash-segment header fields.
    for version_value in [0, 1, 2, 4, 8, 0xFFFFFFFF]:
        yield "version-%x" % version_value, put32(image, hoff + 4, version_value)
    for field in range(8, header, 4):
        value, = struct.unpack_from("<I", image, hoff + field)
        for label, new in [("0", 0), ("huge", 0xFFFFFFFF), ("plus1", value + 1),
                           ("minus1", value - 1), ("plus48", value + 48)]:
            yield "hs%02x-%s" % (field, label), put32(image, hoff + field, new)
    yield "hash-size-minus1", put32(image, phoff + 32 * hidx + 16, hsize - 1)

    # Garbage chains.
    rng = random.Random(hoff)
    at = region.find(b"\x30\x82")
    if at != -1:
        start = hoff + at
        garbage = bytes(rng.randrange(256) for _ in range(hsize - at))
        yield "chain-random", image[:start] + garbage + image[hoff + hsize:]
        yield "chain-huge-der", image[:start] + b"\x30\x84\xff\xff\xff\xf0" + image[start + 6:]
        yield "chain-ff", image[:start] + b"\xff" * (hsize - at) + image[hoff + hsize:]
        second = region.find(b"\x30\x82", at + 4)
        if second != -1:
            yield "chain-swapped", (image[:start] + region[second:second + 600] +
                                    region[at + 600:] )[:len(image[:hoff + hsize])] + image[hoff + hsize:]


def split_form(image, parts_limit=40):
    """The image as an .mdt and its parts, in image_fuzzer's split format."""
    phoff, table = phdrs(image)
    hidx = hash_index(table)
    headers = image[:table[0][4]]
    hash_bytes = image[table[hidx][1]:table[hidx][1] + table[hidx][4]]
    mdt = headers + hash_bytes
    out = struct.pack("<I", len(mdt)) + mdt
    for i, p in enumerate(table[:parts_limit]):
        if i in (0, hidx) or p[4] == 0:
            continue
        data = image[p[1]:p[1] + p[4]][:0xFFFF]
        out += struct.pack("<H", len(data)) + data
    return out


def main():
    outdir, seeds = sys.argv[1], sys.argv[2:]
    os.makedirs(outdir, exist_ok=True)
    count = 0
    for n, path in enumerate(seeds):
        image = open(path, "rb").read()
        name = os.path.basename(path).replace(".", "_")
        with open(os.path.join(outdir, "%s-seed" % name), "wb") as f:
            f.write(b"\x00" + image)
        split = split_form(image)
        with open(os.path.join(outdir, "%s-split" % name), "wb") as f:
            f.write(b"\x01" + split)
        with open(os.path.join(outdir, "%s-split-short" % name), "wb") as f:
            f.write(b"\x01" + split[:len(split) // 2])
        for label, data in variants(image):
            with open(os.path.join(outdir, "%s-%s" % (name, label)), "wb") as f:
                f.write(b"\x00" + data)
            count += 1
    print("%d variants of %d seeds in %s" % (count, len(seeds), outdir))


if __name__ == "__main__":
    main()
