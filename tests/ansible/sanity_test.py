"""ansible-test sanity on the pild.fleet collection, offline.

ansible-test runs most sanity tests in a virtualenv per test, into which it
pip-installs pinned requirements from the network. Here each such
virtualenv is made beforehand from Debian's packages (python3 -m venv
--system-site-packages, with the marker ansible-test looks for): the checks
run with Debian's voluptuous (validate-modules), yamllint, pycodestyle (pep8)
and pylint instead of the pinned versions. Also: ansible-doc renders every
module, ansible-playbook parses the example playbooks and yamllint (with
ansible-test's rules) passes them."""

import os
import re
import shutil
import subprocess

from pildtest import runfile

COLLECTION = "ansible/ansible_collections/pild/fleet"
MODULES = ["pild_info", "pild_firmware", "pild_coprocessor"]
# What ansible-test asks for when a virtualenv lacks pip.
MISSING_VENV = re.compile(r'Python [0-9.]+ at "([^"]+)/bin/python" does not have pip available')


def environment(home):
    env = dict(os.environ, HOME=home, ANSIBLE_CONFIG=os.path.join(home, "ansible.cfg"))
    env.pop("PYTHONPATH", None)  # the collection must stand without the pild package
    return env


def debian_venv(path):
    """A virtualenv at `path` with Debian's packages, as ansible-test leaves one."""
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip",
                    path], check=True, timeout=120)
    with open(os.path.join(path, "meta.yaml.json"), "w") as f:
        f.write('{"yaml": true, "cloader": true}')
    with open(os.path.join(path, "meta.install.json"), "w") as f:
        f.write("[]")
    open(os.path.join(path, "marker.txt"), "w").close()


def test_ansible_test_sanity_passes(tmp_path):
    # A copy: ansible-test writes tests/output beside the collection, and its
    # `symlinks` test would find the runfiles' links.
    root = tmp_path / "ansible_collections" / "pild" / "fleet"
    shutil.copytree(runfile(COLLECTION), root, symlinks=False)
    home = str(tmp_path / "home")
    os.makedirs(home)
    open(os.path.join(home, "ansible.cfg"), "w").close()
    made = []
    for _ in range(12):
        run = subprocess.run(["ansible-test", "sanity", "--python", "3.11", "--color", "no"],
                             cwd=root, capture_output=True, text=True, timeout=600,
                             env=environment(home))
        missing = MISSING_VENV.search(run.stdout + run.stderr)
        if not missing:
            break
        assert missing.group(1) not in made, run.stdout + run.stderr
        made.append(missing.group(1))
        debian_venv(missing.group(1))
    print("virtualenvs made from Debian's packages:", made)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    ran = re.findall(r'Running sanity test "([^"]+)"', run.stdout)
    for test in ["validate-modules", "yamllint", "import", "pep8", "pylint", "ansible-doc",
                 "compile", "runtime-metadata"]:
        assert test in ran, (test, ran)


def test_ansible_doc_renders_every_module(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=runfile("ansible"), HOME=str(tmp_path))
    for name in MODULES:
        shown = subprocess.run(["ansible-doc", "-t", "module", "pild.fleet." + name],
                               capture_output=True, text=True, timeout=120, env=env)
        assert shown.returncode == 0 and "endpoint" in shown.stdout, shown.stderr
        assert "EXAMPLES" in shown.stdout and "RETURN VALUES" in shown.stdout


def test_example_playbooks_parse_and_lint(tmp_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=runfile("ansible"), HOME=str(tmp_path))
    for name in ["canary-rollout.yml", "fleet-report.yml"]:
        playbook = runfile("ansible/examples/" + name)
        check = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,",
                                playbook], capture_output=True, text=True, timeout=120, env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        lint = subprocess.run(["yamllint", "-s", "-d",
                               "{extends: default, rules: {line-length: {max: 100}}}", playbook],
                              capture_output=True, text=True, timeout=120)
        assert lint.returncode == 0, lint.stdout + lint.stderr
