"""Each module of the pild.fleet collection, run by Debian's ansible-core on
a local host against one pild on the sim (SDM845, real firmware), which also
listens on TCP with mutual TLS: idempotence, check mode (a dry-run Start),
--diff, the health gate and rollback, pild's reasons in failures, and a host
whose Python lacks the pild or grpc package."""

import os

import pytest

import pild
from ansible_helpers import OLD_IMAGE, module, new_image, running_image, too_large_image
from pildtest import Pild, dtb, real_firmware
from pki import Pki, free_port

POLICY = 'rule { certificate: "fleet-controller" role: ADMIN }\n'


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture(scope="module")
def server(pki):
    """pild on its socket and on 127.0.0.1 with mutual TLS."""
    policy = pki.path("policy.textproto")
    with open(policy, "w") as f:
        f.write(POLICY)
    tcp = "127.0.0.1:%d" % free_port()
    s = Pild(dtb("sdm845-db845c"), real_firmware(), "--policy=" + policy,
             "--tls-cert=" + pki.path("server.pem"), "--tls-key=" + pki.path("server.key"),
             "--tls-client-ca=" + pki.path("ca.pem"))
    s.args[1] += "," + tcp
    s.tcp = tcp
    with s:
        yield s


@pytest.fixture
def client(server):
    """A client of `server`; cdsp offline and no uploads before and after."""
    with server.client() as c:
        c.stop("cdsp")
        yield c
        c.stop("cdsp")
        for u in c.uploads():
            c.delete_upload(u.sha256)


@pytest.fixture(scope="module")
def image(server, tmp_path_factory):
    """(path, sha256) of the test-signed CDSP image."""
    with server.client() as c:
        return new_image(str(tmp_path_factory.mktemp("images")), c)


def upload(client, path):
    with open(path, "rb") as f:
        return client.upload(f.read(), name=os.path.basename(path)).sha256


def test_info_reports_pild_and_each_coprocessor(server, client):
    client.start("cdsp")
    rc, r = module("pild_info", {}, server.address)
    assert rc == 0, r
    assert not r["changed"]
    assert r["backend"] == "sim" and r["board_model"] == "Thundercomm Dragonboard 845c"
    assert r["version"] == client.info().version and r["epoch"] == client.info().epoch
    by_name = {c["name"]: c for c in r["coprocessors"]}
    assert set(by_name) == {c.name for c in client.list()}
    cdsp = by_name["cdsp"]
    assert cdsp["state"] == "running" and cdsp["crash_count"] == 0
    assert cdsp["image"]["source"] == OLD_IMAGE
    assert cdsp["image"]["sha256"] == client.get("cdsp").image.sha256
    assert cdsp["image"]["version"].startswith("CDSP.HT.")
    assert by_name["adsp"]["state"] == "offline" and by_name["adsp"]["image"] is None

    rc, r = module("pild_info", {"names": ["cdsp"]}, server.address)
    assert [c["name"] for c in r["coprocessors"]] == ["cdsp"]
    rc, r = module("pild_info", {"names": ["nope"]}, server.address)
    assert rc != 0 and "UNKNOWN_COPROCESSOR" in r["msg"]
    assert r["error"]["reason"] == "UNKNOWN_COPROCESSOR"


def test_last_error_names_reason_message_and_operation(server, client):
    sim = server.sim()
    try:
        client.update_recovery("cdsp", restart=False)
        sim.inject(coprocessor="cdsp", watchdog_after_ms=1)
        client.start("cdsp")
        assert pild.state_name(client.get("cdsp").state) in ("running", "crashed")
        rc, r = module("pild_info", {"names": ["cdsp"]}, server.address)
    finally:
        client.update_recovery("cdsp", restart=True)
        sim.close()
    cdsp = r["coprocessors"][0]
    assert cdsp["last_error"]["reason"] == "WATCHDOG", cdsp
    assert cdsp["last_error"]["operation"] == "crash"
    assert "watchdog" in cdsp["last_error"]["message"]
    assert cdsp["crash_count"] >= 1


def test_running_is_idempotent_and_stopped_and_restarted_act(server, client):
    rc, r = module("pild_coprocessor", {"name": "cdsp"}, server.address)
    assert rc == 0 and r["changed"], r
    assert r["previous"]["state"] == "offline"
    assert r["current"]["image"]["source"] == OLD_IMAGE and r["state"] == "running"
    # The same image, by pild's default or by its firmware name: no change.
    for args in [{}, {"firmware": OLD_IMAGE}]:
        rc, r = module("pild_coprocessor", dict(args, name="cdsp"), server.address)
        assert rc == 0 and not r["changed"], r
    starts = len([e for e in client.history("cdsp") if e.operation == pild.pb.OPERATION_START])

    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "restarted"}, server.address)
    assert rc == 0 and r["changed"]
    assert r["current"]["image"]["source"] == OLD_IMAGE
    assert len([e for e in client.history("cdsp")
                if e.operation == pild.pb.OPERATION_START]) == starts + 1

    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "stopped"}, server.address)
    assert rc == 0 and r["changed"] and r["state"] == "offline"
    assert running_image(client) == ("offline", "")
    rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "stopped"}, server.address)
    assert rc == 0 and not r["changed"]


