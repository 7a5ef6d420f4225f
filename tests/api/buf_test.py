"""pil.v1 under buf (npm package @bufbuild/buf): lint-clean with the rules
and exceptions of buf.yaml, and the checks themselves catch what they are
for (a test that could not fail would prove nothing)."""

import os
import shutil
import subprocess

import pytest

from pildtest import RUNFILES, buf_binary

WORKSPACE = os.path.join(RUNFILES, "pild")
API = "proto/pil/v1"


def buf(*args, cwd):
    return subprocess.run([buf_binary(), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def copy(tmp_path):
    """A writable copy of buf.yaml and the pil.v1 sources."""
    shutil.copy(os.path.join(WORKSPACE, "buf.yaml"), tmp_path)
    shutil.copytree(os.path.join(WORKSPACE, API), tmp_path / API,
                    ignore=shutil.ignore_patterns("*.py", "*.h", "*.cc", "BUILD*"))
    return tmp_path


def edit(root, name, old, new):
    path = root / API / name
    text = path.read_text()
    assert old in text, "%s no longer contains %r" % (name, old)
    path.write_text(text.replace(old, new, 1))


def test_api_is_lint_clean(copy):
    result = buf("lint", "--path", API, cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_lint_reports_a_violation(copy):
    edit(copy, "lifecycle.proto", "service LifecycleService {", "service Lifecycle {")
    result = buf("lint", "--path", API, cwd=copy)
    assert result.returncode != 0
    assert 'Service name "Lifecycle" should be suffixed with "Service"' in result.stdout


def test_exceptions_are_scoped_to_what_buf_yaml_names(copy):
    # The shared-response exception covers lifecycle.proto only: a response
    # shared in another file is still a finding.
    edit(copy, "info.proto", "message GetInfoRequest {}",
         "message GetInfoRequest {}\nservice ExtraService {\n"
         "  rpc Ask(GetInfoRequest) returns (GetInfoResponse);\n"
         "  rpc AskAgain(GetInfoRequest) returns (GetInfoResponse);\n}")
    result = buf("lint", "--path", API, cwd=copy)
    assert result.returncode != 0
    assert "is used as the request or response type for multiple RPCs" in result.stdout


def test_breaking_catches_a_renumbered_field(copy):
    before = copy / "before.binpb"
    built = buf("build", "--path", API, "-o", str(before), cwd=copy)
    assert built.returncode == 0, built.stderr
    same = buf("breaking", "--path", API, "--against", str(before), cwd=copy)
    assert same.returncode == 0, same.stdout + same.stderr
    edit(copy, "lifecycle.proto", "string request_id = 5;", "string request_id = 55;")
    changed = buf("breaking", "--path", API, "--against", str(before), cwd=copy)
    assert changed.returncode != 0
    assert "request_id" in changed.stdout
