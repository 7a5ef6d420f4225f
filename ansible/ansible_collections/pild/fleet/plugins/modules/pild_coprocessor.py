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
    the wanted image (by its identity) with its crash count unchanged (a crash that pild's
    recovery policy restarted from still counts) and pild not to restart (its C(epoch), since a
    restarted pild counts crashes from 0 again). A last error is reported only when it is newer
    than the start.
  - Rollback (C(rollback)) goes back to the image the coprocessor held before, in any state but
    C(offline) (running, crashed, recovering, ...), or to stopped when it held none. Before
    stopping anything, pild inspects that image's source (its upload or firmware name) against
    the coprocessor; when the source is gone (uploads live in pild's memory and can be evicted
    or deleted) or now holds another image, the task fails with C(rollback impossible) and
    nothing is changed. On a failed start or health gate (pild's errors on the way included),
    the coprocessor is stopped (tried again while pild answers C(BUSY), C(WRONG_STATE) or
    C(DEADLINE_EXCEEDED), up to C(timeout) seconds) and the previous image started again by its
    source; the task fails with pild's reason and says what it rolled back to, and whether the
    image then running is the previous one. With C(state=restarted) and no image given, the
    rollback restarts that same image.
  - Once the first stop is issued, the task reports C(changed), also when it fails.
  - Check mode makes no change. From C(offline) it asks pild for a dry-run Start (every check a
    Start makes short of the secure world, the caller's Start permission and leases included);
    from another state, where a dry run would be refused as the wrong state, it relies on the
    inspections, which check neither the Start permission nor leases. It reports C(changed) when
    the task would change something.
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
      - Run the upload with this SHA-256, 64 hex digits (see M(pild.fleet.pild_firmware)).
      - Neither C(upload_sha256) nor C(firmware) means pild's default for the coprocessor (its
        device-tree firmware name); with C(state=restarted), the image it runs now.
      - Not with C(state=stopped).
    type: str
  firmware:
    description:
      - Run this firmware name, relative to pild's firmware directories
        (for example C(qcom/sdm845/cdsp.mbn)). Not with C(state=stopped).
    type: str
  ready_timeout:
    description:
      - Seconds pild waits for the coprocessor to report ready after its reset (pild's default,
        5 s, when unset).
    type: float
  health_seconds:
    description:
      - After a start, seconds during which the coprocessor must stay C(running) the wanted image
        with no new crash, and pild must not restart. 10 when unset; 0 checks once, right after
        the start; a negative number is refused. Not with C(state=stopped).
    type: float
  rollback:
    description:
      - On a failed start or health gate, stop the coprocessor and start the image it held before
        (or leave it stopped when it held none). The task fails, nothing changed, when that image
        could not be started again.
      - C(false) changes the coprocessor without a way back, and leaves it as the failure did.
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
  description: The health gate's verdict (C(passed)), C(seconds) and C(crash_count) at the start.
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
    CONNECTION_SPEC, CONNECTION_TOGETHER, PildError, checked_sha256, connect, describe,
    error_facts, fail_with, image_facts, pild)

DIFF_IMAGE_KEYS = ("sha256", "version", "source", "upload_sha256")
DEFAULT_HEALTH_SECONDS = 10.0
# A rollback's stop is tried again on these reasons (a transition still in
# flight, pild busy) until the module's timeout has passed.
STOP_RETRIED = ("BUSY", "WRONG_STATE", "DEADLINE_EXCEEDED")
NOT_FOR_STOPPED = ("upload_sha256", "firmware", "health_seconds")


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
        return dict(upload=p["upload_sha256"]), "upload:" + p["upload_sha256"]
    if p["firmware"]:
        return dict(firmware=p["firmware"]), p["firmware"]
    if p["state"] == "restarted" and current.HasField("image") and current.image.source:
        return source_of(current.image.source), current.image.source
    default = current.firmware_names[0] if current.firmware_names else None
    return {}, default


