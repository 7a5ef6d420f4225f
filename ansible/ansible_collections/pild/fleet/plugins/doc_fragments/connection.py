# -*- coding: utf-8 -*-
# Copyright: pild authors
"""The connection options every pild.fleet module takes
(module_utils/pild_common.py CONNECTION_SPEC)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  endpoint:
    description:
      - pild's address, C(unix:/path/to/pild.sock) or C(host:port).
      - Default, as pild's own default where the module runs (C(pild.default_endpoint())),
        C(unix:$PILD_SOCKET) when that variable is set; else C(unix:/run/pild/pild.sock) for root;
        else, for other users, C(unix:$XDG_RUNTIME_DIR/pild/pild.sock) when that variable is
        set, or C(unix:/tmp/pild-UID/pild.sock).
      - A C(host:port) address needs C(tls_ca), C(tls_cert) and C(tls_key), since pild accepts
        TCP only with mutual TLS; without any C(tls_) option the task fails before connecting.
    type: str
  tls_cert:
    description:
      - PEM file of the client certificate for mutual TLS, on the host where the module runs.
    type: path
  tls_key:
    description:
      - PEM file of the client certificate's private key.
    type: path
  tls_ca:
    description:
      - PEM file of the CA that issued pild's certificate. Setting it (or any other C(tls_)
        option) makes the connection TLS.
    type: path
  tls_server_name:
    description:
      - The name pild's certificate is checked against, when it is not the address's host.
    type: str
  timeout:
    description:
      - Deadline of each call to pild, in seconds (transitions and uploads included).
    type: float
    default: 30.0
requirements:
  - The C(pild) Python package (pild's C(client/python)) and C(grpcio) on the host where the
    module runs; with the usual ssh connection that is the managed host.
notes:
  - "Errors are pild's own. A failed task's C(msg) names what failed, then pild's reason and
    message (for example C(running of nope failed: UNKNOWN_COPROCESSOR: ...); other reasons are
    C(LEASED), C(WRONG_STATE), C(SIGNATURE_INVALID), ...); C(error) holds code, reason, message
    and metadata."
'''
