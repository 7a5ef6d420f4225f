"""pild over its Unix socket, driven as clients would drive it."""

import os
import socket as socketlib
import stat
import subprocess

import grpc
import pytest

import pild
from pildtest import (REAL_DTBS, Pild, binary, health_pb2, health_pb2_grpc, pilctl,
                      pilctl_json, realdata, reflection_pb2, reflection_pb2_grpc,
                      running_pild)


@pytest.fixture(scope="module")
def sim():
    with running_pild() as server:
        yield server


def test_default_sim_board_lists_its_enabled_coprocessors(sim):
    with sim.client() as client:
        listed = client.list()
    assert [c.name for c in listed] == ["adsp", "video", "cdsp"]
    for c in listed:
        assert c.state == pild.pb.STATE_OFFLINE
        assert c.iommu_owner == pild.pb.IOMMU_OWNER_LINUX
        assert c.state_since.seconds > 0


def test_get_coprocessor_has_device_tree_facts(sim):
    with sim.client() as client:
        video = client.get("video")
    assert video.node_path == "/soc@0/video-codec@aa00000"
    assert list(video.compatible) == ["qcom,sm8550-iris"]
    assert video.kind == pild.pb.COPROCESSOR_KIND_VIDEO_CODEC
    assert video.pas_id == 9
    assert video.HasField("firmware_sid") and video.firmware_sid == 0x19E2
    assert [(m.function_id, m.sid_base, m.length) for m in video.iommu_map] == [(0, 0x19E2, 1)]
    assert [(r.base, r.size) for r in video.carveouts] == [(0x9BB00000, 0x700000)]
    assert list(video.firmware_names) == ["qcom/vpu/vpu30_p4.mbn"]
    assert video.firmware_names_default
    assert video.dt_status == "okay"
    assert not video.HasField("dtb_pas_id")


def test_unknown_coprocessor_carries_error_info(sim):
    with sim.client() as client, pytest.raises(pild.PildError) as caught:
        client.get("gpu")
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.reason == "UNKNOWN_COPROCESSOR"
    assert caught.value.metadata == {"coprocessor": "gpu"}
    assert "known: adsp, video, cdsp" in caught.value.message


def test_health_reports_serving(sim):
    with sim.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ["", "pil.v1.LifecycleService"]:
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_lifecycle_service(sim):
    with sim.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        replies = list(stub.ServerReflectionInfo(requests, timeout=5))
    names = {s.name for s in replies[0].list_services_response.service}
    assert "pil.v1.LifecycleService" in names
    assert "grpc.health.v1.Health" in names


def test_pilctl_list_and_status(sim):
    table = pilctl("--server", sim.address, "list", check=0).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "PAS", "IOMMU", "BOOT", "FW", "SID", "CARVEOUT", "FIRMWARE"]
    assert [line.split()[:5] for line in table[1:]] == [
        ["adsp", "offline", "1", "linux", "pas"],
        ["video", "offline", "9", "linux", "pas"],
        ["cdsp", "offline", "18", "linux", "pas"],
    ]
    detail = pilctl("--server=" + sim.address, "status", "adsp", check=0).stdout
    assert "firmware sid:  0x1000/0x80" in detail
    assert "state:         offline since" in detail
    listed = pilctl_json("--server", sim.address, "list")
    assert [(c["name"], c["state"], c["firmware_sid"]) for c in listed] == [
        ("adsp", "offline", 0x1000), ("video", "offline", 0x19E2), ("cdsp", "offline", 0xC00)]


def test_pilctl_exit_codes(sim):
    error = pilctl_json("--server", sim.address, "status", "gpu", check=4)["error"]
    assert error["reason"] == "UNKNOWN_COPROCESSOR"
    missing = pilctl("--server", "unix:/nonexistent/pild.sock", "--timeout=1s", "list", check=3)
    assert "cannot reach pild at unix:/nonexistent/pild.sock" in missing.stderr
    assert "--timeout expects" in pilctl("--server", sim.address, "--timeout=soon", "list", check=2).stderr