def error_summary(c):
    """(reason, message, time) of a Coprocessor's last error; None without one."""
    if not c.HasField("last_error") or not c.last_error.reason:
        return None
    return (c.last_error.reason, c.last_error.message, c.last_error.time.ToNanoseconds())


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "es")


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
        """The coprocessor's snapshot; state "unknown" when pild cannot tell."""
        try:
            return snapshot(self.client.get(self.name))
        except PildError as e:
            return dict(state="unknown", image=None, error=describe(e))

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
        previous = self.rollback_target(current, before) if self.p["rollback"] else None
        if self.module.check_mode:
            result = dict(changed=True)
            if current.state == pild.pb.STATE_OFFLINE:
                response = self.client.start(self.name, dry_run=True,
                                             ready_timeout=self.p["ready_timeout"], **kwargs)
                result["dry_run"] = ["%s: %s" % (s.name, s.detail) if s.detail else s.name
                                     for s in response.steps]
            return self.exit(before, want, **result)
        return self.start(current, before, kwargs, source, report, previous)

    def rollback_target(self, current, before):
        """The image to roll back to: the one the coprocessor holds now, in
        any state but offline (running, crashed, recovering, ...), None when
        it holds none. Fails the task, nothing changed, unless pild can still
        start that image from its source: the source must be found and hold
        the same image (by pild's image identity) in a form that verifies."""
        if current.state == pild.pb.STATE_OFFLINE or before["image"] is None:
            return None
        previous = before["image"]
        source = previous["source"]

        def impossible(why, error=None):
            self.fail("%s: rollback impossible: %s; nothing changed (rollback: false goes ahead "
                      "without a way back)" % (self.name, why), before, before, changed=False,
                      error=error)
        try:
            report = self.client.inspect(coprocessor=self.name, **source_of(source))
        except PildError as e:
            impossible("the image it holds (sha256 %s) cannot be loaded again from %s: %s"
                       % (previous["sha256"], source, describe(e)), error_facts(e))
        if report.metadata_sha256 != previous["sha256"]:
            impossible("%s now holds another image (sha256 %s, not the %s it holds)"
                       % (source, report.metadata_sha256, previous["sha256"]))
        if not report.ok:
            first = report.problems[0] if report.problems else None
            impossible("the image it holds would not start again from %s: %s" % (
                source, "%s: %s" % (first.reason, first.message) if first else "IMAGE_INVALID"))
        return previous

    def stopped(self, current, before):
        if current.state == pild.pb.STATE_OFFLINE:
            return self.exit(before, before, changed=False)
        if self.module.check_mode:
            return self.exit(before, dict(state="offline", image=None), changed=True)
        self.client.stop(self.name)
        return self.exit(before, self.now(), changed=True)

    def start(self, current, before, kwargs, source, report, previous):
        """Stops the coprocessor, starts the wanted image and runs the health
        gate. From the first stop on, any failure (pild's errors included)
        is `changed` and rolled back."""
        label = source or "pild's default"
        health = dict(seconds=self.p["health_seconds"], passed=False)
        failure, error, last = None, None, None
        if current.state != pild.pb.STATE_OFFLINE:
            try:
                self.client.stop(self.name)
            except PildError as e:
                if self.now() == before:  # refused, as LEASED: nothing happened
                    fail_with(self.module, e, "stop of %s" % self.name, changed=False,
                              name=self.name, state=before["state"], previous=before,
                              current=before, rolled_back=False)
                failure, error = "stop failed: %s" % describe(e), error_facts(e)
        if failure is None:
            step = "reading %s before the start" % self.name
            try:
                baseline = self.client.get(self.name)
                epoch = self.client.info().epoch
                health["crash_count"] = baseline.crash_count
                step = "start of %s" % label
                self.client.start(self.name, ready_timeout=self.p["ready_timeout"], **kwargs)
                step = "health gate of %s" % label
                failure, error, last = self.health_gate(
                    baseline, epoch, report.metadata_sha256 if report is not None else None)
                if failure:
                    failure = "%s failed the health gate: %s" % (label, failure)
            except PildError as e:
                failure, error = "%s failed: %s" % (step, describe(e)), error_facts(e)
        if failure is None:
            health["passed"] = True
            return self.exit(before, snapshot(last), changed=True, health=health)
        if not self.p["rollback"]:
            self.fail("%s: %s; left as it is (rollback: false)" % (self.name, failure),
                      before, self.now(), changed=True, health=health, error=error)
        rolled_back, what = self.roll_back(previous)
        self.fail("%s: %s; %s" % (self.name, failure, what), before, self.now(), changed=True,
                  health=health, error=error, rolled_back=rolled_back)

    def health_gate(self, baseline, epoch, wanted_sha256):
        """(None, None, the Coprocessor last read) when, for health_seconds,
        the coprocessor stays RUNNING the wanted image with `baseline`'s
        crash count and pild keeps its `epoch` (a restarted pild counts
        crashes from 0 again); else (what went wrong, its error facts, the
        Coprocessor). Only a last error newer than `baseline`'s is reported."""
        deadline = time.monotonic() + self.p["health_seconds"]
        while True:
            c = self.client.get(self.name)
            crashes = c.crash_count - baseline.crash_count
            if c.state != pild.pb.STATE_RUNNING or crashes != 0:
                last_error = error_summary(c)
                if last_error == error_summary(baseline):
                    last_error = None  # from before this start
                reason = (last_error[0] if last_error else
                          "NOT_RUNNING" if c.state != pild.pb.STATE_RUNNING else "CRASHED")
                message = last_error[1] if last_error else "no error reported since the start"
                return ("%s: %s (state %s, %s since the start)" % (
                    reason, message, pild.state_name(c.state), plural(crashes, "crash")),
                    dict(code="", reason=reason, message=message, metadata={}), c)
            if wanted_sha256 and c.image.sha256 != wanted_sha256:
                message = "it runs the image with sha256 %s, not the wanted %s" % (
                    c.image.sha256, wanted_sha256)
                return ("IMAGE_MISMATCH: " + message,
                        dict(code="", reason="IMAGE_MISMATCH", message=message, metadata={}), c)
            now_epoch = self.client.info().epoch
            if now_epoch != epoch:
                message = ("pild restarted (epoch %s, now %s): crashes before it are not "
                           "counted" % (epoch, now_epoch))
                return ("PILD_RESTARTED: " + message,
                        dict(code="", reason="PILD_RESTARTED", message=message, metadata={}), c)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None, c
            time.sleep(min(0.2, remaining))

    def stop_retrying(self):
        """Stops the coprocessor, trying again with backoff while pild answers
        BUSY, WRONG_STATE or DEADLINE_EXCEEDED, until `timeout` seconds have
        passed; returns None when stopped, else pild's last error (text)."""
        deadline = time.monotonic() + self.p["timeout"]
        delay = 0.1
        while True:
            try:
                self.client.stop(self.name)
                return None
            except PildError as e:
                retried = e.reason in STOP_RETRIED or e.code == "DEADLINE_EXCEEDED"
                if not retried or time.monotonic() + delay > deadline:
                    return describe(e)
            time.sleep(delay)
            delay = min(2 * delay, 2.0)

    def roll_back(self, previous):
        """Stops the coprocessor and starts `previous` (a snapshot's image)
        again, checking it runs that very image; returns (done, what was done)."""
        error = self.stop_retrying()
        if error is not None:
            return False, "rollback failed: stop: %s; %s is %s" % (
                error, self.name, self.now()["state"])
        if previous is None:
            return True, "rolled back to stopped (no image ran before)"
        try:
            self.client.start(self.name, ready_timeout=self.p["ready_timeout"],
                              **source_of(previous["source"]))
            running = self.client.get(self.name).image.sha256
        except PildError as e:
            return False, "rollback to %s failed: %s; %s is %s" % (
                previous["source"], describe(e), self.name, self.now()["state"])
        if running != previous["sha256"]:
            return False, ("rollback to %s started the image with sha256 %s, not the %s that "
                           "ran before" % (previous["source"], running, previous["sha256"]))
        return True, "rolled back to %s (sha256 %s), running again" % (
            previous["source"], previous["sha256"])


