#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pild authors

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pild_coprocessor
short_description: The desired state of a coprocessor on a host's pild, with a health gate and rollback
description:
  - Brings a coprocessor to C(running) with a given image, C(stopped), or C(restarted).
  - Idempotent. Running with the wanted image already is no change; running another image is a
    stop, then a start of the wanted one. Images are compared by pild's image identity (the
    SHA-256 of the image's metadata, which commits to every segment), so the same image from an
    upload or from a firmware name is the same image.
  - Before stopping anything, pild inspects the wanted image against the coprocessor (its
    structure, hash table, signatures, carveout and identity); an image that would not start
    fails the task and nothing is changed.
  - After a start, a health gate (C(health_seconds)) requires the coprocessor to stay C(running)
    with its crash count unchanged (a crash that pild's recovery policy restarted from still
    counts). On a failed start or health gate, with C(rollback), the coprocessor is stopped and
    the image that ran before is started again (by its source, an upload or a firmware name),
    or it is left stopped when none ran before; the task fails with pild's reason and says what
    it rolled back to.
  - Check mode makes no change. From C(offline) it asks pild for a dry-run Start (every check a
    Start makes short of the secure world); from another state, where a dry run would be refused
    as the wrong state, it relies on the inspection. It reports C(changed) when the task would
    change something.
  - With C(--diff), the state and the image (sha256, version, source) before and after.
version_added: 0.1.0
author:
  - pild authors (@pild)
options:
  name:
    description:
      - The coprocessor, as pild names it (C(adsp), C(cdsp), C(video), ...).
    type: str
    required: true
  state:
    description:
      - C(running) with the wanted image; C(stopped) (offline); C(restarted) stops it when it
        runs and starts it again, always a change.
    type: str
    choices: [running, stopped, restarted]
    default: running
  upload_sha256:
    description:
      - Run the upload with this SHA-256 (see M(pild.fleet.pild_firmware)).
      - Neither C(upload_sha256) nor C(firmware) means pild's default for the coprocessor (its
        device-tree firmware name); with C(state=restarted), the image it runs now.
    type: str
  firmware:
    description:
      - Run this firmware name, relative to pild's firmware directories
        (for example C(qcom/sdm845/cdsp.mbn)).
    type: str
  ready_timeout:
    description:
      - Seconds pild waits for the coprocessor to report ready after its reset (pild's default,
        5 s, when unset).
    type: float
  health_seconds:
    description:
      - After a start, seconds during which the coprocessor must stay C(running) with no new
        crash. 0 checks once, right after the start.
    type: float
    default: 0
  rollback:
    description:
      - On a failed start or health gate, stop the coprocessor and start the image that ran before
        (or leave it stopped when none ran).
    type: bool
    default: true
extends_documentation_fragment:
  - pild.fleet.connection
'''

EXAMPLES = r'''
- name: CDSP runs the uploaded image, healthy for 30 s, or goes back to what it ran
  pild.fleet.pild_coprocessor:
    name: cdsp
    upload_sha256: "{{ cdsp_image_sha256 }}"
    health_seconds: 30

- name: CDSP runs pild's default image
  pild.fleet.pild_coprocessor:
    name: cdsp

- name: ADSP from a firmware name
  pild.fleet.pild_coprocessor:
    name: adsp
    firmware: qcom/sm8250/adsp.mbn

- name: Video codec stopped
  pild.fleet.pild_coprocessor:
    name: video
    state: stopped
'''

RETURN = r'''
name:
  description: The coprocessor.
  returned: always
  type: str
state:
  description: Its state after the task (as predicted in check mode).
  returned: always
  type: str
  sample: running
previous:
  description: State and image (sha256, version, source, upload_sha256) before the task.
  returned: always
  type: dict
  sample: {"state": "running", "image": {"source": "qcom/sdm845/cdsp.mbn", "sha256": "4f2c...",
           "version": "CDSP.HT.2.0", "upload_sha256": null}}
