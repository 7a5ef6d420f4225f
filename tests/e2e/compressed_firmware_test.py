"""Real firmware stored only compressed (NAME.zst or NAME.xz, as
distributions that compress /lib/firmware ship it), made with Debian's zstd
and xz commands: pild finds, decompresses and verifies it, boots it on the
sim, and on the linux backend stages the decompressed image the kernel then
loads. A corrupt compressed file is refused before anything boots."""

import os
import shutil
import subprocess

import pytest

import pild
from pildtest import FakeKernel, realdata, running_pild

state_name = pild.state_name
BOARD = "qrb5165-rb5"
FIRMWARE = "qcom/sm8250/cdsp.mbn"
# The commands and options a distribution uses (xz: CRC32, as the kernel's
# decoder wants).
COMPRESSORS = {"zst": ["zstd", "-q", "--rm", "-19"], "xz": ["xz", "-C", "crc32"]}


def compressed_tree(tmp_path, suffix):
    """A firmware directory holding only FIRMWARE.<suffix>; its path."""
    firmware = tmp_path / "fw"
    target = firmware / os.path.dirname(FIRMWARE)
    target.mkdir(parents=True)
    plain = firmware / FIRMWARE
    shutil.copy(realdata("firmware/" + FIRMWARE), plain)
    subprocess.run(COMPRESSORS[suffix] + [str(plain)], check=True)
    assert sorted(os.listdir(target)) == ["cdsp.mbn." + suffix]
    return firmware


def dtb():
    return "--dtb=" + realdata("dtb/%s.dtb" % BOARD)


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_real_compressed_firmware_boots_on_the_sim(suffix, tmp_path):
    firmware = compressed_tree(tmp_path, suffix)
    with running_pild(dtb(), "--firmware-path=%s" % firmware) as server, \
            server.client() as client:
        with open(realdata("firmware/" + FIRMWARE), "rb") as f:
            plain = client.upload(f.read(), name="cdsp.mbn").report
        started = client.start("cdsp")
        c = started.coprocessor
        assert state_name(c.state) == "running"
        assert c.image.source == FIRMWARE
        assert c.image.hash_table_version == 6
        assert c.image.sha256 == plain.metadata_sha256
        assert "pas_auth_and_reset" in [s.name for s in started.steps]
        stopped = client.stop("cdsp")
        assert state_name(stopped.coprocessor.state) == "offline"
        assert server.sim().leftovers(client.get("cdsp")) == []


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_corrupt_compressed_file_is_refused_and_leaves_nothing(suffix, tmp_path):
    firmware = compressed_tree(tmp_path, suffix)
    packed = firmware / (FIRMWARE + "." + suffix)
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0x5A
    packed.write_bytes(bytes(data))
    with running_pild(dtb(), "--firmware-path=%s" % firmware) as server, \
            server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("cdsp")
        error = caught.value
        assert (error.code, error.reason) == ("INVALID_ARGUMENT", "FIRMWARE_DECOMPRESS_FAILED")
        assert str(packed) in error.message
        assert error.metadata["format"] == {"zst": "zstd", "xz": "xz"}[suffix]
        c = client.get("cdsp", observe_hardware=True)
        assert state_name(c.state) == "offline"
        assert c.last_error.reason == "FIRMWARE_DECOMPRESS_FAILED"
        assert not c.hardware.metadata_held
        calls = [call.call for call in server.sim().observe().calls]
        assert "pas_init_image" not in calls
        assert server.sim().leftovers(c) == []


def test_the_kernel_loads_the_decompressed_image_pild_staged(tmp_path):
    """On the linux backend the kernel loads what pild stages: the verified,
    decompressed image, under a name of pild's (never the .zst)."""
    firmware = compressed_tree(tmp_path, "zst")
    kernel_firmware = tmp_path / "kernel-firmware"
    kernel_firmware.mkdir()
    with FakeKernel(realdata("dtb/%s.dtb" % BOARD), str(kernel_firmware)) as kernel, \
            running_pild("--platform=linux", "--sysfs-root=" + kernel.root,
                         "--firmware-path=%s" % firmware, "--remoteproc-poll=50ms") as server, \
            server.client() as client:
        started = client.start("cdsp")
        assert state_name(started.coprocessor.state) == "running"
        staged = kernel.status()["cdsp"]["firmware"]
        assert staged == "pild/%s.mbn" % started.coprocessor.image.sha256
        with open(realdata("firmware/" + FIRMWARE), "rb") as f:
            assert (kernel_firmware / staged).read_bytes() == f.read()
        assert os.listdir(kernel_firmware / "pild") == [os.path.basename(staged)]
        client.stop("cdsp")
        assert kernel.status()["cdsp"]["state"] == "offline"
