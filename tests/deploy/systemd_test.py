"""pild under systemd: the units in deploy/systemd verify with
systemd-analyze (and a broken one does not), their sandbox exposes little,
and pild takes the socket systemd passes and reports readiness through
sd_notify, as pild.socket and Type=notify expect."""

import os
import re
import signal
import socket
import subprocess

import pild
from pildtest import binary, runfile, scratch_dir, wait_until

UNITS = ["pild.socket", "pild.service"]


def installed_units(tmp_path, edit=lambda text: text):
    """The units with ExecStart naming the pild this test built."""
    for unit in UNITS:
        text = open(runfile("deploy/systemd/" + unit)).read()
        text = text.replace("/usr/sbin/pild", os.path.abspath(binary("server/pild")))
        (tmp_path / unit).write_text(edit(text))
    return [str(tmp_path / unit) for unit in UNITS]


def analyze(*args):
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                          timeout=60)


def test_units_verify_without_a_word(tmp_path):
    result = analyze("verify", "--man=no", *installed_units(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_verify_reports_what_is_wrong(tmp_path):
    units = installed_units(tmp_path, lambda t: t.replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = analyze("verify", "--man=no", *units)
    assert "Unknown key 'NoNewPrivilege' in section [Service]" in result.stderr
    units = installed_units(tmp_path, lambda t: t.replace("ExecStart=/", "ExecStart=/nonexistent/"))
    assert analyze("verify", "--man=no", *units).returncode != 0


def test_the_sandbox_exposes_little(tmp_path):
    service = installed_units(tmp_path)[1]
    result = analyze("security", "--offline=yes", service)
    level = re.search(r"Overall exposure level for pild.service: ([0-9.]+)", result.stdout)
    assert level, result.stdout + result.stderr
    print("systemd-analyze security exposure:", level.group(1))
    assert float(level.group(1)) <= 3.0
    settings = [line for line in open(service).read().splitlines()
                if line and not line.startswith("#")]
    # What the job forbids stays off (the unit's comments say why).
    for forbidden in ["ProtectKernelTunables=yes", "PrivateNetwork=yes", "DynamicUser=yes"]:
        assert forbidden not in settings
    assert "NoNewPrivileges=yes" in settings and "CapabilityBoundingSet=" in settings


def test_socket_activation_and_readiness():
    work = scratch_dir("activate-")
    sock = os.path.join(work, "pild.sock")
    notify_path = os.path.join(work, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    activator = subprocess.Popen(
        ["systemd-socket-activate", "-l", sock, "-E", "NOTIFY_SOCKET=" + notify_path,
         binary("server/pild"), "--sim=unix:" + os.path.join(work, "pilsim.sock"),
         "--audit-db=" + os.path.join(work, "audit.db")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: os.path.exists(sock))
        # The first connection starts pild with the listening socket.
        with pild.connect("unix:" + sock, 30) as client:
            names = [c.name for c in client.list()]
        assert names == ["adsp", "video", "cdsp"]
        messages = notify.recv(4096).decode()
        assert "READY=1" in messages
        assert "STATUS=sim backend" in messages and "adsp video cdsp" in messages
        activator.send_signal(signal.SIGTERM)  # passed on to pild
        assert "STOPPING=1" in notify.recv(4096).decode()
        activator.wait(timeout=30)
    finally:
        if activator.poll() is None:
            activator.kill()
        pid_file = os.path.join(work, "pilsim.sock.pid")
        if os.path.exists(pid_file):
            os.kill(int(open(pid_file).read()), signal.SIGTERM)
        notify.close()
    output = activator.stdout.read()
    assert "listening on unix:" + sock in output, output
