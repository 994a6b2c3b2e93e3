"""`formatlock serve` stops when told to: a server stuck in native code is killed after a grace period,
and the server never outlives `formatlock serve` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts model servers

# A "server" that ignores SIGTERM, as one stuck in llama.cpp's grammar engine does, and writes its pid.
STUCK = "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
        "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
SUPERVISOR = "import sys; import formatlock.cli.serve_cmd as s; s.GRACE_S = 1.0; " \
             "raise SystemExit(s._supervise([sys.executable, '-c', {stuck!r}, {pidfile!r}]))"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead
        return stat.read().split()[2] != "Z"


def start(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    pidfile = tmp_path / "pid"
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR.format(stuck=STUCK, pidfile=str(pidfile))])
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.1)
    return supervisor, int(pidfile.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl")
def test_a_server_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    supervisor, worker = start(tmp_path)
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(20) == 128 + signal.SIGKILL  # the worker did not stop by itself: killed
    assert 1.0 <= time.monotonic() - started < 15
    assert not alive(worker)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl")
def test_the_server_does_not_outlive_a_killed_formatlock_serve(tmp_path: Path) -> None:
    supervisor, worker = start(tmp_path)
    supervisor.kill()
    supervisor.wait(10)
    deadline = time.monotonic() + 10
    while alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its supervisor"
        time.sleep(0.1)
