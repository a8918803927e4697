"""psql from the app, with the real psql binary in a pseudo-terminal.

P suspends the app and opens psql on the target: the password is in psql's environment only
(not on its command line, not in the app's environment), the prompt names the database and
the upgrade phase, what is typed is never journaled, and \\q comes back to the same screen.
The troubleshooting screens load their query into psql: \\i runs it, nothing runs on its own.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from nchat_tui.pg.target import resolve_target
from nchat_tui.state.journal import Journal

REPO = Path(__file__).resolve().parent.parent


class Term:
    """A child process on a pseudo-terminal of 80x24, read as it writes."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path = REPO) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=cwd, start_new_session=True)
        os.close(slave)
        self.fd = master
        self.seen = b""

    def read_until(self, needle: bytes, seconds: float = 30) -> bool:
        end = time.monotonic() + seconds
        start = len(self.seen)
        while time.monotonic() < end:
            if needle in self.seen[start:]:
                return True
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    break
        return needle in self.seen[start:]

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        os.close(self.fd)


def _children(pid: int, name: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and comm == name:
            out.append(int(d.name))
    return out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"TERM": "xterm-256color", "PYTHONPATH": str(REPO), "COLUMNS": "80",
                "LINES": "24"})
    return env


def test_psql_from_the_app_keeps_the_password_in_its_environment_only(pg_db: dict[str, str],
                                                                      tmp_path: Path) -> None:
    password = pg_db["password"]
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(" ".join(f"{k}={v}" for k, v in pg_db.items()))
    dsn_file.chmod(0o600)
    state = tmp_path / "state"
    term = Term([sys.executable, "-m", "tests.run_real_app", str(dsn_file), str(state)], _env())
    try:
        assert term.read_until(b"Pending migrations", 40), term.seen[-2000:]
        term.send("1")
        assert term.read_until(b"Connect, check server version", 20)
        time.sleep(0.5)
        term.send("P")
        prompt = f"[nchat-tui Pre-migration] {pg_db['user']}@{pg_db['host']}:{pg_db['port']}/" \
                 f"{pg_db['dbname']}=#".encode()
        assert term.read_until(prompt, 30), term.seen[-1500:]
        (psql,) = _children(term.proc.pid, "psql")
        argv = Path(f"/proc/{psql}/cmdline").read_bytes()
        child_env = Path(f"/proc/{psql}/environ").read_bytes().split(b"\0")
        app_env = Path(f"/proc/{term.proc.pid}/environ").read_bytes()
        assert password.encode() not in argv and password.encode() not in app_env
        assert f"PGPASSWORD={password}".encode() in child_env  # the child's environment only
        term.send("select 40 + 2 as answer;\r")
        assert term.read_until(b"42", 10)
        term.send("\\q\r")
        # the same screen comes back
        assert term.read_until(b"Connect, check server version", 20), term.seen[-1500:]
        assert term.proc.poll() is None
        # and it answers the keyboard: Textual closes the driver on suspend, and the input
        # thread came back on a closed wake-up pipe, died, and took the app down with a
        # traceback (that this test, waiting only for the exit, read as a clean quit)
        seen = len(term.seen)
        term.send("\x1b[B")  # down: the next step's detail
        assert term.read_until(b"PENDING", 10) and b"Traceback" not in term.seen[seen:], \
            term.seen[-1500:]
        term.send("q")
        deadline = time.monotonic() + 20
        while term.proc.poll() is None and time.monotonic() < deadline:
            term.read_until(b"\0never", 0.2)  # keep reading: a full terminal blocks the app
        assert term.proc.returncode == 0, term.seen[-1500:]
        assert b"Traceback" not in term.seen[seen:]
    finally:
        term.close()
    (jpath,) = state.glob("sessions/*/journal.jsonl")
    recs = Journal(jpath).records()
    opened = [r for r in recs if r.get("event") == "psql_opened"]
    closed = [r for r in recs if r.get("event") == "psql_closed"]
    assert len(opened) == 1 and opened[0]["phase"] == "Pre-migration"
    assert len(closed) == 1 and closed[0]["exit_code"] == 0
    text = jpath.read_text()
    assert "40 + 2" not in text and password not in text


def test_a_loaded_query_waits_in_psql_until_the_operator_runs_it(pg_db: dict[str, str],
                                                                 tmp_path: Path) -> None:
    from nchat_tui.upgrade.psql_shell import prepare_psql

    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    target = resolve_target(dsn=dsn, state_dir=tmp_path / "state", environ={})
    launch = prepare_psql(target, "Troubleshooting", query="SELECT 6 * 7 AS loaded_answer",
                          query_label="The check 'test'",
                          environ={"HOME": str(tmp_path)})
    assert launch.query_file is not None and oct(launch.query_file.stat().st_mode & 0o777) \
        == "0o600"
    env: dict[str, Any] = {**launch.env, "TERM": "xterm-256color"}
    term = Term(launch.argv, env, cwd=tmp_path)
    try:
        assert term.read_until(b"[nchat-tui Troubleshooting]", 20), term.seen[-1000:]
        assert b"loaded_answer" not in term.seen  # nothing ran on its own
        term.send(f"\\i {launch.query_file}\r")
        assert term.read_until(b"42", 10)
        term.send("\\q\r")
        term.proc.wait(timeout=10)
    finally:
        term.close()
        launch.cleanup()
    assert not launch.query_file.exists()