current:
  description: State and image after the task (as predicted in check mode).
  returned: always
  type: dict
rolled_back:
  description: True when a failed start or health gate was rolled back.
  returned: always
  type: bool
dry_run:
  description: The checks of pild's dry-run Start, in check mode from C(offline).
  returned: in check mode, when pild ran a dry run
  type: list
  elements: str
health:
  description: The health gate's verdict, C(seconds) and C(crash_count) at the start.
  returned: after a start
  type: dict
error:
  description: pild's error (code, reason, message, metadata) of a failed task.
  returned: on failure from pild
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pild.fleet.plugins.module_utils.pild_common import (
    CONNECTION_SPEC, CONNECTION_TOGETHER, PildError, connect, describe, error_facts, fail_with,
    image_facts, pild)

DIFF_IMAGE_KEYS = ("sha256", "version", "source", "upload_sha256")


def snapshot(c):
    """State and image of a pil.v1.Coprocessor, as the diff shows them."""
    image = image_facts(c.image if c.HasField("image") else None)
    if image is not None:
        image = dict((k, image[k]) for k in DIFF_IMAGE_KEYS)
    return dict(state=pild.state_name(c.state), image=image)


def source_of(text):
    """Client.start keyword arguments for a LoadedImage.source."""
    if text.startswith("upload:"):
        return dict(upload=text[len("upload:"):])
    return dict(firmware=text)


def wanted_source(p, current):
    """(start keyword arguments, the source as pild will record it, or None
    when pild's default is unknown)."""
    if p["upload_sha256"]:
        sha = p["upload_sha256"].strip().lower()
        return dict(upload=sha), "upload:" + sha
    if p["firmware"]:
        return dict(firmware=p["firmware"]), p["firmware"]
    if p["state"] == "restarted" and current.HasField("image") and current.image.source:
        return source_of(current.image.source), current.image.source
    default = current.firmware_names[0] if current.firmware_names else None
    return {}, default


