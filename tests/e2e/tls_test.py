"""Remote callers: TCP only with mutual TLS. Certificates made with the
openssl command (a CA, pild's certificate, and client certificates that are
good, from another CA, expired, or absent); each outcome checked, counted,
and found in the audit trail after a restart."""

import os
import socket
import ssl
import subprocess
import time

import pytest

import pild
from pki import Pki, free_port
from pildtest import operation_of, result_of, is_refused, Pild, binary, pilctl, realdata, scratch_dir

POLICY = """
rule { certificate: "fleet-controller" role: ADMIN }
rule { certificate: "fleet-observer" role: OBSERVER }
"""


@pytest.fixture(scope="module")
def pki():
    return Pki()


class Remote:
    """pild on its Unix socket and on 127.0.0.1:<port> with mutual TLS."""

    def __init__(self, pki, *args):
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.server = Pild("--firmware-path=" + realdata("firmware"),
                           "--policy=" + self._policy(pki),
                           "--tls-cert=" + pki.path("server.pem"),
                           "--tls-key=" + pki.path("server.key"),
                           "--tls-client-ca=" + pki.path("client-ca.pem"), *args)
        self.server.args[1] += "," + self.address  # --listen=unix:...,IP:PORT

    @staticmethod
    def _policy(pki):
        with open(pki.path("ca.pem")) as src, open(pki.path("client-ca.pem"), "w") as dst:
            dst.write(src.read())
        path = pki.path("policy.textproto")
        with open(path, "w") as f:
            f.write(POLICY)
        return path

    def client(self, tls):
        return pild.connect(self.address, 5, tls=tls)


def refused_connecting(remote, tls):
    with pytest.raises(pild.PildError) as caught, remote.client(tls) as client:
        client.info()
    return caught.value


def test_each_kind_of_client_certificate_meets_its_outcome(pki):
    remote = Remote(pki)
    with remote.server as server, server.client() as local:
        with remote.client(pki.tls("controller")) as admin:
            info = admin.info()
            assert info.caller.certificate == "fleet-controller" and info.caller.uid == -1
            assert len(info.grants) == 10
            admin.start("video")
            admin.stop("video")
        with remote.client(pki.tls("observer")) as observer:
            assert len(observer.list()) == 3
            with pytest.raises(pild.PildError) as denied:
                observer.start("video")
            assert denied.value.reason == "ACCESS_DENIED"
            assert denied.value.metadata["caller"] == "certificate fleet-observer"
        no_certificate = pild.Tls(cert=None, key=None, ca=pki.path("ca.pem"))
        for tls in (pki.tls("rogue"), pki.tls("expired"), no_certificate):
            assert refused_connecting(remote, tls).code == "UNAVAILABLE", tls
        tls = local.info().admission.tls
        # (A channel may try again before it gives up: at least once each.)
        assert tls.accepted >= 2 and tls.invalid == 0
        assert min(tls.untrusted, tls.expired, tls.missing) >= 1
        # The refused never reached a handler: only their handshakes are on
        # the record.
        history = local.history(limit=100)
        by_certificate = [h for h in history if h.caller.certificate]
        assert {h.caller.certificate for h in by_certificate} == {
            "fleet-controller", "fleet-observer"}
        # Nothing else came in over TCP without an identity but the refused
        # handshakes.
        assert {operation_of(h) for h in history
                if not h.caller.certificate and h.caller.uid < 0} == {"connect"}
    # After a restart, every refused handshake is still there.
    with Pild(*remote.server.args[3:], directory=remote.server.dir) as again, \
            again.client() as local:
        connects = [(result_of(h), is_refused(h)) for h in local.history(limit=100)
                    if operation_of(h) == "connect"]
    assert set(connects) == {("CERTIFICATE_EXPIRED", True), ("CERTIFICATE_MISSING", True),
                             ("CERTIFICATE_UNTRUSTED", True)}


