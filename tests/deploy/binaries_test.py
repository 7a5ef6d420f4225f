"""pild, pilctl and pilsim are built hardened: position-independent, with
full RELRO (read-only relocations, bound at load), a stack protector, and
fortified libc calls in pild and pilctl. Read from the ELF files with
binutils' readelf."""

import subprocess

import pytest

from pildtest import binary

BINARIES = ["server/pild", "client/pilctl", "platform/sim/pilsim"]


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("name", BINARIES)
def test_position_independent_with_full_relro(name):
    path = binary(name)
    assert "DYN (Position-Independent Executable file)" in readelf("-h", path)
    dynamic = readelf("-d", path)
    assert "BIND_NOW" in dynamic and "PIE" in dynamic
    assert "GNU_RELRO" in readelf("-l", path)


@pytest.mark.parametrize("name", BINARIES)
def test_stack_protector(name):
    assert "__stack_chk_fail" in readelf("--dyn-syms", binary(name))


@pytest.mark.parametrize("name", ["server/pild", "client/pilctl"])
def test_fortified_libc_calls(name):
    symbols = readelf("--dyn-syms", binary(name))
    fortified = {word.split("@")[0] for word in symbols.split()
                 if word.startswith("__") and word.split("@")[0].endswith("_chk")
                 and word.split("@")[0] != "__stack_chk_fail"}
    assert fortified, "no fortified (__*_chk) calls in %s" % name
