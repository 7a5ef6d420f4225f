"""End to end: a video codec booted without TrustZone (a `video-firmware`
subnode: SC7180 Chromebooks). pild verifies and copies the real firmware,
maps the whole carveout at IOVA 0 for the subnode's stream, programs the
video wrapper and releases the codec's reset; stop asserts reset and
unmaps. No secure-world call is made (checked on the simulated hardware,
through pilsim)."""

import os
import signal
import subprocess

import pytest

import pild
from pildtest import Pild, binary, make_signed, realdata, runfile, running_pild, wait_until

state_name = pild.state_name

BOARD = "sc7180-trogdor-lazor-r3"
FIRMWARE = "qcom/venus-5.4/venus.mbn"
REGION = (0x8F600000, 0x500000)
STREAM = 0xC42
FW_END, A9SS_SW_RESET, RESET_BIT = 0x102C, 0x3000, 1 << 4


def args(firmware_dir=None):
    return ["--dtb=" + realdata("dtb/%s.dtb" % BOARD),
            "--firmware-path=" + (firmware_dir or realdata("firmware"))]


def assert_clean(server, client):
    c = client.get("video", observe_hardware=True)
    assert state_name(c.state) == "offline"
    sim = server.sim()
    try:
        assert sim.leftovers(c) == []
        assert sim.wrapper("video", A9SS_SW_RESET) & RESET_BIT, "reset not asserted"
        core = [k for k in sim.observe().cores if k.coprocessor == c.node_path]
        assert [k.state for k in core] == ["off"]
    finally:
        sim.close()


def secure_world_calls(server):
    sim = server.sim()
    try:
        return [c.call for c in sim.observe().calls if c.call.startswith("pas_")]
    finally:
        sim.close()


def test_venus_boots_without_trustzone_and_stops_clean():
    with running_pild(*args()) as server, server.client() as client:
        listed = client.get("video")
        assert listed.boot_method == pild.pb.BOOT_METHOD_VIDEO_WRAPPER
        assert list(listed.problems) == []
        assert listed.firmware_sid == STREAM

        started = client.start("video")
        c = started.coprocessor
        assert state_name(c.state) == "running"
        assert c.image.source == FIRMWARE
        assert [s.name for s in started.steps] == [
            "load", "verify_and_copy", "iommu_attach", "smmu_map", "wrapper_program",
            "wrapper_release_reset", "wait_ready"]
        assert "the only one" in started.note
        # The OS mapping of the whole carveout at IOVA 0, privileged.
        running = client.get("video", observe_hardware=True)
        mappings = [(m.iova, m.physical_address, m.size, m.sid)
                    for m in running.hardware.mappings]
        assert mappings == [(0, REGION[0], REGION[1], STREAM)]
        assert [m.owner for m in running.hardware.mappings] == [pild.pb.MAPPING_OWNER_OS]
        assert list(running.hardware.bridges) == []
        sim = server.sim()
        try:
            assert sim.wrapper("video", FW_END) == REGION[1]
            assert sim.wrapper("video", A9SS_SW_RESET) & RESET_BIT == 0
        finally:
            sim.close()
        assert secure_world_calls(server) == []

        stopped = client.stop("video")
        assert [s.name for s in stopped.steps] == [
            "wrapper_assert_reset", "smmu_unmap", "iommu_detach"]
        assert_clean(server, client)
        # Again, from the same state: nothing was left to trip over.
        assert state_name(client.start("video").coprocessor.state) == "running"
        client.stop("video")
        assert_clean(server, client)
        assert secure_world_calls(server) == []


@pytest.mark.parametrize("damage", ["segment", "signature"])
def test_pild_is_the_only_check_and_refuses_a_damaged_image(tmp_path, damage):
    """Nothing else authenticates the image: a changed byte in a segment
    or in the signature is refused by pild, and nothing is left behind."""
    data = bytearray(open(realdata("firmware/" + FIRMWARE), "rb").read())
    if damage == "segment":
        data[0x3000 + 0x100] ^= 0x01  # segment 2's file data
        reason = "HASH_MISMATCH"
    else:
        data[0x1000 + 0x28 + 0x20 * 5 + 0x10] ^= 0x01  # in the signed hash table
        reason = None  # a hash-table or signature reason, named below
    target = tmp_path / "fw" / FIRMWARE
    os.makedirs(target.parent)
    target.write_bytes(bytes(data))
    with running_pild(*args(str(tmp_path / "fw"))) as server, server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("video")
        got = caught.value.reason
        if reason:
            assert got == reason, str(caught.value)
        else:
            assert got in ("HASH_MISMATCH", "SIGNATURE_INVALID"), str(caught.value)
        assert_clean(server, client)
        assert secure_world_calls(server) == []


def test_an_unsigned_image_is_refused(tmp_path):
    """An image whose hash table is not signed is never copied in, though
    its hash table is intact (the secure world would have refused it)."""
    target = tmp_path / "fw" / FIRMWARE
    os.makedirs(target.parent)
    elf = str(tmp_path / "plain.elf")
    subprocess.run([binary("tools/pilimage"), "synth", "--base=0x0", "--size=0x100000", elf],
                   check=True, capture_output=True)
    subprocess.run([binary("tools/pilimage"), "sign", "--version=3", "--defect=unsigned",
                    "--sw-id=0xe", "--keys=" + runfile("platform/image/testkeys"), elf,
                    str(target)], check=True, capture_output=True)
    with running_pild(*args(str(tmp_path / "fw"))) as server, server.client() as client:
        with pytest.raises(pild.PildError) as caught:
            client.start("video")
        assert caught.value.reason == "SIGNATURE_MISSING", str(caught.value)
        assert_clean(server, client)


def test_a_restarted_pild_adopts_the_running_codec_and_stops_it():
    server = Pild(*args())
    server.start()
    try:
        with server.client() as client:
            client.start("video")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server.start()
        with server.client() as client:
            assert wait_until(lambda: state_name(client.get("video").state) == "running")
            client.stop("video")
            assert_clean(server, client)
    finally:
        if server.process.poll() is None:
            server.stop()
        else:
            server.stop_sim()


def test_an_image_over_six_mib_is_refused_even_where_it_fits(tmp_path):
    """The OS loads at most 6 MiB of codec firmware without TrustZone: on a
    board whose video region is 8 MiB (lazor's, enlarged), a test-signed
    7 MiB image that fits the region is refused naming that limit."""
    dts = subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts",
                          realdata("dtb/%s.dtb" % BOARD)],
                         check=True, capture_output=True, text=True).stdout
    region = "reg = <0x00 0x8f600000 0x00 0x500000>;"
    assert dts.count(region) == 1
    dts = dts.replace(region, "reg = <0x00 0x8f600000 0x00 0x800000>;")
    dtb = tmp_path / "big.dtb"
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(dtb)],
                   input=dts, check=True, capture_output=True, text=True)
    firmware = tmp_path / "fw"
    make_signed(str(firmware / FIRMWARE), REGION[0], 0x700000, 0xE, version=3)
    with running_pild("--dtb=" + str(dtb), "--firmware-path=" + str(firmware)) as server, \
            server.client() as client:
        assert client.get("video").carveouts[0].size == 0x800000
        with pytest.raises(pild.PildError) as caught:
            client.start("video")
        assert caught.value.reason == "IMAGE_TOO_LARGE", str(caught.value)
        assert "at most 0x600000" in str(caught.value)
        assert_clean(server, client)