def test_pilctl_speaks_mutual_tls(pki):
    remote = Remote(pki)
    with remote.server:
        tls = ["--tls-cert=" + pki.path("controller.pem"),
               "--tls-key=" + pki.path("controller.key"), "--tls-ca=" + pki.path("ca.pem")]
        out = pilctl("--server=" + remote.address, *tls, "info", check=0).stdout
        assert "you:         cert fleet-controller" in out
        assert "mutual TLS" in out
        result = pilctl("--server=" + remote.address, "list")
        assert result.returncode == 3  # no certificate, no connection
        result = pilctl("--server=" + remote.address, "--tls-cert=" + pki.path("controller.pem"),
                        "list")
        assert result.returncode == 5 and "go together" in result.stderr


def test_certificates_are_reloaded_without_a_restart(pki):
    remote = Remote(pki, "--tls-reload-seconds=1")
    with remote.server:
        # A client CA added to the file is trusted at the next handshake.
        assert refused_connecting(remote, pki.tls("rogue")).code == "UNAVAILABLE"
        with open(pki.path("client-ca.pem"), "a") as f, open(pki.path("other-ca.pem")) as other:
            f.write(other.read())
        with remote.client(pki.tls("rogue")) as rogue:
            assert rogue.info().caller.certificate == "fleet-controller"
        # ... and one removed from it is not, for new connections.
        with open(pki.path("ca.pem")) as good, open(pki.path("client-ca.pem"), "w") as f:
            f.write(good.read())
        assert refused_connecting(remote, pki.tls("rogue")).code == "UNAVAILABLE"
        # A new server certificate is served once gRPC has seen it.
        pki.issue("server2", "pild-server-2", "ca", "subjectAltName=IP:127.0.0.1\n"
                  "extendedKeyUsage=serverAuth\n")
        os.replace(pki.path("server2.key"), pki.path("server.key.new"))
        with open(pki.path("server2.pem")) as f:
            cert = f.read()
        os.replace(pki.path("server.key.new"), pki.path("server.key"))
        with open(pki.path("server.pem"), "w") as f:
            f.write(cert)
        deadline = time.monotonic() + 20
        while server_name(pki, remote.port) != "pild-server-2":
            assert time.monotonic() < deadline, "the new certificate was never served"
            time.sleep(0.2)


def server_name(pki, port):
    """The CN of the certificate pild presents now."""
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    context.load_cert_chain(pki.path("controller.pem"), pki.path("controller.key"))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
            return subject["commonName"]


def test_plaintext_tcp_is_refused_unless_named_for_tests_and_then_identifies_nobody():
    port = free_port()
    work = scratch_dir("plain-")
    base = [binary("server/pild"), "--sim=unix:" + os.path.join(work, "pilsim.sock"),
            "--audit-db=" + os.path.join(work, "audit.db")]
    for listen, expected in [
            ("127.0.0.1:%d" % port, "without mutual TLS"),
            ("localhost:%d" % port, "host names are not accepted"),
            ("127.anything.example:443", "host names are not accepted"),
            ("127.0.0.1:99999", "neither unix:PATH nor a literal IP:PORT")]:
        result = subprocess.run(base + ["--listen=" + listen], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 2, listen
        assert expected in result.stderr, (listen, result.stderr)
    # With the flag: TCP callers are nobody, and denied everything.
    plain = Pild("--insecure-plaintext-tcp")
    plain.args[1] += ",127.0.0.1:%d" % port
    with plain as server, server.client() as local:
        assert "PLAINTEXT TCP" in server.output()
        assert local.info().admission.plaintext_tcp
        with pild.connect("127.0.0.1:%d" % port, 5) as remote:
            with pytest.raises(pild.PildError) as denied:
                remote.list()
        assert denied.value.code == "PERMISSION_DENIED"


def test_bad_tls_material_stops_pild_naming_the_file(pki):
    work = scratch_dir("badtls-")
    base = [binary("server/pild"), "--sim=unix:" + os.path.join(work, "pilsim.sock"),
            "--audit-db=" + os.path.join(work, "audit.db"),
            "--listen=unix:%s/p.sock,127.0.0.1:%d" % (work, free_port())]
    result = subprocess.run(base + ["--tls-cert=" + pki.path("server.pem"),
                                    "--tls-key=" + pki.path("controller.key"),
                                    "--tls-client-ca=" + pki.path("ca.pem")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "is not the private key of the certificate" in result.stderr
    result = subprocess.run(base + ["--tls-cert=" + pki.path("server.pem")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "go together" in result.stderr
    Pild(directory=work).stop_sim()
