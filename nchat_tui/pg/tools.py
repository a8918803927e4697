"""The PostgreSQL client tools (pg_dump, pg_restore, psql): finding them, checking their version
against the server's, building their command lines, and running them as watched child processes.

A tool runs on this host, or inside the target's container with ``docker exec -i`` when
``target.docker`` is set. The password never appears on a command line: locally it travels in
``PGPASSWORD`` in the child's environment (``Target.subprocess_env``); in docker mode the argv
says only ``-e PGPASSWORD`` (no value), so ``docker`` copies the value from its own environment.
Every command run is journaled by its argv, which therefore holds no secret.

Lookup order for a tool: ``$NCHAT_TUI_PG_BINDIR`` when set (and only there), else ``PATH``, else
``/usr/lib/postgresql/*/bin`` newest first. The first candidate whose major version is at least
the server's wins; none means ``ToolMissing`` (exit 2) naming the version needed.

A child never outlives the tool: it starts through a tiny ``python -I -S`` shim that asks the
kernel for ``PR_SET_PDEATHSIG``/SIGKILL (Linux ``prctl``), checks its parent is still us, then
``exec``s the tool in place (same pid). So a ``kill -9`` of nchat-tui (or a dropped SSH session
that takes it down) also ends its ``pg_dump``/``pg_restore``/``psql`` at once, instead of a dump
writing on for seconds behind nobody's back. (``docker exec``: the client dies; what it started
inside the container is the container's.)
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nchat_tui.errors import OperationFailed, ToolMissing
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal

BINDIR_ENV = "NCHAT_TUI_PG_BINDIR"
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class Cancelled(OperationFailed):
    """The operator cancelled a running tool; the child was killed and its output removed."""

    kind = "cancelled"


def major_of(version_num: int) -> int:
    """Major version from ``server_version_num`` (150004 -> 15; 90624 -> 9)."""
    return version_num // 10000


def parse_version(text: str) -> tuple[int, int]:
    """``pg_dump (PostgreSQL) 15.18 (Debian ...)`` -> (15, 18); raises ValueError."""
    m = VERSION_RE.search(text)
    if not m:
        raise ValueError(f"not a PostgreSQL tool version line: {text.strip()[:80]!r}")
    return int(m.group(1)), int(m.group(2) or 0)


@dataclass(frozen=True)
class PgTool:
    """One located tool. ``path`` is the executable here, or the bare name in docker mode."""

    name: str
    path: str
    version: str
    major: int
    docker: str | None = None

    def describe(self) -> str:
        where = f"in container {self.docker}" if self.docker else self.path
        return f"{self.name} {self.version} ({where})"


def candidate_dirs(environ: dict[str, str] | None = None) -> list[Path] | None:
    """The override directory alone when set, else None (meaning PATH then the Debian dirs)."""
    env = os.environ if environ is None else environ
    if env.get(BINDIR_ENV):
        return [Path(env[BINDIR_ENV])]
    return None


def _debian_dirs() -> list[Path]:
    dirs = [Path(p) for p in Path("/").glob(DEBIAN_GLOB.lstrip("/"))]

    def key(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return -1.0
    return sorted(dirs, key=key, reverse=True)


def candidates(name: str, environ: dict[str, str] | None = None) -> list[str]:
    """Executables that could be ``name``, in the order they are tried."""
    override = candidate_dirs(environ)
    if override is not None:
        p = override[0] / name
        return [str(p)] if p.exists() else []
    out: list[str] = []
    env = os.environ if environ is None else environ
    found = shutil.which(name, path=env.get("PATH"))
    if found:
        out.append(found)
    for d in _debian_dirs():
        p = d / name
        if p.exists() and str(p) not in out:
            out.append(str(p))
    return out


def tool_version(argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``argv --version`` and return its first line (raises ToolMissing on failure)."""
    try:
        proc = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=30,
                              env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissing(f"cannot run {' '.join(argv)} --version: {exc}") from None
    text = (proc.stdout or proc.stderr).strip()
    if proc.returncode != 0 or not VERSION_RE.search(text):
        raise ToolMissing(f"{' '.join(argv)} --version failed: {text[:200] or proc.returncode}")
    return text.splitlines()[0]