def test_check_mode_is_a_dry_run_and_changes_nothing(server, client, image):
    path, sha256 = image
    upload(client, path)
    newest = client.history(limit=1)[0].id
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, check=True, diff=True)
    assert rc == 0 and r["changed"], r
    assert [step.split(":")[0] for step in r["dry_run"]] == ["load", "verify"], r["dry_run"]
    assert r["diff"]["before"] == {"state": "offline", "image": None}
    assert r["diff"]["after"]["state"] == "running"
    assert r["diff"]["after"]["image"]["source"] == "upload:" + sha256
    assert running_image(client) == ("offline", "")
    assert client.history(limit=1)[0].id == newest

    # From running, another image: changed reported, the old one still runs.
    client.start("cdsp")
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, check=True)
    assert rc == 0 and r["changed"] and "dry_run" not in r
    assert running_image(client) == ("running", OLD_IMAGE)

    # An image that would not fit: pild's reason, nothing changed.
    name, _ = too_large_image()
    for state in ["running", "offline"]:
        if state == "offline":
            client.stop("cdsp")
        newest = client.history(limit=1)[0].id
        rc, r = module("pild_coprocessor", {"name": "cdsp", "firmware": name},
                       server.address, check=True)
        assert rc != 0 and "IMAGE_TOO_LARGE" in r["msg"] and not r["changed"], r
        assert running_image(client)[0] == state
        assert client.history(limit=1)[0].id == newest


def test_diff_shows_state_and_image_before_and_after(server, client, image):
    path, sha256 = image
    upload(client, path)
    client.start("cdsp")
    old = client.get("cdsp").image
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                        "health_seconds": 0.5}, server.address, diff=True)
    assert rc == 0 and r["changed"], r
    new = client.get("cdsp").image
    assert r["diff"]["before"] == {"state": "running", "image": {
        "sha256": old.sha256, "version": old.version, "source": OLD_IMAGE,
        "upload_sha256": None}}
    assert r["diff"]["after"] == {"state": "running", "image": {
        "sha256": new.sha256, "version": new.version, "source": "upload:" + sha256,
        "upload_sha256": sha256}}
    assert r["health"]["passed"]
    assert "+++ after" in r["_stdout"] and '+        "source": "upload:%s"' % sha256 in r["_stdout"]
    rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256},
                   server.address, diff=True)
    assert rc == 0 and not r["changed"]
    assert r["diff"]["before"] == r["diff"]["after"]


def test_a_crash_in_the_health_gate_rolls_back(server, client, image):
    path, sha256 = image
    upload(client, path)
    sim = server.sim()
    try:
        # Nothing ran before: rolled back to stopped.
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1}, server.address)
        assert rc != 0 and r["rolled_back"], r
        assert "WATCHDOG" in r["msg"] and "rolled back to stopped" in r["msg"], r["msg"]
        assert running_image(client) == ("offline", "")
        # The old image ran: it runs again.
        client.start("cdsp")
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1}, server.address)
        assert rc != 0 and r["rolled_back"] and r["changed"], r
        assert "WATCHDOG" in r["msg"] and "rolled back to %s" % OLD_IMAGE in r["msg"], r["msg"]
        assert r["previous"]["image"]["source"] == OLD_IMAGE
        assert r["current"] == r["previous"]
        assert running_image(client) == ("running", OLD_IMAGE)
        # rollback: false leaves it as the failure did.
        sim.inject(coprocessor="cdsp", watchdog_after_ms=200)
        rc, r = module("pild_coprocessor", {"name": "cdsp", "upload_sha256": sha256,
                                            "health_seconds": 1, "rollback": False},
                       server.address)
        assert rc != 0 and not r["rolled_back"] and "rollback: false" in r["msg"], r
        assert running_image(client)[1] == "upload:" + sha256
    finally:
        sim.close()


