"""kill -9 of the running app in the middle of a checklist, then a restart: same place, same state."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.checklist import Checklist, load_path

REPO = Path(__file__).resolve().parent.parent


def _drain(fd: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def _start(state: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.run_fake_app", str(state)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                            start_new_session=True)
    os.close(slave)
    return proc, master


def _journal_has(path: Path, pred, timeout: float = 20) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and any(pred(r) for r in Journal(path).records()):
            return True
        time.sleep(0.1)
    return False


def test_kill_9_mid_checklist_resumes_at_the_same_step(tmp_path):
    state = tmp_path / "state"
    proc, fd = _start(state)
    try:
        sessions = state / "sessions"
        end = time.monotonic() + 30
        while time.monotonic() < end and not list(sessions.glob("*/journal.jsonl")):
            _drain(fd, 0.2)
        (jpath,) = sessions.glob("*/journal.jsonl")
        assert _journal_has(jpath, lambda r: r.get("event") == "checklist_opened")
        _drain(fd, 1.5)  # let the home screen settle
        os.write(fd, b"1")  # pre-migration
        _drain(fd, 1.0)
        os.write(fd, b"j")  # -> read the guide (manual)
        _drain(fd, 0.5)
        os.write(fd, b" ")  # confirm: opens the note dialog
        _drain(fd, 1.0)
        os.write(fd, b"done before the window\r")
        assert _journal_has(jpath, lambda r: r.get("step") == "pre.read-guide"
                            and r.get("state") == "ok")
        os.write(fd, b"jjj")  # -> disk space, and rest there
        assert _journal_has(jpath, lambda r: r.get("event") == "position"
                            and r.get("step") == "pre.disk")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        os.close(fd)
    # A new process on the same state dir replays the journal to the same place.
    cl = Checklist(load_path("v0.4.0"), Journal(jpath))
    assert cl.state("pre.read-guide").state == "ok"
    assert cl.state("pre.read-guide").note == "done before the window"
    assert cl.resume_point() == ("pre", "pre.disk")
    # ...and the real app, started again, opens on that step (then quits cleanly).
    proc2, fd2 = _start(state)
    try:
        screen = _drain(fd2, 4.0)
        assert b"Check disk space" in screen
        assert b"Resumed session" in screen
        os.write(fd2, b"q")
        proc2.wait(timeout=15)
        assert proc2.returncode == 0
    finally:
        if proc2.poll() is None:
            os.killpg(proc2.pid, signal.SIGKILL)
        os.close(fd2)
