# -*- coding: utf-8 -*-
# Copyright: pild authors
"""What every pild.fleet module shares: the connection options, connecting,
pild's errors as module failures, and coprocessors and images as plain data.

    from ansible_collections.pild.fleet.plugins.module_utils.pild_common import (
        CONNECTION_SPEC, connect, fail_with)

    module = AnsibleModule(argument_spec=dict(CONNECTION_SPEC, name=...), ...)
    client = connect(module)          # fails the module when pild or grpc is missing
    try:
        client.get(module.params["name"])
    except PildError as e:
        fail_with(module, e, "get cdsp")

The pild package (and grpcio, which it imports) must be importable by the
Python that runs the module: on the managed host with the usual ssh or local
connection. Ansible does not ship it with the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import traceback

PILD_IMPORT_ERROR = None
PILD_MISSING = None
try:
    __import__("grpc")  # pild needs it; its absence is named on its own
except ImportError:
    PILD_MISSING = "grpcio"
    PILD_IMPORT_ERROR = traceback.format_exc()
try:
    import pild
    from pild import PildError
except ImportError:
    pild = None
    PildError = Exception
    PILD_MISSING = PILD_MISSING or "pild"
    PILD_IMPORT_ERROR = PILD_IMPORT_ERROR or traceback.format_exc()

INSTALL_HINT = {
    "grpcio": "apt-get install python3-grpcio python3-protobuf (Debian's packages)",
    "pild": "on Debian, in a virtualenv that sees Debian's python3-grpcio and "
            "python3-protobuf: python3 -m venv --system-site-packages /opt/pild-venv; "
            "/opt/pild-venv/bin/pip install --no-index --no-build-isolation ./client/python "
            "(pild's source, client/python/README.md); then set the host's "
            "ansible_python_interpreter to /opt/pild-venv/bin/python. Not pip as root into "
            "the system's Python, which Debian manages (PEP 668)",
}

# The options of docs_fragments/connection.py, for every module's argument_spec.
CONNECTION_SPEC = dict(
    endpoint=dict(type="str"),
    tls_cert=dict(type="path"),
    tls_key=dict(type="path", no_log=False),
    tls_ca=dict(type="path"),
    tls_server_name=dict(type="str"),
    timeout=dict(type="float", default=30.0),
)
CONNECTION_TOGETHER = [["tls_cert", "tls_key"]]


def require_pild(module):
    """Fails `module`, naming the missing package and how to install it, when
    pild or grpcio cannot be imported by the Python running it."""
    if PILD_MISSING is None:
        return
    module.fail_json(
        msg="The Python package %s cannot be imported by %s on this host: %s. "
            "Install it where the module runs (the managed host, or the controller for "
            "tasks with connection: local): %s. See docs/ANSIBLE.md."
            % (PILD_MISSING, sys.executable, PILD_IMPORT_ERROR.strip().splitlines()[-1],
               INSTALL_HINT[PILD_MISSING]),
        missing_package=PILD_MISSING, exception=PILD_IMPORT_ERROR)


def connect(module):
    """A pild.Client for the module's connection options; fails the module
    when pild cannot be imported or the options are inconsistent."""
    require_pild(module)
    p = module.params
    tls = None
    if p["tls_cert"] or p["tls_key"] or p["tls_ca"] or p["tls_server_name"]:
        if not p["tls_ca"]:
            module.fail_json(msg="tls_ca is required with any other tls_ option: "
                                 "pild's certificate is checked against it")
        tls = pild.Tls(cert=p["tls_cert"], key=p["tls_key"], ca=p["tls_ca"],
                       server_name=p["tls_server_name"])
    if p["timeout"] is not None and p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a number of seconds > 0, got %s" % p["timeout"])
    endpoint = p["endpoint"] or pild.default_endpoint()
    if tls is None and not endpoint.startswith("unix:"):
        module.fail_json(msg="endpoint %s is TCP, and pild accepts TCP only with mutual TLS: "
                             "give tls_ca, tls_cert and tls_key (or a unix: endpoint)" % endpoint)
    try:
        return pild.connect(endpoint, timeout=p["timeout"], tls=tls,
                            transition_timeout=p["timeout"])
    except (OSError, ValueError) as e:
        module.fail_json(msg="cannot connect to pild at %s: %s" % (endpoint, e))


def checked_sha256(module, value, option):
    """`value` as 64 lowercase hex digits (surrounding blanks and upper case
    are accepted); fails `module`, naming `option`, when it is no SHA-256."""
    sha256 = value.strip().lower()
    if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
        module.fail_json(msg="%s must be a SHA-256, 64 hex digits; got %r" % (option, value))
    return sha256


def error_facts(error):
    """A PildError as data: code, reason, message, metadata."""
    return dict(code=error.code, reason=error.reason, message=error.message,
                metadata=dict(error.metadata))


def describe(error):
    """'REASON: message' of a PildError (the gRPC code when pild gave no reason)."""
    return "%s: %s" % (error.reason or error.code, error.message)


def fail_with(module, error, what, **result):
    """Fails `module` with pild's reason and message for `what` failing."""
    module.fail_json(msg="%s failed: %s" % (what, describe(error)),
                     error=error_facts(error), **result)


def image_facts(image):
    """A pil.v1.LoadedImage as data; None when the coprocessor holds none.
    `sha256` is pild's image identity (the SHA-256 of the metadata, the same
    for every file form); `upload_sha256` the upload it came from, if any."""
    if image is None or not image.source:
        return None
    upload = image.source[len("upload:"):] if image.source.startswith("upload:") else None
    return dict(source=image.source, sha256=image.sha256, version=image.version,
                upload_sha256=upload, hash_table_version=image.hash_table_version,
                sw_id=image.sw_id, anti_rollback_version=image.anti_rollback_version)


def coprocessor_facts(c):
    """A pil.v1.Coprocessor as data: name, state (text), image, crash_count,
    last_error, firmware_names."""
    last_error = None
    if c.HasField("last_error") and c.last_error.reason:
        last_error = dict(reason=c.last_error.reason, message=c.last_error.message,
                          operation=pild.enum_text(pild.pb.Operation, c.last_error.operation),
                          time=c.last_error.time.ToJsonString()
                          if c.last_error.HasField("time") else None)
    return dict(name=c.name, state=pild.state_name(c.state),
                image=image_facts(c.image if c.HasField("image") else None),
                crash_count=c.crash_count, last_error=last_error,
                firmware_names=list(c.firmware_names), kind=pild.enum_text(
                    pild.pb.CoprocessorKind, c.kind), problems=list(c.problems))


def report_facts(report):
    """A summary of a pil.v1.ImageReport: whether it verifies and what it is."""
    return dict(ok=report.ok, source=report.source, sha256=report.sha256,
                metadata_sha256=report.metadata_sha256, size=report.size,
                version=report.image_version, hash_table_version=report.version,
                hash_algorithm=pild.enum_text(pild.pb.HashAlgorithm, report.hash_algorithm),
                sw_id=report.identity.sw_id if report.HasField("identity") else None,
                problems=[dict(reason=p.reason, message=p.message) for p in report.problems])