def test_firmware_present_absent_and_a_wrong_digest(server, client, image, tmp_path):
    path, sha256 = image
    wrong = "0" * 64
    rc, r = module("pild_firmware", {"src": path, "sha256": wrong}, server.address)
    assert rc != 0 and wrong in r["msg"] and sha256 in r["msg"], r
    assert client.uploads() == []

    rc, r = module("pild_firmware", {"src": path, "sha256": sha256}, server.address, check=True)
    assert rc == 0 and r["changed"] and not r["uploaded"]
    assert client.uploads() == []
    rc, r = module("pild_firmware", {"src": path, "sha256": sha256}, server.address)
    assert rc == 0 and r["changed"] and r["uploaded"], r
    assert r["report"]["ok"] and r["report"]["version"] == "PILD.TEST.1.0"
    assert [u.sha256 for u in client.uploads()] == [sha256]
    rc, r = module("pild_firmware", {"src": path, "sha256": sha256}, server.address)
    assert rc == 0 and not r["changed"] and not r["uploaded"] and r["report"]["ok"]

    rc, r = module("pild_firmware", {"sha256": sha256, "state": "absent"}, server.address,
                   check=True)
    assert rc == 0 and r["changed"]
    assert len(client.uploads()) == 1
    # In use: pild's reason.
    client.start("cdsp", upload=sha256)
    rc, r = module("pild_firmware", {"sha256": sha256, "state": "absent"}, server.address)
    assert rc != 0 and "UPLOAD_IN_USE" in r["msg"], r
    client.stop("cdsp")
    rc, r = module("pild_firmware", {"sha256": sha256, "state": "absent"}, server.address)
    assert rc == 0 and r["changed"]
    assert client.uploads() == []
    rc, r = module("pild_firmware", {"sha256": sha256, "state": "absent"}, server.address)
    assert rc == 0 and not r["changed"]

    # Not an image at all: pild refuses the upload with its reason.
    junk = tmp_path / "junk.mbn"
    junk.write_bytes(b"not an ELF" * 100)
    from ansible_helpers import sha256_of
    rc, r = module("pild_firmware", {"src": str(junk), "sha256": sha256_of(str(junk))},
                   server.address)
    assert rc != 0 and "ELF_BAD_MAGIC" in r["msg"], r


def test_errors_carry_pilds_reason(server, client):
    cases = [({"name": "nope"}, "UNKNOWN_COPROCESSOR"),
             ({"name": "cdsp", "upload_sha256": "1" * 64}, "UPLOAD_NOT_FOUND"),
             ({"name": "cdsp", "firmware": "qcom/nope.mbn"}, "FIRMWARE_NOT_FOUND")]
    for args, reason in cases:
        rc, r = module("pild_coprocessor", args, server.address)
        assert rc != 0 and reason in r["msg"] and r["error"]["reason"] == reason, (args, r)
    client.start("cdsp")
    with server.client() as holder, holder.lease("cdsp", holder="maintenance"):
        rc, r = module("pild_coprocessor", {"name": "cdsp", "state": "stopped"}, server.address)
        assert rc != 0 and "LEASED" in r["msg"], r
        assert "maintenance" in r["error"]["metadata"]["holder"]
    rc, r = module("pild_info", {}, "unix:" + server.dir + "/nobody-here.sock")
    assert rc != 0 and "UNAVAILABLE" in r["msg"], r


def test_tcp_with_mutual_tls(server, client, pki):
    tls = {"tls_cert": pki.path("controller.pem"), "tls_key": pki.path("controller.key"),
           "tls_ca": pki.path("ca.pem")}
    rc, r = module("pild_info", tls, server.tcp)
    assert rc == 0 and r["endpoint"] == server.tcp, r
    rc, r = module("pild_coprocessor", dict(tls, name="cdsp"), server.tcp, check=True)
    assert rc == 0 and r["changed"] and r["dry_run"], r
    rc, r = module("pild_coprocessor", dict(tls, name="cdsp"), server.tcp)
    assert rc == 0 and r["changed"]
    assert running_image(client) == ("running", OLD_IMAGE)
    # A certificate from another CA, or none: pild refuses the connection.
    rogue = dict(tls, tls_cert=pki.path("rogue.pem"), tls_key=pki.path("rogue.key"))
    for args in [rogue, {"tls_ca": pki.path("ca.pem")}]:
        rc, r = module("pild_info", args, server.tcp)
        assert rc != 0 and "UNAVAILABLE" in r["msg"], r
    rc, r = module("pild_info", {"tls_cert": pki.path("controller.pem"),
                                 "tls_key": pki.path("controller.key")}, server.tcp)
    assert rc != 0 and "tls_ca is required" in r["msg"], r


def test_a_host_without_the_pild_or_grpc_package_is_told_what_to_install(server):
    # The controller's PYTHONPATH (which has pild) reaches the module through
    # the local connection; without it, Debian's Python has no pild.
    environment = {"PYTHONPATH": ""}
    rc, r = module("pild_info", {}, server.address, extra_env=environment)
    assert rc != 0, r
    assert r["missing_package"] == "pild"
    assert "The Python package pild cannot be imported" in r["msg"]
    assert "pip install" in r["msg"] and "client/python" in r["msg"]
    # -S: no site packages, so no grpcio either.
    rc, r = module("pild_coprocessor", {"name": "cdsp"}, server.address,
                   python="/usr/bin/python3 -S")
    assert rc != 0, r
    assert r["missing_package"] == "grpcio" and "python3-grpcio" in r["msg"], r
