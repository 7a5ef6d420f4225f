#!/usr/bin/env bash
# Runs pytest on the given test files under Debian's python3 (which has
# python3-grpcio), with the pild package (its generated protos inside it,
# pild._proto) and the helpers on PYTHONPATH, and writes JUnit XML where
# Bazel expects test.xml.
set -euo pipefail
runfiles="${TEST_SRCDIR:?run me through bazel test}"
export PYTHONPATH="$runfiles/pild/client/python:$runfiles/pild/tests/pytest_support${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
cd "$runfiles/pild"
# Scratch files stay in Bazel's per-test directory (pytest's tmp_path too).
export TMPDIR="${TEST_TMPDIR:?}"
# -rP: what a passing test prints (its figures) stays in its log.
exec /usr/bin/python3 -m pytest -p no:cacheprovider -v -rP \
  --basetemp="$TEST_TMPDIR/pytest" --junitxml="${XML_OUTPUT_FILE:-/dev/null}" "$@"