def checked_params(module):
    """Fails `module` on options that cannot go together or out of range;
    fills in health_seconds' default."""
    p = module.params
    if p["state"] == "stopped":
        given = [k for k in NOT_FOR_STOPPED if p[k] is not None]
        if given:
            module.fail_json(msg="%s: not for state=stopped, which runs no image"
                                 % ", ".join(given))
    if p["upload_sha256"] is not None:
        p["upload_sha256"] = checked_sha256(module, p["upload_sha256"], "upload_sha256")
    if p["health_seconds"] is None:
        p["health_seconds"] = DEFAULT_HEALTH_SECONDS
    elif p["health_seconds"] < 0:
        module.fail_json(msg="health_seconds must be 0 or more seconds, got %s"
                             % p["health_seconds"])
    if p["ready_timeout"] is not None and p["ready_timeout"] <= 0:
        module.fail_json(msg="ready_timeout must be a number of seconds > 0, got %s"
                             % p["ready_timeout"])


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
            health_seconds=dict(type="float"),
            rollback=dict(type="bool", default=True),
        ),
        mutually_exclusive=[["upload_sha256", "firmware"]],
        required_together=CONNECTION_TOGETHER,
        supports_check_mode=True)
    checked_params(module)
    client = connect(module)
    try:
        Task(module, client).run()
    except PildError as e:
        fail_with(module, e, "%s of %s" % (module.params["state"], module.params["name"]))
    finally:
        client.close()


if __name__ == "__main__":
    main()
