"""The pild the module tests run against: on the sim (SDM845, real firmware),
on its socket and on 127.0.0.1 with mutual TLS, with a writable firmware
directory searched before the real firmware."""

import pytest

from ansible_helpers import new_image
from pildtest import Pild, dtb, realdata, scratch_dir
from pki import Pki, free_port

POLICY = 'rule { certificate: "fleet-controller" role: ADMIN }\n'


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture(scope="module")
def server(pki):
    """pild on its socket and on 127.0.0.1 with mutual TLS; `firmware_dir`
    is searched first for firmware names."""
    policy = pki.path("policy.textproto")
    with open(policy, "w") as f:
        f.write(POLICY)
    tcp = "127.0.0.1:%d" % free_port()
    firmware_dir = scratch_dir("firmware-")
    s = Pild(dtb("sdm845-db845c"), "--firmware-path=%s:%s" % (firmware_dir, realdata("firmware")),
             "--policy=" + policy, "--tls-cert=" + pki.path("server.pem"),
             "--tls-key=" + pki.path("server.key"), "--tls-client-ca=" + pki.path("ca.pem"))
    s.args[1] += "," + tcp
    s.tcp = tcp
    s.firmware_dir = firmware_dir
    with s:
        yield s


@pytest.fixture
def client(server):
    """A client of `server`; cdsp offline, restarted after a crash, and no
    uploads before and after."""
    with server.client() as c:
        c.stop("cdsp")
        yield c
        c.update_recovery("cdsp", restart=True)
        c.stop("cdsp")
        for u in c.uploads():
            c.delete_upload(u.sha256)


@pytest.fixture(scope="module")
def image(server, tmp_path_factory):
    """(path, sha256) of the test-signed CDSP image."""
    with server.client() as c:
        return new_image(str(tmp_path_factory.mktemp("images")), c)
