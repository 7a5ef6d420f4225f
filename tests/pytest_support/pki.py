"""Test PKIs made with the openssl command: CAs, pild's certificate and
client certificates (good, from another CA, expired), and a free TCP port on
127.0.0.1 for pild to listen on. Used by //tests/e2e:tls_test and the
Ansible collection's tests."""

import os
import socket
import subprocess

import pild
from pildtest import scratch_dir

CA_CONFIG = """
[ca]
default_ca = test
[test]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
default_md = sha256
policy = any
[any]
commonName = supplied
[client]
extendedKeyUsage = clientAuth
"""


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


class Pki:
    """A directory of PEM files: CAs, pild's certificate, client certificates."""

    def __init__(self):
        self.dir = scratch_dir("pki-")
        self.ca("ca", "pild test CA")
        self.ca("other-ca", "some other CA")
        self.issue("server", "pild-server", "ca", "subjectAltName=IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n")
        self.issue("controller", "fleet-controller", "ca")
        self.issue("observer", "fleet-observer", "ca")
        self.issue("rogue", "fleet-controller", "other-ca")
        self.expired("expired", "fleet-controller")

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", name + ".key", cwd=self.dir)

    def ca(self, name, cn):
        self.key(name)
        openssl("req", "-x509", "-new", "-key", name + ".key", "-out", name + ".pem",
                "-days", "30", "-subj", "/CN=" + cn, cwd=self.dir)

    def issue(self, name, cn, ca, extensions="extendedKeyUsage=clientAuth\n"):
        self.key(name)
        openssl("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                cwd=self.dir)
        with open(self.path(name + ".ext"), "w") as f:
            f.write(extensions)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "30",
                "-extfile", name + ".ext", cwd=self.dir)

    def expired(self, name, cn):
        """Signed by the good CA, valid only in January 2020."""
        db = self.path("ca-db")
        os.makedirs(os.path.join(db, "issued"))
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("01\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write(CA_CONFIG.format(dir=db))
        self.key(name)
        openssl("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                cwd=self.dir)
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", name + ".csr", "-out", name + ".pem", "-extensions", "client",
                "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", cwd=self.dir)

    def tls(self, name):
        if name is None:
            return None
        return pild.Tls(cert=self.path(name + ".pem"), key=self.path(name + ".key"),
                        ca=self.path("ca.pem"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