class Task(object):
    """One run of the module against one coprocessor."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.name = self.p["name"]

    def exit(self, before, after, **result):
        result.update(name=self.name, state=after["state"], previous=before, current=after)
        result.setdefault("rolled_back", False)
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        self.module.exit_json(**result)

    def fail(self, msg, before, after, **result):
        result.update(name=self.name, state=after["state"], previous=before, current=after)
        result.setdefault("rolled_back", False)
        if self.module._diff:
            result["diff"] = dict(before=before, after=after)
        self.module.fail_json(msg=msg, **result)

    def now(self):
        return snapshot(self.client.get(self.name))

    def run(self):
        current = self.client.get(self.name)
        before = snapshot(current)
        if self.p["state"] == "stopped":
            return self.stopped(current, before)
        kwargs, source = wanted_source(self.p, current)
        report = None
        if source is not None:
            inspect_kwargs = kwargs or dict(firmware=source)
            report = self.client.inspect(coprocessor=self.name, **inspect_kwargs)
        want = dict(state="running", image=None if report is None else dict(
            sha256=report.metadata_sha256, version=report.image_version, source=source,
            upload_sha256=kwargs.get("upload")))
        if (self.p["state"] == "running" and current.state == pild.pb.STATE_RUNNING
                and report is not None and current.image.sha256 == report.metadata_sha256):
            return self.exit(before, before, changed=False)
        if report is not None and not report.ok:
            first = report.problems[0] if report.problems else None
            self.fail("%s would not start %s: %s: %s; nothing changed" % (
                self.name, source, first.reason if first else "IMAGE_INVALID",
                first.message if first else "pild's inspection failed"),
                before, before, changed=False,
                error=dict(code="", reason=first.reason if first else "IMAGE_INVALID",
                           message=first.message if first else "", metadata={}))
        if self.module.check_mode:
            result = dict(changed=True)
            if current.state == pild.pb.STATE_OFFLINE:
                response = self.client.start(self.name, dry_run=True,
                                             ready_timeout=self.p["ready_timeout"], **kwargs)
                result["dry_run"] = ["%s: %s" % (s.name, s.detail) if s.detail else s.name
                                     for s in response.steps]
            return self.exit(before, want, **result)
        return self.start(current, before, kwargs, source)

    def stopped(self, current, before):
        if current.state == pild.pb.STATE_OFFLINE:
            return self.exit(before, before, changed=False)
        if self.module.check_mode:
            return self.exit(before, dict(state="offline", image=None), changed=True)
        self.client.stop(self.name)
        return self.exit(before, self.now(), changed=True)

    def start(self, current, before, kwargs, source):
        previous = before["image"] if current.state == pild.pb.STATE_RUNNING else None
        if current.state != pild.pb.STATE_OFFLINE:
            self.client.stop(self.name)
        baseline = self.client.get(self.name).crash_count
        health = dict(seconds=self.p["health_seconds"], crash_count=baseline)
        error = None
        try:
            self.client.start(self.name, ready_timeout=self.p["ready_timeout"], **kwargs)
        except PildError as e:
            error = error_facts(e)
            failure = "start of %s failed: %s" % (source or "pild's default", describe(e))
        else:
            failure, error = self.health_gate(baseline)
            if failure:
                failure = "%s failed the health gate: %s" % (source or "pild's default", failure)
        if failure is None:
            health["passed"] = True
            return self.exit(before, self.now(), changed=True, health=health)
        health["passed"] = False
        if not self.p["rollback"]:
            self.fail("%s: %s; left as it is (rollback: false)" % (self.name, failure),
                      before, self.now(), changed=True, health=health, error=error)
        rolled_back, what = self.roll_back(previous)
        self.fail("%s: %s; %s" % (self.name, failure, what), before, self.now(), changed=True,
                  health=health, error=error, rolled_back=rolled_back)

    def health_gate(self, baseline):
        """(None, None) when the coprocessor stays RUNNING with `baseline`
        crashes for health_seconds; else (what went wrong, pild's last error)."""
        deadline = time.monotonic() + max(0.0, self.p["health_seconds"])
        while True:
            c = self.client.get(self.name)
            if c.state != pild.pb.STATE_RUNNING or c.crash_count != baseline:
                reason = c.last_error.reason or "NOT_RUNNING"
                return ("%s: %s (state %s, %d crash%s since the start)" % (
                    reason, c.last_error.message or "not running", pild.state_name(c.state),
                    c.crash_count - baseline, "" if c.crash_count - baseline == 1 else "es"),
                    dict(code="", reason=reason, message=c.last_error.message, metadata={}))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None
            time.sleep(min(0.1, remaining))

    def roll_back(self, previous):
        """Stops the coprocessor and starts `previous` (a snapshot's image)
        again; returns (done, what was done)."""
        try:
            self.client.stop(self.name)
        except PildError as e:
            return False, "rollback failed: stop: %s" % describe(e)
        if previous is None:
            return True, "rolled back to stopped (no image ran before)"
        try:
            self.client.start(self.name, ready_timeout=self.p["ready_timeout"],
                              **source_of(previous["source"]))
        except PildError as e:
            return False, "rollback to %s failed: %s; left stopped" % (
                previous["source"], describe(e))
        return True, "rolled back to %s (sha256 %s), running again" % (
            previous["source"], previous["sha256"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_SPEC,
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["running", "stopped", "restarted"],
                       default="running"),
            upload_sha256=dict(type="str"),
            firmware=dict(type="str"),
            ready_timeout=dict(type="float"),
            health_seconds=dict(type="float", default=0),
            rollback=dict(type="bool", default=True),
        ),
        mutually_exclusive=[["upload_sha256", "firmware"]],
        required_together=CONNECTION_TOGETHER,
        supports_check_mode=True)
    client = connect(module)
    try:
        Task(module, client).run()
    except PildError as e:
        fail_with(module, e, "%s of %s" % (module.params["state"], module.params["name"]))
    finally:
        client.close()


if __name__ == "__main__":
    main()
