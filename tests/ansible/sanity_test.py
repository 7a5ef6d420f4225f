"""ansible-test sanity on the pild.fleet collection, offline.

ansible-test runs most sanity tests in a virtualenv per test, into which it
pip-installs pinned requirements from the network. Here each such
virtualenv is made beforehand from Debian's packages, with the marker
ansible-test looks for: the checks run with Debian's voluptuous
(validate-modules), yamllint, pycodestyle (pep8) and pylint instead of the
pinned versions (python3 -m venv --system-site-packages). The import test's
virtualenvs see only what its requirements name (PyYAML; Jinja2 and
MarkupSafe for plugins), linked from Debian's packages: no grpc and no pild,
so the modules' guarded imports are what is tested. ansible-test exits 0
also when it skips a test, so the test reads its JUnit results: each test
that matters ran, and none was skipped. Also: ansible-doc renders every
module, ansible-playbook parses the example playbooks and yamllint (with
ansible-test's rules) passes them."""

import glob
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from pildtest import runfile

COLLECTION = "ansible/ansible_collections/pild/fleet"
MODULES = ["pild_info", "pild_firmware", "pild_coprocessor"]
PYTHON = "%d.%d" % sys.version_info[:2]
# What ansible-test asks for when a virtualenv lacks pip.
MISSING_VENV = re.compile(r'Python [0-9.]+ at "([^"]+)/bin/python" does not have pip available')
DEBIAN_PACKAGES = "/usr/lib/python3/dist-packages"
# The import test's virtualenvs (by ansible-test's label): Debian's packages
# for their requirements (ansible_test/_data/requirements/sanity.import*.txt).
IMPORT_VENVS = {"sanity.import": ["yaml", "_yaml"],
                "sanity.import.plugin": ["yaml", "_yaml", "jinja2", "markupsafe"]}
# The tests that must run, as their JUnit files name them.
MUST_RUN = ["validate-modules", "pylint", "pep8", "yamllint", "import-python-" + PYTHON,
            "compile-python-" + PYTHON, "ansible-doc", "runtime-metadata"]


def environment(home):
    env = dict(os.environ, HOME=home, ANSIBLE_CONFIG=os.path.join(home, "ansible.cfg"))
    env.pop("PYTHONPATH", None)  # the collection must stand without the pild package
    return env


def debian_venv(path):
    """A virtualenv at `path` as ansible-test leaves one: with Debian's
    packages, or for the import test only those its requirements name."""
    label = os.path.basename(os.path.dirname(os.path.dirname(path)))
    isolated = label in IMPORT_VENVS
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", path]
                   + ([] if isolated else ["--system-site-packages"]), check=True, timeout=120)
    if isolated:
        site = glob.glob(os.path.join(path, "lib", "python3*", "site-packages"))[0]
        for package in IMPORT_VENVS[label]:
            os.symlink(os.path.join(DEBIAN_PACKAGES, package), os.path.join(site, package))
        python = os.path.join(path, "bin", "python")
        for absent in ["grpc", "pild"]:
            seen = subprocess.run([python, "-c", "import " + absent], capture_output=True,
                                  timeout=60)
            assert seen.returncode != 0, "%s sees %s" % (path, absent)
    with open(os.path.join(path, "meta.yaml.json"), "w") as f:
        f.write("true")  # PyYAML with libyaml (Debian's has it)
    with open(os.path.join(path, "meta.install.json"), "w") as f:
        f.write("[]")
    open(os.path.join(path, "marker.txt"), "w").close()
    return label


def junit_results(root):
    """{test: "passed" | "skipped" | "failed"} from ansible-test's --junit files."""
    results = {}
    for path in glob.glob(os.path.join(root, "tests", "output", "junit", "*.xml")):
        for case in ElementTree.parse(path).iter("testcase"):
            verdict = "passed"
            if case.find("skipped") is not None:
                verdict = "skipped"
            if case.find("failure") is not None or case.find("error") is not None:
                verdict = "failed"
            results[case.get("name")] = verdict
    return results


def test_ansible_test_sanity_runs_every_check_and_passes(tmp_path):
    # A copy: ansible-test writes tests/output beside the collection, and its
    # `symlinks` test would find the runfiles' links.
    root = tmp_path / "ansible_collections" / "pild" / "fleet"
    shutil.copytree(runfile(COLLECTION), root, symlinks=False)
    home = str(tmp_path / "home")
    os.makedirs(home)
    open(os.path.join(home, "ansible.cfg"), "w").close()
    made = []
    for _ in range(12):
        run = subprocess.run(["ansible-test", "sanity", "--python", PYTHON, "--color", "no",
                              "--junit"], cwd=root, capture_output=True, text=True,
                             timeout=600, env=environment(home))
        missing = MISSING_VENV.search(run.stdout + run.stderr)
        if not missing:
            break
        assert missing.group(1) not in made, run.stdout + run.stderr
        made.append(missing.group(1))
        debian_venv(missing.group(1))
    labels = sorted(os.path.basename(os.path.dirname(os.path.dirname(p))) for p in made)
    print("virtualenvs made from Debian's packages:", labels)
    print(run.stdout)
    print(run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(IMPORT_VENVS) <= set(labels), labels
    assert "Skipping sanity test" not in run.stdout + run.stderr, run.stdout + run.stderr
    results = junit_results(root)
    print("results:", results)
    for test in MUST_RUN:
        assert results.get(test) == "passed", (test, results)
    assert "failed" not in results.values(), results


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
