"""pild.fleet's pild_info and pild_firmware, and what every module shares,
run by Debian's ansible-core on a local host against pild on the sim
(conftest.py): facts, uploads by SHA-256 (present, absent, a wrong digest,
a file too large or not regular), pild's reasons in failures, TCP with
mutual TLS, and a host whose Python lacks the pild or grpc package.
pild_coprocessor has coprocessor_test.py."""

import os

import pild
from ansible_helpers import OLD_IMAGE, module, newest_id, running_image, sha256_of

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
    rc, r = module("pild_firmware", {"src": str(junk), "sha256": sha256_of(str(junk))},
                   server.address)
    assert rc != 0 and "ELF_BAD_MAGIC" in r["msg"], r


def test_firmware_refuses_a_file_too_large_or_not_regular(server, client, tmp_path):
    limit = client.info().capabilities.max_upload_size
    assert limit > 0
    sparse = tmp_path / "sparse.mbn"
    with open(sparse, "wb") as f:
        f.truncate(limit + 1)
    fifo = str(tmp_path / "fifo.mbn")
    os.mkfifo(fifo)
    newest = newest_id(client)
    rc, r = module("pild_firmware", {"src": str(sparse), "sha256": "0" * 64}, server.address)
    assert rc != 0 and "src %s is %d bytes; pild accepts at most %d" % (
        sparse, limit + 1, limit) in r["msg"], r
    for path in [fifo, "/dev/zero", str(tmp_path)]:
        rc, r = module("pild_firmware", {"src": path, "sha256": "0" * 64}, server.address)
        assert rc != 0 and "src %s is not a regular file" % path in r["msg"], r
    rc, r = module("pild_firmware", {"src": fifo, "sha256": "xyz"}, server.address)
    assert rc != 0 and "sha256 must be a SHA-256, 64 hex digits; got 'xyz'" in r["msg"], r
    assert client.uploads() == [] and newest_id(client) == newest


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
    # TCP without any TLS option: refused before connecting.
    rc, r = module("pild_info", {}, server.tcp)
    assert rc != 0 and "endpoint %s is TCP, and pild accepts TCP only with mutual TLS" % (
        server.tcp) in r["msg"], r


def test_a_host_without_the_pild_or_grpc_package_is_told_what_to_install(server):
    # The controller's PYTHONPATH (which has pild) reaches the module through
    # the local connection; without it, Debian's Python has no pild.
    environment = {"PYTHONPATH": ""}
    rc, r = module("pild_info", {}, server.address, extra_env=environment)
    assert rc != 0, r
    assert r["missing_package"] == "pild"
    assert "The Python package pild cannot be imported" in r["msg"]
    assert "python3 -m venv --system-site-packages" in r["msg"], r["msg"]
    assert "pip install --no-index --no-build-isolation ./client/python" in r["msg"]
    assert "ansible_python_interpreter" in r["msg"] and "PEP 668" in r["msg"]
    # -S: no site packages, so no grpcio either.
    rc, r = module("pild_coprocessor", {"name": "cdsp"}, server.address,
                   python="/usr/bin/python3 -S")
    assert rc != 0, r
    assert r["missing_package"] == "grpcio" and "python3-grpcio" in r["msg"], r
