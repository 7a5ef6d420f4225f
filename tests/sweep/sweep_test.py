"""The board sweep as a test (manual: not in the default suite). Sweeps
PILD_SWEEP_DATA (default: realdata-all/ in the workspace, from
tools/fetch-realdata.sh --all), or its boards whose file name contains
PILD_SWEEP_ONLY; fails when the data is absent, when a board
fails, or when an enabled coprocessor with its firmware present does not
start and stop clean. The summary is in the test log, every result in
sweep.json among the test's outputs."""

import os

import pytest

import sweep


def test_every_board_with_firmware_starts_and_stops_clean():
    data = os.environ.get("PILD_SWEEP_DATA") or os.path.join(sweep.WORKSPACE, "realdata-all")
    if not os.path.isdir(os.path.join(data, "dtb", "qcom")):
        pytest.fail("SWEEP DATA MISSING, test did not run: no %s/dtb/qcom. Run "
                    "tools/fetch-realdata.sh --all, or set PILD_SWEEP_DATA "
                    "(--test_env=PILD_SWEEP_DATA=DIR)" % data)
    summary, seconds = sweep.sweep(data, sweep.JOBS,
                                   float(os.environ.get("PILD_SWEEP_BOARD_TIMEOUT", "120")),
                                   os.environ.get("PILD_SWEEP_ONLY", ""))
    sweep.print_summary(summary, seconds)
    outputs = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
    if outputs:
        with open(os.path.join(outputs, "sweep.json"), "w") as f:
            sweep.json.dump(summary, f, indent=1)
    assert sweep.passed(summary), "not every coprocessor with firmware came back clean"