@pytest.mark.parametrize("board", REAL_DTBS)
def test_pild_serves_each_real_device_tree(board):
    dtb = realdata("dtb/%s.dtb" % board)
    expected = [c for c in pilctl_json("devicetree", dtb) if c["dt_status"] == "okay"]
    with running_pild("--dtb=" + dtb) as server, server.client() as client:
        listed = client.list()
    assert [c.name for c in listed] == [c["name"] for c in expected]
    for got, want in zip(listed, expected):
        assert got.node_path == want["node_path"]
        assert got.pas_id == want["pas_id"]
        assert [(r.base, r.size) for r in got.carveouts] == [
            (r["base"], r["size"]) for r in want["carveouts"]]
        assert got.HasField("firmware_sid") == (want["firmware_sid"] is not None)


def test_bundled_hypervisor_board():
    with running_pild("--board=sm8550-hyp-sim") as server, server.client() as client:
        listed = client.list()
    assert {c.iommu_owner for c in listed} == {pild.pb.IOMMU_OWNER_HYPERVISOR}


def test_linux_platform_reads_live_tree_and_remoteproc_state(tmp_path):
    # A sysfs as the kernel lays it out: the flattened tree, the unflattened
    # tree's nodes, and remoteproc devices pointing at them.
    sysfs = tmp_path / "sys"
    (sysfs / "firmware").mkdir(parents=True)
    dtb = realdata("dtb/sm8550-qrd.dtb")
    (sysfs / "firmware" / "fdt").write_bytes(open(dtb, "rb").read())
    base = sysfs / "firmware" / "devicetree" / "base"
    for i, (node, state) in enumerate([("remoteproc@6800000", "running"),
                                       ("remoteproc@32300000", "crashed"),
                                       ("remoteproc@4080000", "offline")]):
        (base / "soc@0" / node).mkdir(parents=True)
        device = sysfs / "devices" / "platform" / "soc@0" / node.replace("remoteproc@", "")
        device.mkdir(parents=True)
        (device / "of_node").symlink_to(base / "soc@0" / node)
        entry = sysfs / "class" / "remoteproc" / ("remoteproc%d" % i)
        entry.mkdir(parents=True)
        (entry / "device").symlink_to(device)
        (entry / "state").write_text(state + "\n")
        (entry / "name").write_text(node + "\n")
    with running_pild("--platform=linux", "--sysfs-root=%s" % sysfs) as server, \
            server.client() as client:
        states = {c.name: pild.state_name(c.state) for c in client.list()}
        # The linux backend reads states; it does not drive transitions yet.
        with pytest.raises(pild.PildError) as caught:
            client.start("video")
    assert states == {"mpss": "offline", "adsp": "running", "video": "offline", "cdsp": "crashed"}
    assert caught.value.code == "UNIMPLEMENTED"
    assert caught.value.reason == "NOT_SUPPORTED"


def test_bad_flags_exit_with_usage_code():
    result = subprocess.run([binary("server/pild"), "--platform=qemu"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--platform must be 'sim' or 'linux', got 'qemu'" in result.stderr
    result = subprocess.run([binary("server/pild"), "--board=sm9999",
                             "--sim=unix:/nonexistent/pilsim.sock"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "no bundled board named 'sm9999'; bundled: sm8550-el2-sim, sm8550-hyp-sim" in result.stderr
    result = subprocess.run([binary("server/pild"), "--listen=0.0.0.0:7000",
                             "--sim=unix:/nonexistent/pilsim.sock"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "refusing TCP (0.0.0.0:7000) without mutual TLS" in result.stderr


def test_second_server_on_the_same_socket_is_refused(sim):
    result = subprocess.run([binary("server/pild"), "--listen=" + sim.address,
                             "--sim=unix:" + os.path.join(sim.dir, "pilsim.sock")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "another server is listening on " + sim.socket in result.stderr
    with sim.client() as client:
        assert len(client.list()) == 3


def test_stale_socket_is_replaced_and_removed_on_exit():
    server = Pild()
    # A socket file nobody listens on, as a killed pild leaves behind.
    stale = socketlib.socket(socketlib.AF_UNIX)
    stale.bind(server.socket)
    stale.close()
    assert stat.S_ISSOCK(os.lstat(server.socket).st_mode)
    server.start()
    with server.client() as client:
        assert len(client.list()) == 3
    assert server.stop() == 0
    assert not os.path.exists(server.socket)
