"""The board sweep: every device tree of a fetched real-data set
(tools/fetch-realdata.sh --all) on the sim with Debian's firmware. Every
enabled coprocessor whose firmware is present must start (RUNNING), stop
(OFFLINE) and leave nothing held in the sim; everything else is counted.

Each board's simulated secure world is fused with the roots of the images
Debian ships for it (as the devices those images are made for are), so a
ROOT_NOT_TRUSTED means two of its images disagree; --default-roots keeps
the sim's default roots instead.

  /usr/bin/python3 tests/sweep/sweep.py [--json FILE] [--jobs N (4 per core)]
      [--board-timeout S] [--only SUBSTRING] [DIR]    (default: realdata-all/)

Needs //tests/sweep:sweep_test built (its runfiles hold pild and the
stubs); //tests/sweep:sweep_test runs it as a test. Each board runs in a
child process (`--board`) bounded by --board-timeout, so a pild that crashes
or hangs costs that board only. Exit code 0 when every such coprocessor came
back clean and no board failed, 1 otherwise.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
WORKSPACE = os.path.dirname(os.path.dirname(HERE))
ENABLED = ("okay", "ok")
# A board mostly waits (pild and pilsim starting, shutting down): on 2 cores
# 8 boards at a time sweep 3 times faster than 2.
JOBS = 4 * (os.cpu_count() or 1)
# Outcomes of a coprocessor; only "clean" passes among those that were tried.
TRIED = ("clean", "refused", "failed")


def _use_runfiles():
    """pildtest's modules from the test's runfiles: Bazel's, or outside
    Bazel those of the built test."""
    runfiles = os.environ.setdefault(
        "TEST_SRCDIR", os.path.join(WORKSPACE, "bazel-bin/tests/sweep/sweep_test.runfiles"))
    if not os.path.isdir(runfiles):
        sys.exit("sweep: no %s; run ./bazelw build //tests/sweep:sweep_test" % runfiles)
    sys.path[:0] = [os.path.join(runfiles, "pild", d)
                    for d in ("client/python", "tests/pytest_support")]


def firmware_missing(firmware_dir, names):
    """The names (main image, then DTB image) not in `firmware_dir`."""
    return [n for n in names if not os.path.isfile(os.path.join(firmware_dir, n))]


def fused_roots(nodes, firmware_dir):
    """A sim profile trusting the roots the present images of `nodes`
    (pilctl devicetree entries) are signed to; None when there are none."""
    from pildtest import pilctl_json

    roots = set()
    for c in nodes:
        for name in c.get("firmware_names", []):
            path = os.path.join(firmware_dir, name)
            if c["dt_status"] in ENABLED and os.path.isfile(path):
                report = pilctl_json("inspect", path)
                roots.update(s["root_sha256"] for s in report.get("signers", [])
                             if s.get("root_sha256"))
    return "".join('trusted_root_sha256: "%s"\n' % r for r in sorted(roots)) or None


def sweep_board(dtb, firmware_dir, directory, default_roots=False):
    """One board: {"coprocessors": [dicts: name, outcome, details], and
    "error" when pild failed}. Runs in the child process."""
    from pildtest import pilctl_json, running_pild

    board = os.path.basename(dtb)[:-len(".dtb")]
    results, error = [], None
    try:
        # pild lists enabled nodes only; the device tree has the others.
        nodes = pilctl_json("devicetree", dtb)
        for c in nodes:
            if c["dt_status"] not in ENABLED:
                results.append({"board": board, "name": c["name"], "soc": c["soc"],
                                "outcome": "disabled", "dt_status": c["dt_status"]})
        profile = None if default_roots else fused_roots(nodes, firmware_dir)
        with running_pild("--dtb=" + dtb, "--firmware-path=" + firmware_dir, profile=profile,
                          directory=directory) as server, server.client(timeout=30) as client:
            sim = server.sim()
            for c in client.list():
                r = {"board": board, "name": c.name, "soc": c.soc,
                     "firmware": list(c.firmware_names)}
                results.append(r)
                missing = firmware_missing(firmware_dir, c.firmware_names)
                if c.dt_status not in ENABLED:
                    r["outcome"] = "disabled"
                elif c.problems:
                    r.update(outcome="problems", problems=list(c.problems))
                elif missing:
                    r.update(outcome="no_firmware", missing=missing)
                else:
                    try:
                        r.update(start_stop(client, sim, c.name))
                    except Exception as e:  # pild gone: its calls fail another way
                        r.update(outcome="failed", reason=type(e).__name__, message=str(e))
                if server.process.poll() is not None:
                    error = "pild exited %d at %s" % (server.process.returncode, c.name)
                    break
            sim.close()
    except Exception as e:  # pild failed to come up, died, or did not stop
        error = error or "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    return {"coprocessors": results, "error": error}


def start_stop(client, sim, name):
    """Start, require RUNNING; Stop, require OFFLINE and a clean sim."""
    import pild

    try:
        started = client.start(name).coprocessor
    except pild.PildError as e:
        leftovers = sim.leftovers(client.get(name))
        if leftovers:  # a refusal must leave nothing behind
            return {"outcome": "failed", "reason": "NOT_CLEAN after " + (e.reason or e.code),
                    "message": "held: " + "; ".join(leftovers)}
        return {"outcome": "refused", "code": e.code, "reason": e.reason,
                "message": e.message}
    state = pild.state_name(started.state)
    if state != "running":
        return {"outcome": "failed", "reason": "NOT_RUNNING", "message": "started " + state}
    try:
        stopped = client.stop(name).coprocessor
    except pild.PildError as e:
        return {"outcome": "failed", "reason": "STOP " + (e.reason or e.code),
                "message": e.message}
    state = pild.state_name(stopped.state)
    leftovers = sim.leftovers(client.get(name))
    if state != "offline" or leftovers:
        return {"outcome": "failed", "reason": "NOT_CLEAN",
                "message": "stopped %s, held: %s" % (state, "; ".join(leftovers) or "nothing")}
    return {"outcome": "clean"}


def run_board(dtb, firmware_dir, timeout, default_roots=False):
    """sweep_board in a child process; a crash or timeout is the board's error."""
    from pildtest import Pild, scratch_dir

    board = os.path.basename(dtb)[:-len(".dtb")]
    directory = scratch_dir("sweep-")
    log = os.path.join(directory, "pild.log")
    child = subprocess.Popen(
        [sys.executable, os.path.realpath(__file__), "--board=" + dtb,
         "--dir=" + directory, firmware_dir] + (["--default-roots"] if default_roots else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
        error = None if child.returncode == 0 else "exited %d" % child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        error = "timed out after %d s" % timeout
    Pild(directory=directory).stop_sim()  # pilsim runs in a session of its own
    result = {"board": board, "coprocessors": [], "error": error}
    if error is None:
        result.update(json.loads(out))
    if result["error"] is not None:
        tail = lambda text: "\n".join(text.strip().splitlines()[-8:])
        result["detail"] = tail(err)
        result["pild_log"] = tail(open(log).read()) if os.path.exists(log) else ""
    for c in result["coprocessors"]:
        c["board"] = board
    return result


def normalize(text):
    """A problem's text without its numbers, to group alike ones."""
    return re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", text)


def summarize(boards):
    coprocessors = [c for b in boards for c in b["coprocessors"]]
    count = collections.Counter(c["outcome"] for c in coprocessors)
    groups = collections.defaultdict(list)
    for c in coprocessors:
        where = "%s:%s" % (c["board"], c["name"])
        if c["outcome"] in ("refused", "failed"):
            groups[(c["outcome"], " ".join(filter(None, (c.get("code"), c["reason"]))),
                    normalize(c["message"]))].append(where)
        elif c["outcome"] == "problems":
            for p in c["problems"]:
                groups[("discovery", "problem", normalize(p))].append(where)
    enabled = len(coprocessors) - count["disabled"]
    return {
        "boards": len(boards),
        "board_errors": [{k: b[k] for k in ("board", "error", "detail", "pild_log")}
                         for b in boards if b["error"]],
        "coprocessors": len(coprocessors),
        "enabled": enabled,
        "disabled": count["disabled"],
        "refused_at_discovery": count["problems"],
        "no_firmware_shipped": count["no_firmware"],
        "firmware_present": sum(count[o] for o in TRIED),
        "clean": count["clean"],
        "refused_at_start": count["refused"],
        "failed_after_start": count["failed"],
        "groups": [{"kind": k[0], "reason": k[1], "message": k[2], "count": len(v),
                    "where": sorted(v)}
                   for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
        "details": coprocessors,
    }


def print_summary(s, seconds, out=sys.stdout):
    p = lambda *a: print(*a, file=out)
    p("sweep: %d boards in %.0f s, %d board errors" % (s["boards"], seconds,
                                                       len(s["board_errors"])))
    p("  coprocessors in the device trees %d: disabled %d, enabled (listed by pild) %d" % (
        s["coprocessors"], s["disabled"], s["enabled"]))
    p("  enabled: refused at discovery %d, no firmware shipped %d, firmware present %d" % (
        s["refused_at_discovery"], s["no_firmware_shipped"], s["firmware_present"]))
    p("  firmware present: started+stopped clean %d, refused at start %d, failed %d" % (
        s["clean"], s["refused_at_start"], s["failed_after_start"]))
    for b in s["board_errors"]:
        p("\nBOARD %s: %s\n  %s\n  pild log:\n  %s" % (
            b["board"], b["error"], b["detail"].replace("\n", "\n  "),
            b["pild_log"].replace("\n", "\n  ")))
    for g in s["groups"]:
        p("\n%s %s (%d): %s" % (g["kind"].upper(), g["reason"], g["count"], g["message"]))
        p("  " + " ".join(g["where"]))


def passed(s):
    return not s["board_errors"] and s["clean"] == s["firmware_present"]


def sweep(data, jobs, board_timeout, only="", default_roots=False):
    """Sweeps data/dtb/qcom/*.dtb with data/firmware; returns (summary, seconds)."""
    firmware_dir = os.path.join(os.path.realpath(data), "firmware")
    dtb_dir = os.path.join(os.path.realpath(data), "dtb", "qcom")
    dtbs = sorted(os.path.join(dtb_dir, f) for f in os.listdir(dtb_dir)
                  if f.endswith(".dtb") and only in f)
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        boards = list(pool.map(
            lambda d: run_board(d, firmware_dir, board_timeout, default_roots), dtbs))
    return summarize(boards), time.monotonic() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=os.path.join(WORKSPACE, "realdata-all"))
    parser.add_argument("--json", help="also write the summary (and every result) here")
    parser.add_argument("--jobs", type=int, default=JOBS, help="boards at a time")
    parser.add_argument("--board-timeout", type=float, default=120)
    parser.add_argument("--only", default="", help="boards whose file name contains this")
    parser.add_argument("--default-roots", action="store_true",
                        help="the sim's default fused roots, not the images' own")
    # The child: one board, `data` its firmware directory, `--dir` pild's.
    parser.add_argument("--board", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _use_runfiles()
    if args.board:
        json.dump(sweep_board(args.board, args.data, args.dir, args.default_roots), sys.stdout)
        return 0
    if not os.path.isdir(os.path.join(args.data, "dtb", "qcom")):
        sys.exit("sweep: no %s/dtb/qcom; run tools/fetch-realdata.sh --all" % args.data)
    summary, seconds = sweep(args.data, args.jobs, args.board_timeout, args.only,
                             args.default_roots)
    print_summary(summary, seconds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0 if passed(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
