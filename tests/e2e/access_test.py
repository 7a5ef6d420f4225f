"""Who may do what over pild's Unix socket: callers run as other users
(setpriv), the policy file, and the audit trail in SQLite, which keeps every
attempt across restarts and SIGKILL."""

import grp
import os
import shutil
import signal
import sqlite3
import stat
import subprocess

from pild import state_name
from pildtest import operation_of, result_of, is_refused, Pild, as_user, binary, public_dir, realdata, running_pild, wait_until

HAL_UID = 1013        # the media HAL: video only
STRANGER_UID = 1400   # no rule names it
MONITOR_GID = 2000    # the monitoring group: observers
USERS_GID = grp.getgrnam("users").gr_gid  # the socket's group

POLICY = """
# The media HAL starts and stops the video codec, nothing else.
rule { uid: %d role: OPERATOR coprocessor: "video" }
# Monitoring reads and watches everything.
rule { gid: %d role: OBSERVER }
""" % (HAL_UID, MONITOR_GID)


class Site:
    """A pild in a directory other users can reach, with a policy, its socket
    in the 'users' group, and a pilctl they may run."""

    def __init__(self, policy=POLICY, *args):
        self.dir = public_dir("pild-access-")
        self.policy = os.path.join(self.dir, "policy.textproto")
        with open(self.policy, "w") as f:
            f.write(policy)
        self.pilctl = os.path.join(self.dir, "pilctl")
        shutil.copy(binary("client/pilctl"), self.pilctl)
        os.chmod(self.pilctl, 0o755)
        self.args = ["--firmware-path=" + realdata("firmware"), "--policy=" + self.policy,
                     "--socket-group=users", *args]

    def local_image(self):
        """A real image any user may read, for uploads."""
        path = os.path.join(self.dir, "image.mbn")
        shutil.copy(realdata("firmware/qcom/vpu/vpu30_p4.mbn"), path)
        os.chmod(path, 0o644)
        return path

    def pild(self, *args):
        return running_pild(*self.args, *args, directory=self.dir)

    def fails(self, *args):
        """pild with `args` that must not start: its exit code and output."""
        result = subprocess.run(
            [binary("server/pild"), *self.args,
             "--listen=unix:" + os.path.join(self.dir, "pild.sock"),
             "--audit-db=" + os.path.join(self.dir, "audit.db"),
             "--sim=unix:" + os.path.join(self.dir, "pilsim.sock"), *args],
            capture_output=True, text=True, timeout=60)
        Pild(directory=self.dir).stop_sim()
        return result.returncode, result.stderr

    def run(self, uid, groups, *args):
        """pilctl as `uid` (primary group = uid) with `groups`."""
        return as_user(uid, uid, groups, self.pilctl,
                       "--server=unix:" + os.path.join(self.dir, "pild.sock"), *args)

    def rows(self):
        """The audit trail as SQLite holds it on disk."""
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, "audit.db"), uri=True)
        try:
            return db.execute("SELECT id, refused, coprocessor, operation, caller_uid, result "
                              "FROM audit ORDER BY id").fetchall()
        finally:
            db.close()


def test_a_caller_without_a_policy_entry_can_do_nothing_but_be_refused():
    site = Site()
    local = site.local_image()
    attempts = [["list"], ["status", "video"], ["start", "video"], ["stop", "adsp"],
                ["authenticate", "video"], ["watch", "--count=1"], ["history"],
                ["coredump", "cdsp"], ["upload", local], ["inspect", "--firmware=x.mbn"]]
    with site.pild() as server, server.client() as root:
        for args in attempts:
            result = site.run(STRANGER_UID, [USERS_GID], *args)
            assert result.returncode == 7, (args, result.stdout, result.stderr)
            assert "uid %d" % STRANGER_UID in result.stderr and "may not" in result.stderr, args
            assert "[ACCESS_DENIED]" in result.stderr
        # It may still ask who it is, and learn it may do nothing.
        info = site.run(STRANGER_UID, [USERS_GID], "info")
        assert info.returncode == 0, info.stderr
        assert "you:         uid %d" % STRANGER_UID in info.stdout
        assert "you may:     nothing" in info.stdout
        # Nothing moved.
        assert all(state_name(c.state) == "offline" for c in root.list())
        refused = [h for h in root.history(limit=100) if h.caller.uid == STRANGER_UID]
        assert len(refused) == len(attempts)
        assert all(is_refused(h) and result_of(h) == "ACCESS_DENIED" for h in refused)
        assert {operation_of(h) for h in refused} == {
            "read", "start", "stop", "authenticate", "history", "coredump", "upload",
            "inspect"}
    # Every attempt is in the database after pild has gone.
    rows = [r for r in site.rows() if r[4] == STRANGER_UID]
    assert len(rows) == len(attempts) and all(r[1] == 1 for r in rows)


def test_the_media_hal_starts_and_stops_video_and_nothing_else():
    site = Site()
    with site.pild() as server, server.client() as root:
        hal = [USERS_GID]
        assert site.run(HAL_UID, hal, "start", "video").returncode == 0
        listed = site.run(HAL_UID, hal, "--json", "list")
        assert listed.returncode == 0 and '"name":"video"' in listed.stdout.replace(" ", "")
        assert '"adsp"' not in listed.stdout and '"cdsp"' not in listed.stdout
        for args in (["start", "adsp"], ["stop", "cdsp"], ["coredump", "video"],
                     ["status", "adsp"], ["upload", site.local_image()], ["map", "video"]):
            result = site.run(HAL_UID, hal, *args)
            assert result.returncode == 7, (args, result.stderr)
        # It watches only what it may read: the codec.
        watched = site.run(HAL_UID, hal, "--json", "watch", "--count=1")
        assert watched.returncode == 0 and '"name":"video"' in watched.stdout.replace(" ", "")
        # Its history is the codec's: not the other coprocessors', nor the
        # records that name none (its own refused upload among them).
        history = site.run(HAL_UID, hal, "--json", "history")
        assert history.returncode == 0
        flat = history.stdout.replace(" ", "")
        assert '"name":"adsp"' not in flat and '"name":"cdsp"' not in flat
        assert '"name":""' not in flat and '"operation":"upload"' not in flat
        assert '"operation":"start"' in flat
        assert site.run(HAL_UID, hal, "stop", "video").returncode == 0
        started = [h for h in root.history("video") if operation_of(h) in ("start", "stop")]
        assert [(operation_of(h), result_of(h), h.caller.uid) for h in started] == [
            ("stop", "OK", HAL_UID), ("start", "OK", HAL_UID)]
        assert state_name(root.get("adsp").state) == "offline"


