"""The tools run through ``sh`` (``nchat_tui.pg.tools``) keep every guarantee of the old Popen
wrapper: the password in the child's environment only, ``umask 077``, their own process group
killed on cancel, timeout or exception, death with nchat-tui (``PR_SET_PDEATHSIG``), stderr read
line by line while the tool runs, and one clear line for a binary that is not there.

These run real child processes (``sh``, ``sleep``, a stand-in ``nself``); the PostgreSQL tools
themselves are exercised through the backup, restore and psql tests.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from nchat_tui.errors import ToolMissing
from nchat_tui.pg.tools import (
    PIPE,
    Cancelled,
    ToolProcess,
    ToolTimeout,
    run_captured,
    run_interactive,
)
from tests.crashkit import pid_gone, wait_for

REPO = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _group_of(pid: int) -> int:
    return os.getpgid(pid)


def test_stderr_lines_reach_the_callback_while_the_tool_runs(tmp_path: Path) -> None:
    """Progress is parsed live: the first line arrives before the tool is allowed to finish."""
    go = tmp_path / "go"
    seen: list[str] = []
    got_first = threading.Event()

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "pg_dump: dumping contents of table a":
            got_first.set()

    script = (f"echo 'pg_dump: dumping contents of table a' >&2; "
              f"while [ ! -e {go} ]; do sleep 0.02; done; "
              f"echo 'pg_dump: dumping contents of table b' >&2")
    tp = ToolProcess(["sh", "-c", script], _env(), on_line=on_line).start()
    try:
        assert got_first.wait(30), "the first stderr line never arrived while the tool ran"
        assert tp.running is not None and tp.running.is_alive()
        go.touch()
        assert tp.wait() == 0
    finally:
        tp.kill()
    assert seen == ["pg_dump: dumping contents of table a", "pg_dump: dumping contents of table b"]
    assert list(tp.stderr_tail) == seen


def test_a_callback_returning_true_does_not_stop_the_stream() -> None:
    """sh stops reading a stream whose callback returns a truthy value (post_message returns
    True); ours never does, so a chatty tool can neither stall on a full pipe nor lose lines."""
    seen: list[str] = []

    def truthy(line: str) -> bool:
        seen.append(line)
        return True

    n = 5000
    tp = ToolProcess(["sh", "-c", f"i=0; while [ $i -lt {n} ]; do echo line$i >&2; "
                                  f"i=$((i+1)); done"], _env(), on_line=truthy).start()
    assert tp.wait(timeout=120) == 0
    assert len(seen) == n and seen[-1] == f"line{n - 1}"


def test_a_failing_callback_never_kills_the_run() -> None:
    def boom(line: str) -> None:
        raise RuntimeError("a UI callback failed")

    tp = ToolProcess(["sh", "-c", "echo one >&2; echo two >&2"], _env(), on_line=boom).start()
    assert tp.wait() == 0 and list(tp.stderr_tail) == ["one", "two"]


def test_files_the_tool_creates_are_ours_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "dump.out"
        d = tmp_path / "dir.out"
        res = run_captured(["sh", "-c", f"echo x > {out}; mkdir {d}; umask"], _env())
    finally:
        os.umask(old)
    assert res.returncode == 0 and res.stdout.strip() == "0077"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_the_password_is_in_the_environment_only() -> None:
    secret = "s3cr3t-in-env-only"
    tp = ToolProcess(["sleep", "60"], _env(PGPASSWORD=secret)).start()
    try:
        assert tp.pid is not None
        argv = Path(f"/proc/{tp.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{tp.pid}/environ").read_bytes().split(b"\0")
        assert secret.encode() not in argv
        assert f"PGPASSWORD={secret}".encode() in environ
    finally:
        tp.kill()
        tp.wait()


def test_a_tool_runs_in_its_own_process_group() -> None:
    tp = ToolProcess(["sleep", "60"], _env()).start()
    try:
        assert tp.pid is not None
        assert _group_of(tp.pid) == tp.pid != _group_of(os.getpid())
        assert os.getsid(tp.pid) == tp.pid
    finally:
        tp.kill()
        tp.wait()


def _spawning_grandchild() -> tuple[ToolProcess, int]:
    """A tool that starts a worker of its own (as ``pg_dump -j`` and ``docker exec`` do)."""
    lines: list[str] = []
    tp = ToolProcess(["sh", "-c", "sleep 120 & echo worker $! >&2; wait"], _env(),
                     on_line=lines.append).start()
    worker = int(wait_for(lambda: next((ln.split()[1] for ln in lines
                                         if ln.startswith("worker ")), None),
                          what="the worker's pid"))
    return tp, worker


def test_cancel_kills_the_whole_process_group() -> None:
    tp, worker = _spawning_grandchild()
    assert tp.pid is not None
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="cancelled by the operator"):
        tp.wait(cancel)
    wait_for(lambda: pid_gone(worker) and pid_gone(tp.pid or 0), timeout=10,
             what="the tool and its worker to die")


def test_a_timeout_kills_the_whole_process_group() -> None:
    tp, worker = _spawning_grandchild()
    with pytest.raises(ToolTimeout, match=r"longer than 0\.2 s"):
        tp.wait(timeout=0.2)
    wait_for(lambda: pid_gone(worker), timeout=10, what="the worker to die")


def test_an_exception_while_waiting_kills_the_tool() -> None:
    tp, worker = _spawning_grandchild()

    class Boom(Exception):
        pass

    class Exploding(threading.Event):
        def is_set(self) -> bool:
            raise Boom

    with pytest.raises(Boom):
        tp.wait(Exploding())
    wait_for(lambda: pid_gone(worker) and pid_gone(tp.pid or 0), timeout=10,
             what="the tool and its worker to die")


def test_exit_codes_and_signals_are_returned_not_raised() -> None:
    assert run_captured(["sh", "-c", "exit 3"], _env()).returncode == 3
    res = run_captured(["sh", "-c", "echo out; echo err >&2; kill -9 $$"], _env())
    assert (res.returncode, res.stdout, res.stderr) == (-9, "out\n", "err\n")


def test_pipes_both_ways() -> None:
    tp = ToolProcess(["cat"], _env(), stdin=PIPE, stdout=PIPE).start()
    assert tp.stdin_pipe is not None and tp.stdout_pipe is not None
    payload = os.urandom(300_000)
    feeder = threading.Thread(target=lambda: (tp.stdin_pipe.write(payload),  # type: ignore[union-attr]
                                              tp.stdin_pipe.close()))  # type: ignore[union-attr]
    feeder.start()
    got = tp.stdout_pipe.read()
    feeder.join()
    assert tp.wait() == 0 and got == payload


def test_a_missing_binary_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing, match="cannot start /nonexistent/pg_dump: not found"):
        ToolProcess(["/nonexistent/pg_dump", "--version"], _env()).start()
    with pytest.raises(ToolMissing, match="cannot start nself-not-installed"):
        run_captured(["nself-not-installed", "version"], _env())
    not_exec = tmp_path / "pg_restore"
    not_exec.write_text("#!/bin/sh\n")
    with pytest.raises(ToolMissing, match="not found or not executable"):
        run_captured([str(not_exec)], _env())


def test_the_tool_is_looked_up_on_the_childs_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "only-here"
    exe.write_text("#!/bin/sh\necho found me\n")
    exe.chmod(0o755)
    res = run_captured(["only-here"], _env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}"))
    assert res.stdout == "found me\n"


def test_an_interactive_tool_stays_in_our_group_and_dies_with_us() -> None:
    """psql on the operator's terminal must stay in the terminal's foreground group (or it
    would be stopped reading the keyboard), and still dies with nchat-tui."""
    code = ("import os, sys\n"
            "from nchat_tui.pg.tools import run_interactive\n"
            "run_interactive(['sh', '-c', 'echo $$ $(ps -o pgid= -p $$); exec sleep 120'],"
            " dict(os.environ), stdout=sys.stdout)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    tool = 0
    try:
        assert proc.stdout is not None
        tool, group = map(int, proc.stdout.readline().split())
        assert group == os.getpgid(proc.pid)  # the caller's group, not a new one
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: pid_gone(tool), timeout=10, what="the interactive tool to die")
    finally:
        if proc.poll() is None:
            proc.kill()
        if tool and not pid_gone(tool):
            os.kill(tool, signal.SIGKILL)


def test_run_interactive_returns_the_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "w") as f:
        assert run_interactive(["sh", "-c", "echo hello; exit 4"], _env(), stdout=f) == 4
    assert out.read_text() == "hello\n"


def test_nself_dies_with_nchat_tui(tmp_path: Path) -> None:
    """``migrate --runner nself``: a killed nchat-tui takes the nself CLI with it (it ran on
    through ``subprocess.run`` before, migrating behind nobody's back), and nself gets the
    password in its environment, never in argv."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pidfile = tmp_path / "nself.pid"
    exe = bindir / "nself"
    exe.write_text(f"#!/bin/sh\necho $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}\n"
                   "exec sleep 120\n")
    exe.chmod(0o755)
    backend = tmp_path / "backend"
    (backend / "migrations").mkdir(parents=True)
    secret = "nself-pw-in-env"
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from nchat_tui.migrate.nself import run_with_nself\n"
            "from nchat_tui.pg.target import resolve_target\n"
            f"t = resolve_target(dsn='host=127.0.0.1 port=1 dbname=x user=u password={secret}',"
            f" backend_dir=Path({str(backend)!r}), state_dir=Path({str(tmp_path / 'state')!r}),"
            " environ={})\n"
            "run_with_nself(t)\n")
    env = _env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    nself = 0
    try:
        wait_for(lambda: pidfile.exists() or proc.poll() is not None, timeout=60,
                 what="the stand-in nself to start")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        nself = int(pidfile.read_text())
        wait_for(lambda: Path(f"/proc/{nself}/cmdline").read_bytes().startswith(b"sleep"),
                 what="the stand-in to exec sleep")
        assert secret.encode() not in Path(f"/proc/{nself}/cmdline").read_bytes()
        assert f"PGPASSWORD={secret}".encode() in \
            Path(f"/proc/{nself}/environ").read_bytes().split(b"\0")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: pid_gone(nself), timeout=10, what="nself to die with nchat-tui")
    finally:
        if proc.poll() is None:
            proc.kill()
        if nself and not pid_gone(nself):
            os.kill(nself, signal.SIGKILL)