def find_tool(name: str, server_major: int | None = None, target: Target | None = None) -> PgTool:
    """Locate ``name`` able to work with a server of ``server_major`` (see the module docstring).

    In docker mode the tool is the container's (``docker exec CONTAINER name --version``).
    """
    needed = f"{server_major} or newer" if server_major else "any version"
    if target is not None and target.docker:
        argv = [docker_binary(), "exec", "-i", target.docker, name]
        try:
            line = tool_version(argv)
        except ToolMissing as exc:
            raise ToolMissing(f"{name} not usable in container {target.docker}: {exc.message}",
                              f"the container needs {name} {needed}") from None
        major, _ = parse_version(line)
        tool = PgTool(name, name, line.split(")", 1)[-1].strip().split()[0], major, target.docker)
        if server_major and major < server_major:
            raise ToolMissing(f"{name} in container {target.docker} is version {major}, older "
                              f"than the server ({server_major})",
                              f"use a container with {name} {needed}")
        return tool
    seen: list[str] = []
    for path in candidates(name):
        try:
            line = tool_version([path])
            major, minor = parse_version(line)
        except (ToolMissing, ValueError):
            seen.append(f"{path} (unusable)")
            continue
        if server_major is None or major >= server_major:
            return PgTool(name, path, f"{major}.{minor}", major)
        seen.append(f"{path} is {major}.{minor}")
    where = os.environ.get(BINDIR_ENV) or "PATH and /usr/lib/postgresql/*/bin"
    if seen:
        raise ToolMissing(f"{name} is too old for this server: need {name} {needed}; found "
                          + "; ".join(seen),
                          f"install postgresql-client-{server_major} or set {BINDIR_ENV}")
    raise ToolMissing(f"{name} not found in {where}; need {name} {needed}",
                      f"install postgresql-client{'-' + str(server_major) if server_major else ''}"
                      f" or set {BINDIR_ENV}")


def docker_binary() -> str:
    return shutil.which("docker") or "docker"