def test_a_monitoring_group_reads_and_watches_everything():
    site = Site()
    with site.pild():
        monitor = [USERS_GID, MONITOR_GID]
        listed = site.run(1500, monitor, "list")
        assert listed.returncode == 0
        assert all(name in listed.stdout for name in ("adsp", "video", "cdsp"))
        watched = site.run(1500, monitor, "watch", "--count=3")
        assert watched.returncode == 0 and watched.stdout.count("\n") == 3
        assert site.run(1500, monitor, "history").returncode == 0
        assert site.run(1500, monitor, "start", "adsp").returncode == 7
        # Without the group, the same uid is a stranger.
        assert site.run(1500, [USERS_GID], "list").returncode == 7


def test_the_socket_belongs_to_its_group_from_the_start():
    site = Site()
    with site.pild():
        st = os.stat(os.path.join(site.dir, "pild.sock"))
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == USERS_GID
        # Outside the group, a caller cannot even connect.
        result = site.run(STRANGER_UID, [], "list")
        assert result.returncode == 3 and "Permission denied" in result.stderr
    result = subprocess.run([binary("server/pild"), "--socket-group=no-such-group",
                             "--listen=unix:" + os.path.join(site.dir, "x.sock")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no group 'no-such-group'" in result.stderr


def test_sighup_reloads_the_policy_and_a_bad_one_is_kept_out():
    site = Site()
    with site.pild() as server:
        assert site.run(STRANGER_UID, [USERS_GID], "list").returncode == 7
        with open(site.policy, "a") as f:
            f.write("rule { uid: %d role: OBSERVER }\n" % STRANGER_UID)
        server.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: site.run(STRANGER_UID, [USERS_GID], "list").returncode == 0)
        with open(site.policy, "a") as f:
            f.write("rule { uid: 5 role: OPERATOR coprocessor: \"gpu\" }\n")
        server.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "keeping the current policy" in server.output())
        assert "no coprocessor 'gpu'" in server.output()
        assert site.run(STRANGER_UID, [USERS_GID], "list").returncode == 0


def test_a_bad_policy_stops_pild_naming_the_rule():
    site = Site(POLICY + 'rule { uid: 7 role: OPERATOR coprocessor: "vidoe" }\n')
    code, output = site.fails()
    assert code == 2
    assert "rule 3: no coprocessor 'vidoe'" in output


def test_a_stop_is_on_disk_before_its_reply():
    site = Site()
    server = Pild(*site.args, directory=site.dir).start()
    try:
        with server.client() as root:
            root.start("video")
            root.stop("video")
        server.process.kill()  # SIGKILL: nothing is flushed at exit
        server.process.wait(timeout=10)
    finally:
        server.stop_sim()
    last = site.rows()[-1]
    assert last[2:4] == ("video", "stop") and last[5] == "OK"
    # Ids continue after a restart.
    with site.pild() as again, again.client() as root:
        root.start("video")
        root.stop("video")
        ids = [h.id for h in root.history("video")]
    assert ids == sorted(ids, reverse=True) and ids[-1] == site.rows()[0][0]


def test_refused_calls_are_bounded_apart_from_what_was_done():
    site = Site()
    with site.pild("--audit-max-refused=5") as server, server.client() as root:
        root.start("video")
        root.stop("video")
        for _ in range(12):
            assert site.run(STRANGER_UID, [USERS_GID], "stop", "video").returncode == 7
        entries = []
        token = ""
        while True:
            page, token = root.history_page(limit=4, page_token=token)
            entries += page
            if not token:
                break
    refused = [h for h in entries if is_refused(h)]
    assert len(refused) == 5
    assert [operation_of(h) for h in entries if not is_refused(h)] == ["stop", "start"]


def test_the_audit_database_is_pilds_alone():
    site = Site()
    db = os.path.join(site.dir, "audit.db")
    open(db, "w").close()
    os.chmod(db, 0o644)
    with site.pild():
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # made owner-only
    shared = os.path.join(site.dir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)  # anyone may swap files in it
    code, output = site.fails("--audit-db=" + os.path.join(shared, "audit.db"))
    assert code == 1 and "is writable by everyone" in output


def test_an_unusable_audit_trail_stops_pild_unless_told_to_go_without():
    site = Site()
    with open(os.path.join(site.dir, "audit.db"), "wb") as f:
        f.write(b"this is no database" * 500)
    code, output = site.fails()
    assert code == 1
    assert "audit trail" in output and os.path.join(site.dir, "audit.db") in output
    assert "--no-audit-trail" in output
    with site.pild("--no-audit-trail") as server, server.client() as root:
        assert "NO AUDIT TRAIL ON DISK" in server.output()
        info = root.info()
        assert not info.audit.enabled
        root.start("video")
        root.stop("video")
        assert [operation_of(h) for h in root.history("video")][:2] == ["stop", "start"]
