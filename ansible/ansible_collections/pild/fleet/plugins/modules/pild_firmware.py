#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pild authors

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pild_firmware
short_description: An image in a host's pild upload store, by SHA-256
description:
  - Makes an image present in (or absent from) the upload store of a host's pild, identified by
    the SHA-256 of its file. A coprocessor is then started from it with
    M(pild.fleet.pild_coprocessor) C(upload_sha256).
  - Uploads only when pild holds no upload with that SHA-256; pild validates the image before
    it keeps it.
version_added: 0.1.0
author:
  - pild authors (@pild)
options:
  sha256:
    description:
      - The SHA-256 (64 hex digits) of the image file. With C(state=present) the file at C(src)
        must have it, or the task fails naming the expected and the found digest.
    type: str
    required: true
  src:
    description:
      - Path of the image file, read where the module runs. With Ansible's usual ssh connection
        that is the managed host, so copy the image there first (M(ansible.builtin.copy)), or run
        the task on the controller (C(delegate_to) localhost) with a TCP C(endpoint) and mutual
        TLS.
      - Required with C(state=present).
      - A regular file of at most pild's largest upload (GetInfo's
        C(capabilities.max_upload_size), 512 MiB by default); it is read only when it must be
        uploaded, after its SHA-256 has been checked.
    type: path
  name:
    description:
      - The name pild records for the upload (default, the base name of C(src)).
    type: str
  state:
    description:
      - C(present) uploads the image when pild lacks it; C(absent) deletes the upload (pild
        refuses with C(UPLOAD_IN_USE) while a coprocessor runs it).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - pild.fleet.connection
notes:
  - Check mode reports whether the upload would be made or deleted, and makes no change.
'''

EXAMPLES = r'''
- name: Copy the new CDSP image to the host
  ansible.builtin.copy:
    src: files/cdsp-2.mbn
    dest: /var/tmp/cdsp-2.mbn
    mode: "0644"

- name: Make it present in pild's upload store
  pild.fleet.pild_firmware:
    src: /var/tmp/cdsp-2.mbn
    sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
  register: upload

- name: Forget it
  pild.fleet.pild_firmware:
    sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    state: absent
'''

RETURN = r'''
sha256:
  description: The upload's SHA-256, for M(pild.fleet.pild_coprocessor) C(upload_sha256).
  returned: always
  type: str
size:
  description: The image's size in bytes.
  returned: when present
  type: int
uploaded:
  description: True when this task uploaded the image (false in check mode).
  returned: always
  type: bool
report:
  description:
    - A summary of pild's validation of the image (C(ok), C(version), C(metadata_sha256) - the
      image identity a running coprocessor reports -, C(hash_algorithm), C(problems)).
    - From the upload's answer, or from an inspection of the upload already held.
  returned: when the upload is present after the task
  type: dict
'''

import hashlib
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pild.fleet.plugins.module_utils.pild_common import (
    CONNECTION_SPEC, CONNECTION_TOGETHER, PildError, checked_sha256, connect, fail_with,
    report_facts)

CHUNK = 1 << 20


def open_image(module, path):
    """(an open file, its size) for `path`, which must be a regular file. The
    file is opened without blocking, so that a FIFO is refused, not waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        module.fail_json(msg="cannot read src %s on the host the module runs on: %s" % (path, e))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        module.fail_json(msg="src %s is not a regular file" % path)
    return os.fdopen(fd, "rb"), info.st_size


def check_size(module, path, size, limit):
    """Fails `module` when `size` exceeds pild's `limit` (0: none given)."""
    if limit and size > limit:
        module.fail_json(msg="src %s is %d bytes; pild accepts at most %d" % (path, size, limit),
                         size=size, max_upload_size=limit)


def sha256_of(module, f, path):
    """The SHA-256 (hex) of the open file `f`, read in chunks from its start."""
    digest = hashlib.sha256()
    f.seek(0)
    try:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    except (IOError, OSError) as e:
        module.fail_json(msg="cannot read src %s on the host the module runs on: %s" % (path, e))
    return digest.hexdigest()


def verified(module, found, expected, path):
    if found != expected:
        module.fail_json(msg="src %s has SHA-256 %s, expected %s" % (path, found, expected),
                         expected_sha256=expected, found_sha256=found)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_SPEC,
            sha256=dict(type="str", required=True),
            src=dict(type="path"),
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[["state", "present", ["src"]]],
        required_together=CONNECTION_TOGETHER,
        supports_check_mode=True)
    p = module.params
    sha256 = checked_sha256(module, p["sha256"], "sha256")
    image, size = open_image(module, p["src"]) if p["state"] == "present" else (None, None)

    client = connect(module)
    result = dict(changed=False, sha256=sha256, uploaded=False)
    try:
        if p["state"] == "absent":
            result["changed"] = any(u.sha256 == sha256 for u in client.uploads())
            if result["changed"] and not module.check_mode:
                client.delete_upload(sha256)
            module.exit_json(**result)
        check_size(module, p["src"], size, client.info().capabilities.max_upload_size)
        verified(module, sha256_of(module, image, p["src"]), sha256, p["src"])
        result["size"] = size
        if any(u.sha256 == sha256 for u in client.uploads()):
            result["report"] = report_facts(client.inspect(upload=sha256))
            module.exit_json(**result)
        result["changed"] = True
        if not module.check_mode:
            image.seek(0)
            data = image.read(size + 1)
            # The file may have changed since it was hashed.
            verified(module, hashlib.sha256(data).hexdigest(), sha256, p["src"])
            response = client.upload(data, name=p["name"] or os.path.basename(p["src"]))
            result["uploaded"] = True
            result["report"] = report_facts(response.report)
    except PildError as e:
        fail_with(module, e, "%s of upload %s" % (
            "upload" if p["state"] == "present" else "deletion", sha256), **result)
    finally:
        client.close()
        if image is not None:
            image.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
