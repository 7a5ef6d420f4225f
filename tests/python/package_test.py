"""`pip install --no-index --no-build-isolation ./client/python` into a fresh
virtualenv (Debian's python3, its system packages visible), as a user does
on a machine without a package index; then the example script, run by the
virtualenv's python, against pild."""

import glob
import os
import shutil
import subprocess

import pytest

from pildtest import runfile, running_pild, signed_bundled_firmware

# What the build reads, in the repository's layout (//client/python:package_sources).
PACKAGE = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "gen_protos.py",
           "pild/py.typed"]
PROTOS = ["proto/pil/v1/*.proto", "third_party/googleapis/google/rpc/*.proto",
          "common/version.h"]


def copy_tree(destination, with_protos=True):
    """A checkout of what the package is built from, as plain files (not
    the runfiles' links), without anything generated."""
    files = [os.path.join("client/python", f) for f in PACKAGE]
    files += [os.path.relpath(p, runfile("")) for p in glob.glob(runfile("client/python/pild/*.py"))]
    if with_protos:
        for pattern in PROTOS:
            files += [os.path.relpath(p, runfile("")) for p in glob.glob(runfile(pattern))]
    for f in files:
        os.makedirs(os.path.join(destination, os.path.dirname(f)), exist_ok=True)
        shutil.copy(runfile(f), os.path.join(destination, f))
    assert not glob.glob(os.path.join(destination, "client/python/pild/_proto"))
    return os.path.join(destination, "client/python")


def clean_env(**extra):
    """The environment without the test's PYTHONPATH (which holds the
    runfiles' pild), and pip quiet about caches and versions."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(*command, env=None, cwd="/"):
    return subprocess.run(command, capture_output=True, text=True, timeout=240,
                          env=env or clean_env(), cwd=cwd)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("venv"))
    made = run("/usr/bin/python3", "-m", "venv", "--system-site-packages", path)
    assert made.returncode == 0, made
    return path


def pip_install(venv, source, **env):
    return run(os.path.join(venv, "bin", "pip"), "install", "--no-index",
               "--no-build-isolation", source, env=clean_env(**env))


def test_installs_from_a_checkout_and_the_example_passes(venv, tmp_path):
    source = copy_tree(str(tmp_path / "src"))
    installed = pip_install(venv, source)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    python = os.path.join(venv, "bin", "python")
    probe = run(python, "-c", "\n".join([
        "import importlib.util, os, pild, pild.errors",
        "from pild._proto.pil.v1 import lifecycle_pb2, lifecycle_pb2_grpc",
        "from pild._proto.google.rpc import error_details_pb2, status_pb2",
        "print(os.path.dirname(pild.__file__))",
        "print(lifecycle_pb2.WatchEvent.__module__)",
        "print(importlib.util.find_spec('proto'), importlib.util.find_spec('google.rpc'))",
    ]))
    assert probe.returncode == 0, probe.stderr
    package, module, others = probe.stdout.splitlines()
    assert package.startswith(venv) and package.endswith("site-packages/pild")
    assert module == "pild._proto.pil.v1.lifecycle_pb2"
    # Neither a top-level `proto` nor a `google.rpc` of its own.
    assert others == "None None"
    for typed in ["py.typed", "_proto/pil/v1/lifecycle_pb2.pyi"]:
        assert os.path.isfile(os.path.join(package, typed)), typed
    [dist_info] = glob.glob(os.path.join(os.path.dirname(package), "pild-*.dist-info"))
    with open(os.path.join(dist_info, "top_level.txt")) as f:
        assert f.read().split() == ["pild"]

    firmware = signed_bundled_firmware(str(tmp_path / "fw"))
    with running_pild("--firmware-path=" + firmware) as server:
        example = run(python, runfile("client/python/examples/scripted_test.py"),
                      "--address", server.address)
    print(example.stdout, example.stderr)
    assert example.returncode == 0 and example.stdout.startswith("PASS"), example


def test_without_the_protos_it_fails_naming_what_it_looked_for(venv, tmp_path):
    alone = copy_tree(str(tmp_path / "alone"), with_protos=False)
    failed = pip_install(venv, alone)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "cannot find the .proto files" in output, output
    assert "proto/pil/v1/lifecycle.proto" in output and "PILD_PROTO_ROOT" in output, output
    # PILD_PROTO_ROOT names a checkout that has them.
    protos = os.path.dirname(os.path.dirname(copy_tree(str(tmp_path / "protos"))))
    installed = pip_install(venv, alone, PILD_PROTO_ROOT=protos)
    assert installed.returncode == 0, installed.stdout + installed.stderr
