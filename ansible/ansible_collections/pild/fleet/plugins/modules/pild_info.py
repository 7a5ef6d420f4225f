#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pild authors

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pild_info
short_description: Facts of a host's pild and its coprocessors
description:
  - Reads what a host's pild reports about itself (version, epoch, backend, board) and about
    every coprocessor it drives (state, loaded image, crashes, last error).
  - Changes nothing.
version_added: 0.1.0
author:
  - pild authors (@pild)
options:
  names:
    description:
      - Report only these coprocessors (all when empty). An unknown name fails with
        C(UNKNOWN_COPROCESSOR).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - pild.fleet.connection
'''

EXAMPLES = r'''
- name: What runs on each host
  pild.fleet.pild_info:
  register: pild

- name: Show the CDSP's image
  ansible.builtin.debug:
    msg: "{{ (pild.coprocessors | selectattr('name', 'equalto', 'cdsp') | first).image }}"

- name: From the controller, over TCP with mutual TLS
  pild.fleet.pild_info:
    endpoint: "{{ inventory_hostname }}:7443"
    tls_cert: /etc/pild-fleet/controller.pem
    tls_key: /etc/pild-fleet/controller.key
    tls_ca: /etc/pild-fleet/pild-ca.pem
  delegate_to: localhost
'''

RETURN = r'''
endpoint:
  description: The address the module connected to.
  returned: always
  type: str
  sample: unix:/run/pild/pild.sock
version:
  description: pild's version.
  returned: always
  type: str
epoch:
  description: Random for each run of pild; it changes when pild restarts.
  returned: always
  type: str
backend:
  description: C(sim) or C(linux).
  returned: always
  type: str
board_model:
  description: The device tree's model.
  returned: always
  type: str
  sample: Thundercomm Dragonboard 845c
coprocessors:
  description: Every coprocessor (or those in C(names)), in device-tree order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The coprocessor's name.
      type: str
      sample: cdsp
    state:
      description: offline, authenticated, mapped, running, stopping, crashed or recovering.
      type: str
      sample: running
    image:
      description:
        - The loaded image; null when none is loaded.
        - C(sha256) is pild's image identity (the SHA-256 of the image's metadata, which commits
          to every segment); C(upload_sha256) the upload it came from (the file's SHA-256), null
          for a firmware name.
      type: dict
      sample:
        source: qcom/sdm845/cdsp.mbn
        sha256: 4f2c...
        version: CDSP.HT.2.0-00...
        upload_sha256: null
        hash_table_version: 5
        sw_id: 23
        anti_rollback_version: 0
    crash_count:
      description: Crashes since pild started.
      type: int
    last_error:
      description: The most recent failure (reason, message, operation, time); null when none.
      type: dict
    firmware_names:
      description: The device tree's firmware names, main image first.
      type: list
      elements: str
    kind:
      description: remoteproc or video_codec.
      type: str
    problems:
      description: Why the coprocessor cannot be booted, when it cannot.
      type: list
      elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pild.fleet.plugins.module_utils.pild_common import (
    CONNECTION_SPEC, CONNECTION_TOGETHER, PildError, connect, coprocessor_facts, fail_with, pild)


def main():
    module = AnsibleModule(
        argument_spec=dict(CONNECTION_SPEC, names=dict(type="list", elements="str", default=[])),
        required_together=CONNECTION_TOGETHER,
        supports_check_mode=True)
    client = connect(module)
    try:
        info = client.info()
        if module.params["names"]:
            coprocessors = [client.get(name) for name in module.params["names"]]
        else:
            coprocessors = client.list()
    except PildError as e:
        fail_with(module, e, "reading pild at %s" % client.address)
    finally:
        client.close()
    module.exit_json(
        changed=False, endpoint=client.address, version=info.version, epoch=info.epoch,
        backend=pild.enum_text(pild.pb.Backend, info.backend), board_model=info.board_model,
        coprocessors=[coprocessor_facts(c) for c in coprocessors])


if __name__ == "__main__":
    main()
