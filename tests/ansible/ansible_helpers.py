"""Debian's ansible-core run on the pild.fleet collection under test, and the
images the collection's tests roll out.

Ansible runs with the collection from the runfiles (ANSIBLE_COLLECTIONS_PATH)
and its scratch files under the test's directory. Hosts use the local
connection: a module runs in a child of ansible-playbook and inherits its
environment, PYTHONPATH (and so the pild package) included.
"""

import hashlib
import json
import os
import subprocess
import tempfile

import pild
from pildtest import SW_ID, make_signed, realdata, runfile

COLLECTIONS = runfile("ansible")
EXAMPLES = runfile("ansible/examples")
PYTHON = "/usr/bin/python3"
# The image cdsp boots by default on SDM845 (the device tree's name for it).
OLD_IMAGE = "qcom/sdm845/cdsp.mbn"


def env(**overrides):
    """The environment for ansible and ansible-playbook."""
    base = os.environ["TEST_TMPDIR"]
    config = os.path.join(base, "ansible.cfg")
    if not os.path.exists(config):
        with open(config, "w") as f:
            f.write("# Ansible's defaults, not the machine's /etc/ansible/ansible.cfg\n")
    result = dict(os.environ)
    result.update(
        HOME=os.path.join(base, "home"),
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_LOCAL_TEMP=os.path.join(base, "ansible-local"),
        ANSIBLE_REMOTE_TEMP=os.path.join(base, "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_CONFIG=config,
    )
    result.update(overrides)
    return result


def new_image(directory, client, seed=7):
    """A test-signed CDSP image for the coprocessor `client` reports, in
    `directory`; returns (path, SHA-256 of the file).

    No second real image fits SDM845's CDSP: the real SM8250 CDSP image
    spans 0x1400000 bytes and the carveout has 0x800000 (IMAGE_TOO_LARGE).
    The simulated secure world trusts pild's test roots, so an image signed
    with them and CDSP's SW_ID boots like the real one."""
    cdsp = client.get("cdsp")
    path = make_signed(os.path.join(directory, "cdsp-new-%d.mbn" % seed),
                       cdsp.carveouts[0].base, 0x200000, SW_ID[cdsp.pas_id], seed=seed)
    return path, sha256_of(path)


def upload(client, path):
    """Uploads the file at `path`; returns its SHA-256."""
    with open(path, "rb") as f:
        return client.upload(f.read(), name=os.path.basename(path)).sha256


def newest_id(client):
    """The id of pild's newest audit record (0: none)."""
    entries = client.history(limit=1)
    return entries[0].id if entries else 0


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def too_large_image():
    """The real SM8250 CDSP image, which does not fit SDM845's CDSP carveout."""
    return "qcom/sm8250/cdsp.mbn", realdata("firmware/qcom/sm8250/cdsp.mbn")


def module(name, args, endpoint=None, check=False, diff=False, python=PYTHON, extra_env=None):
    """Runs pild.fleet.`name` once on a local host with `args` (and
    `endpoint`); returns (exit code, the task's result, and what ansible
    printed as its "_stdout")."""
    if endpoint is not None:
        args = dict(args, endpoint=endpoint)
    tree = tempfile.mkdtemp(prefix="tree-", dir=os.environ["TEST_TMPDIR"])
    command = ["ansible", "all", "-i", "target,", "-c", "local",
               "-e", json.dumps({"ansible_python_interpreter": python}),
               "-m", "pild.fleet." + name, "-a", json.dumps(args), "--tree", tree]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
        command.append("-vvv")  # or the result that --tree keeps has no diff
    process = subprocess.run(command, capture_output=True, text=True, timeout=120,
                             env=env(**(extra_env or {})))
    try:
        with open(os.path.join(tree, "target")) as f:
            result = json.load(f)
    except OSError:
        raise AssertionError("ansible left no result (exit %d):\n%s\n%s"
                             % (process.returncode, process.stdout, process.stderr))
    result["_stdout"] = process.stdout
    return process.returncode, result


def playbook(path, inventory, extra_vars, forks=10, timeout=600):
    """Runs ansible-playbook; returns the CompletedProcess (text)."""
    command = ["ansible-playbook", "-i", inventory, "-f", str(forks),
               "-e", json.dumps(extra_vars), path]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env())


def write_inventory(path, hosts, host_vars=None):
    """An INI inventory of group `pild`: {host: endpoint}, local connection,
    and `host_vars` ({host: {name: value}}) besides."""
    with open(path, "w") as f:
        f.write("[pild]\n")
        for host, endpoint in hosts.items():
            more = "".join(" %s=%s" % item
                           for item in sorted((host_vars or {}).get(host, {}).items()))
            f.write("%s ansible_connection=local ansible_python_interpreter=%s "
                    "pild_endpoint=%s%s\n" % (host, PYTHON, endpoint, more))
    return path


def running_image(client, name="cdsp"):
    """(state, image source) of `name`."""
    c = client.get(name)
    return pild.state_name(c.state), c.image.source if c.HasField("image") else ""
