"""The example alert rules in deploy/prometheus: Debian's promtool checks
them (and rejects a broken one), and their unit tests show each alert
firing on a failing synthetic series and not on a healthy one (and fail
when a rule no longer does what its test says)."""

import os
import subprocess

import pytest

from pildtest import runfile

PROMTOOL = "/usr/bin/promtool"
RULES = "pild-alerts.yml"
TESTS = "pild-alerts.test.yml"
ALERTS = ["PildCoprocessorCrashLooping", "PildCoprocessorDown", "PildFirmwareVersionSkew",
          "PildMetricsStale", "PildMetricsMissing", "PildMetricsUnreadable",
          "PildAuditWriteFailures"]


def promtool(*args, cwd=None):
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail("PROMTOOL MISSING, test did not run: no %s (apt-get install prometheus; "
                    "build/debian-packages.txt)" % PROMTOOL)
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def copied(tmp_path, edit=lambda text: text):
    """The rules and their tests in `tmp_path`, the rules passed through
    `edit`."""
    for name in [RULES, TESTS]:
        text = open(runfile("deploy/prometheus/" + name)).read()
        (tmp_path / name).write_text(edit(text) if name == RULES else text)
    return tmp_path


def test_rules_check():
    result = promtool("check", "rules", runfile("deploy/prometheus/" + RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: %d rules found" % len(ALERTS) in result.stdout
    text = open(runfile("deploy/prometheus/" + RULES)).read()
    assert [a for a in ALERTS if "alert: %s\n" % a not in text] == []


def test_a_broken_rule_is_rejected(tmp_path):
    directory = copied(tmp_path, lambda t: t.replace("increase(pild_coprocessor_crashes_total",
                                                     "increase((pild_coprocessor_crashes_total"))
    result = promtool("check", "rules", str(directory / RULES))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_every_alert_fires_on_its_failure_and_not_when_healthy(tmp_path):
    tests = open(runfile("deploy/prometheus/" + TESTS)).read()
    assert [a for a in ALERTS if "alertname: %s\n" % a not in tests] == []
    result = promtool("test", "rules", TESTS, cwd=copied(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("broken", [
    ("increase(pild_coprocessor_crashes_total[15m]) > 2",
     "increase(pild_coprocessor_crashes_total[15m]) > 100"),
    ('pild_coprocessor_state{state="running"} == 0',
     'pild_coprocessor_state{state="running"} >= 0'),
    (" or increase(pild_audit_dropped_total[10m]) > 0", ""),
    # Down: the state label kept; a stale file counted.
    ('max without (state) (pild_coprocessor_state{state="running"} == 0)',
     '(pild_coprocessor_state{state="running"} == 0)'),
    ("pild_coprocessor_last_error == 1\n          and on (instance, job)\n"
     "          (time() - pild_metrics_written_timestamp_seconds <= 2 * pild_metrics_interval_seconds"
     " + 60)\n", "pild_coprocessor_last_error == 1\n"),
    # Skew: across boards; stale files counted.
    ("count by (coprocessor, board) (", "count by (coprocessor) ("),
    ("group_left (board) pild_build_info\n              and on (instance, job)\n"
     "              (time() - pild_metrics_written_timestamp_seconds <= 2 * "
     "pild_metrics_interval_seconds + 60)\n", "group_left (board) pild_build_info\n"),
    ("          ) > 1\n", "          ) > 0\n"),
    # Stale: a fixed threshold (alerts on a pild with --metrics-interval=1h).
    ("pild_metrics_written_timestamp_seconds > 2 * pild_metrics_interval_seconds + 60",
     "pild_metrics_written_timestamp_seconds > 120"),
    ("pild_metrics_written_timestamp_seconds > 2 * pild_metrics_interval_seconds + 60",
     "pild_metrics_written_timestamp_seconds > 100000"),
    ('up{job=~".*node.*"} == 1 unless', 'up{job=~".*"} == 1 unless'),
    ('up{job=~".*node.*"} == 1 unless', 'up{job=~".*node.*"} >= 0 unless'),
])
def test_the_unit_tests_fail_when_a_rule_is_wrong(tmp_path, broken):
    before, after = broken
    assert before in open(runfile("deploy/prometheus/" + RULES)).read()
    directory = copied(tmp_path, lambda t: t.replace(before, after))
    result = promtool("test", "rules", TESTS, cwd=directory)
    assert result.returncode != 0, result.stdout
    assert "FAILED" in result.stdout + result.stderr