def build_command(target: Target, tool: PgTool, args: list[str],
                  dbname: str | None = None) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run ``tool args`` against the target (or ``dbname`` on it).

    Locally the connection comes from the environment (PG* variables). In docker mode the tool
    reaches the server inside the container by its own defaults plus ``-U``/``-d``; the
    password is passed by name only (``-e PGPASSWORD``) and its value sits in docker's env.
    """
    env = target.subprocess_env(dbname)
    if not tool.docker:
        return [tool.path, *args], env
    eff = target.effective()
    argv = [docker_binary(), "exec", "-i"]
    if env.get("PGPASSWORD"):
        argv += ["-e", "PGPASSWORD"]
    argv += ["-e", "PGAPPNAME", tool.docker, tool.name, "-U", eff["user"],
             "-d", dbname or eff["dbname"], *args]
    return argv, env


def journal_command(journal: Journal | None, argv: list[str], purpose: str) -> None:
    if journal is not None:
        journal.append("command_run", purpose=purpose, argv=argv)


DEATH_SHIM = (
    "import os, signal, sys\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(137)\n"
    "try:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as e:\n"
    "    sys.stderr.write(f'nchat-tui: cannot start {sys.argv[2]}: {e.strerror}\\n')\n"
    "    os._exit(127)\n")
"""Runs in the child: die with the parent (PR_SET_PDEATHSIG = 1), then become the tool."""


def with_death_signal(argv: list[str]) -> list[str]:
    """``argv`` run through ``DEATH_SHIM`` (same pid once it execs; see the module doc)."""
    return [sys.executable, "-I", "-S", "-c", DEATH_SHIM, str(os.getpid()), *argv]


@dataclass
class ToolProcess:
    """A tool running as a child process, its stderr fed line by line to ``on_line``.

    ``stdout`` is a file object (the dump stream in docker mode), ``subprocess.DEVNULL`` or
    ``None`` (captured into ``stdout_text``). ``pid`` is set once started. ``wait`` polls a
    ``threading.Event``: when it is set the child is killed and ``Cancelled`` raised.
    """

    argv: list[str]
    env: dict[str, str]
    on_line: Callable[[str], None] | None = None
    stdout: IO[bytes] | int | None = None
    stdin: IO[bytes] | int | None = None
    tail_lines: int = 40
    proc: subprocess.Popen[bytes] | None = None
    stderr_tail: collections.deque[str] = field(default_factory=collections.deque)
    stdout_text: str = ""
    _reader: threading.Thread | None = None
    _out_reader: threading.Thread | None = None
    killed: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> ToolProcess:
        self.stderr_tail = collections.deque(maxlen=self.tail_lines)
        capture = self.stdout is None
        exe = self.argv[0]
        found = (os.access(exe, os.X_OK) and os.path.isfile(exe)) if os.sep in exe else \
            shutil.which(exe, path=self.env.get("PATH")) is not None
        if not found:
            raise ToolMissing(f"cannot start {exe}: not found or not executable")
        try:
            self.proc = subprocess.Popen(
                with_death_signal(self.argv), env=self.env,
                stdin=self.stdin if self.stdin is not None
                else subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else self.stdout, stderr=subprocess.PIPE,
                start_new_session=True, umask=0o077)  # dump files readable by us only
        except OSError as exc:
            raise ToolMissing(f"cannot start {self.argv[0]}: {exc.strerror or exc}") from None
        self._reader = threading.Thread(target=self._read_stderr, name=f"stderr-{self.pid}",
                                        daemon=True)
        self._reader.start()
        if capture:
            self._out_reader = threading.Thread(target=self._read_stdout, daemon=True)
            self._out_reader.start()
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_tail.append(line)
            if self.on_line is not None:
                with contextlib.suppress(Exception):  # a UI callback must never kill the run
                    self.on_line(line)

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        self.stdout_text = self.proc.stdout.read().decode("utf-8", "replace")

    def kill(self) -> None:
        """Kill the child (and its process group: docker exec, pg_dump -j workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def wait(self, cancel_event: threading.Event | None = None, poll: float = 0.1) -> int:
        """Wait for exit; the stderr reader is drained before returning the exit code."""
        assert self.proc is not None
        try:
            while True:
                try:
                    rc = self.proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    if cancel_event is not None and cancel_event.is_set():
                        self.kill()
                        self.proc.wait()
                        self._join()
                        raise Cancelled(f"{Path(self.argv[0]).name} cancelled by the operator") \
                            from None
        except BaseException:
            # KeyboardInterrupt or a cancel: never leave a child writing behind our back.
            self.kill()
            raise
        self._join()
        return rc

    def _join(self) -> None:
        for t in (self._reader, self._out_reader):
            if t is not None:
                t.join(timeout=10)

    def tail(self, n: int = 5) -> str:
        return "\n".join(list(self.stderr_tail)[-n:])

    def errors(self) -> list[str]:
        """Lines the tool flagged as errors (``pg_dump: error: ...``)."""
        return [ln for ln in self.stderr_tail if re.search(r"\b(error|fatal|FATAL):", ln)]


def run_tool(argv: list[str], env: dict[str, str], *, on_line: Callable[[str], None] | None = None,
             stdout: IO[bytes] | int | None = None, stdin: IO[bytes] | int | None = None,
             cancel_event: threading.Event | None = None, journal: Journal | None = None,
             purpose: str = "", on_start: Callable[[ToolProcess], Any] | None = None
             ) -> ToolProcess:
    """Start ``argv``, journal it, call ``on_start`` with the running process, wait for it."""
    journal_command(journal, argv, purpose)
    tp = ToolProcess(argv, env, on_line=on_line, stdout=stdout, stdin=stdin).start()
    if on_start is not None:
        on_start(tp)
    tp.wait(cancel_event)
    return tp
