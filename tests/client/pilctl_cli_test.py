"""pilctl's command line: usage errors always exit 2 and, with --json, say
so in JSON; --version; COMMAND --help; and docs/CLI.md agrees with --help
(every command and every option of it is documented)."""

import json
import os
import re

import pytest

from pildtest import RUNFILES, pilctl

CLI_MD = os.path.join(RUNFILES, "pild", "docs", "CLI.md")


@pytest.mark.parametrize("words", [
    ["--nope"],
    [],
    ["frob"],
    ["start"],
    ["start", "adsp", "--ready-timeout=abc"],
    ["stop", "adsp", "--firmware=x"],
    ["watch", "--count=0"],
    ["--timeout=-1s", "list"],
    ["coredump", "adsp", "--crash-id=x"],
    ["history", "--limit=0"],
    ["inspect", "--firmware=x.mbn", "--carveout=1+2"],
    ["uploads", "remove", "x"],
    ["coredumps", "adsp", "cdsp"],
    ["recovery", "adsp"],
    ["recovery", "adsp", "--restart=maybe"],
    ["lease"],
])
def test_usage_errors_exit_2_and_speak_json(words):
    result = pilctl(*words, check=2)
    assert "[USAGE]" in result.stderr and result.stdout == ""
    error = json.loads(pilctl("--json", *words, check=2).stdout)["error"]
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "USAGE")
    assert error["message"]


def test_version():
    out = pilctl("--version", check=0).stdout
    assert re.fullmatch(r"pilctl \d+\.\d+\.\d+\n", out)
    assert json.loads(pilctl("--json", "--version", check=0).stdout)["version"] == \
        out.split()[1]


def commands():
    """(name, options) of every command `pilctl --help` lists."""
    listed = pilctl("--help", check=0).stdout.split("commands:\n")[1].split("\n\n")[0]
    out = []
    for line in listed.splitlines():
        name = line.split()[0]
        text = pilctl(name, "--help", check=0).stdout
        assert text.startswith("usage: pilctl [OPTIONS] %s" % name)
        found = re.search(r"^options of %s:(.*)$" % re.escape(name), text, re.M)
        options = re.findall(r"--([a-z-]+)", found.group(1)) if found else []
        out.append((name, options))
    return out


def test_every_command_and_option_is_in_the_cli_docs():
    docs = open(CLI_MD).read()
    listed = commands()
    assert len(listed) >= 14
    missing = []
    for name, options in listed:
        rows = [l for l in docs.splitlines() if l.startswith("| `%s" % name)]
        if not rows:
            missing.append(name)
            continue
        for option in options:
            if not any("--%s" % option in row for row in rows):
                missing.append("%s --%s" % (name, option))
    assert missing == [], "docs/CLI.md lacks: %s" % ", ".join(missing)
