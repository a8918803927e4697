"""Helpers for the crash and bad-input tests: the real CLI in a subprocess (optionally armed with
a fail point), waiting for conditions, a small tmpfs for disk-full and read-only cases."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from nchat_tui.pg.target import Target
from nchat_tui.state.failpoints import ENV as FAILPOINT_ENV

REPO = Path(__file__).resolve().parent.parent


def cli_env(target: Target, failpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PG") and k not in ("DATABASE_URL", FAILPOINT_ENV)}
    if target.params.get("password"):
        env["PGPASSWORD"] = target.params["password"]
    if failpoint:
        env[FAILPOINT_ENV] = failpoint
    return env


def common_args(target: Target) -> list[str]:
    dsn = " ".join(f"{k}={v}" for k, v in target.params.items() if k != "password")
    args = ["--dsn", dsn, "--backup-dir", str(target.backup_dir), "--state-dir",
            str(target.state_dir)]
    if target.migrations_dir is not None:
        args += ["--migrations", str(target.migrations_dir)]
    return args


def argv_for(target: Target, *args: str) -> list[str]:
    return [sys.executable, "-m", "nchat_tui", *common_args(target), *args]


def cli(target: Target, *args: str, failpoint: str | None = None, timeout: float = 180,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``nchat-tui ARGS`` in a subprocess (the real CLI), armed with ``failpoint`` if given."""
    return subprocess.run(argv_for(target, *args), env=cli_env(target, failpoint),
                          capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          input=stdin if stdin is not None else "")


def start_cli(target: Target, *args: str, failpoint: str | None = None
              ) -> subprocess.Popen[str]:
    return subprocess.Popen(argv_for(target, *args), env=cli_env(target, failpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            stdin=subprocess.DEVNULL)


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.02) -> Any:
    """Poll ``cond`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def pid_gone(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return st.rsplit(")", 1)[-1].split()[0] == "Z"


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The CLI's error: exactly one non-empty stderr line and no traceback."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def admin(target: Target) -> psycopg.Connection[Any]:
    return target.connect("test admin", dbname="postgres")


def databases(target: Target) -> dict[str, bool]:
    with admin(target) as a:
        return {r[0]: r[1] for r in a.execute("SELECT datname, datallowconn FROM pg_database")}


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", ro: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (we are root); unmounted afterwards."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700" + (",ro" if ro else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(d: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``d`` with one file, leaving about ``leave`` bytes free."""
    filler = d / "filler"
    st = os.statvfs(d)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as f:
        want = max(0, free - leave)
        chunk = b"\0" * (64 * 1024)
        while want > 0:
            try:
                n = f.write(chunk[: min(len(chunk), want)])
                f.flush()
            except OSError:
                break
            want -= n
    return filler
