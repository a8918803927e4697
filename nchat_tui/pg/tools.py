"""The external tools (pg_dump, pg_restore, psql, pg_isready, initdb/pg_ctl, nself, docker):
finding the PostgreSQL client tools, checking their version against the server's, building their
command lines, and running every one of them, through ``sh``, as a watched child process.

A tool runs on this host, or inside the target's container with ``docker exec -i`` when
``target.docker`` is set. The password never appears on a command line: locally it travels in
``PGPASSWORD`` in the child's environment (``Target.subprocess_env``); in docker mode the argv
says only ``-e PGPASSWORD`` (no value), so ``docker`` copies the value from its own environment.
Every command run is journaled by its argv, which therefore holds no secret.

Lookup order for a tool: ``$NCHAT_TUI_PG_BINDIR`` when set (and only there), else ``PATH``, else
``/usr/lib/postgresql/*/bin`` newest first. The first candidate whose major version is at least
the server's wins; none means ``ToolMissing`` (exit 2) naming the version needed.

What every child gets (``ToolProcess``, ``run_captured``; ``run_interactive`` for psql on the
operator's terminal): its environment from the caller (so ``PGPASSWORD`` lives there only),
``umask 077`` (a dump, a ``\\o`` file, a server log: ours alone), and, between ``fork`` and
``exec`` (sh's ``_preexec_fn``), ``PR_SET_PDEATHSIG``/SIGKILL from the Linux kernel, then a check
that its parent is still us. So a ``kill -9`` of nchat-tui (or a dropped SSH session that takes it
down) also ends its ``pg_dump``/``pg_restore``/``psql`` at once, instead of a dump writing on for
seconds behind nobody's back. (The signal follows the *thread* that started the child: a tool is
started and waited for by the same thread. ``docker exec``: the client dies; what it started
inside the container is the container's.) Batch tools also get their own session and process
group (``_new_session``): a cancel, a timeout or an exception kills the whole group (``pg_dump -j``
workers, what ``nself`` started). stderr is read line by line as it comes (``on_line``: the
progress of pg_dump and pg_restore).

Every guarantee of the old Popen wrapper holds through sh. Two things are done around it on
purpose: a streamed dump's pipes (``stdout=PIPE``/``stdin=PIPE``) are our own ``os.pipe`` ends,
handed to sh as file descriptors, because sh's pipes go through its reader threads and buffers
(a copy per chunk, and memory) while ``backup.stream`` must read pg_dump's bytes itself; and
sh's callbacks stop the stream when they return a truthy value, so ours return None whatever
the caller's callback returns.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import IO, Any

import sh

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
        proc = run_captured([*argv, "--version"], dict(os.environ) if env is None else env,
                            timeout=30)
    except (ToolMissing, ToolTimeout) as exc:
        raise ToolMissing(f"cannot run {' '.join(argv)} --version: {exc.message}") from None
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



# -- running a child ---------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
ANY_EXIT = tuple(range(-255, 256))
"""sh raises on exit codes not in ``_ok_code``; our callers read the code (negative: a signal)."""


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once here in the parent: the child, between fork and exec,
    only calls it."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: no parent-death signal to ask for
        return None


_PRCTL = _load_prctl()


def _child_setup(parent: int) -> Callable[[], None]:
    """What every child does between fork and exec (sh's ``_preexec_fn``): files it creates are
    ours alone, it dies with us (``PR_SET_PDEATHSIG``), and if we died before it asked, it never
    becomes the tool. SIGHUP (sh's ``_bg`` ignores it in the child) and SIGXFSZ (Python ignores
    it) go back to their defaults, as ``subprocess`` restores them."""

    def setup() -> None:
        os.umask(0o077)
        for sig in (signal.SIGHUP, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(137)

    return setup


def _command(argv: list[str], env: dict[str, str]) -> sh.Command:
    """``argv[0]`` as an ``sh.Command``, looked up on the child's own ``PATH``; ToolMissing
    (exit 2, one line) when it is not there or not executable."""
    exe = argv[0]
    found = (exe if os.access(exe, os.X_OK) and os.path.isfile(exe) else None) if os.sep in exe \
        else shutil.which(exe, path=env.get("PATH"))
    if not found:
        raise ToolMissing(f"cannot start {exe}: not found or not executable")
    try:
        return sh.Command(found)
    except sh.CommandNotFound:
        raise ToolMissing(f"cannot start {exe}: not found or not executable") from None


class ToolTimeout(OperationFailed):
    """A tool ran longer than its caller allows; it was killed (with its process group)."""

    kind = "timeout"


@dataclass
class ToolProcess:
    """A tool running as a child process (through ``sh``), its stderr fed line by line to
    ``on_line``.

    ``stdout``: a file object (the dump stream in docker mode), ``DEVNULL``, ``PIPE`` (then
    ``stdout_pipe`` is our unbuffered read end) or ``None`` (captured into ``stdout_text``).
    ``stdin``: a file object, ``PIPE`` (then ``stdin_pipe`` is our write end), or ``None`` /
    ``DEVNULL`` (empty). ``pid`` is set once started. ``wait`` polls a ``threading.Event``:
    when it is set the child's process group is killed and ``Cancelled`` raised.
    ``tail_lines=None`` keeps all of stderr.
    """

    argv: list[str]
    env: dict[str, str]
    on_line: Callable[[str], object] | None = None
    """Called with each stderr line; what it returns is ignored (post_message returns True)."""
    stdout: IO[bytes] | int | None = None
    stdin: IO[bytes] | int | None = None
    tail_lines: int | None = 40
    cwd: str | Path | None = None
    running: sh.RunningCommand | None = None
    stderr_tail: collections.deque[str] = field(default_factory=collections.deque)
    stdout_text: str = ""
    stdout_pipe: IO[bytes] | None = None
    stdin_pipe: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return int(self.running.pid) if self.running is not None else None

    def start(self) -> ToolProcess:
        self.stderr_tail = collections.deque(maxlen=self.tail_lines)
        cmd = _command(self.argv, self.env)
        close_after: list[int | IO[bytes]] = []
        try:
            out = self._stdout_arg(close_after)
            stdin = self._stdin_arg(close_after)
            self.running = cmd(
                *self.argv[1:], _env=self.env, _cwd=None if self.cwd is None else str(self.cwd),
                _in=stdin, _out=out, _err=self._stderr_line, _tty_out=False, _encoding="utf-8",
                _decode_errors="replace", _ok_code=ANY_EXIT, _bg=True, _bg_exc=False,
                _new_session=True, _preexec_fn=_child_setup(os.getpid()))
        except (OSError, sh.ForkException) as exc:
            self._close_pipes()
            raise ToolMissing(f"cannot start {self.argv[0]}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        finally:
            for end in close_after:  # the child's ends (sh gave it duplicates)
                with contextlib.suppress(OSError):
                    if isinstance(end, int):
                        os.close(end)
                    else:
                        end.close()
        return self

    def _stdout_arg(self, close_after: list[int | IO[bytes]]) -> int | IO[bytes] | None:
        if self.stdout is None:
            return None
        if self.stdout == DEVNULL:
            fd = os.open(os.devnull, os.O_WRONLY)
            close_after.append(fd)
            return fd
        if self.stdout == PIPE:
            r, w = os.pipe()
            self.stdout_pipe = os.fdopen(r, "rb", buffering=0)
            close_after.append(w)
            return w
        return self.stdout

    def _stdin_arg(self, close_after: list[int | IO[bytes]]) -> IO[bytes]:
        if self.stdin is None or self.stdin == DEVNULL:
            empty = open(os.devnull, "rb")  # noqa: SIM115 (closed once the child has its copy)
            close_after.append(empty)
            return empty
        if self.stdin == PIPE:
            r, w = os.pipe()
            self.stdin_pipe = os.fdopen(w, "wb", buffering=0)
            child_end = os.fdopen(r, "rb", buffering=0)
            close_after.append(child_end)
            return child_end
        if isinstance(self.stdin, int):
            raise ValueError(f"stdin must be a file, DEVNULL, PIPE or None, not fd {self.stdin}")
        return self.stdin

    def _close_pipes(self) -> None:
        for f in (self.stdout_pipe, self.stdin_pipe):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()

    def _stderr_line(self, chunk: str | bytes) -> None:
        """sh's ``_err`` callback, one line at a time. Returns None: a truthy return would make
        sh stop reading stderr, and the tool would block on a full pipe."""
        line = (chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk)
        line = line.rstrip("\n")
        self.stderr_tail.append(line)
        if self.on_line is not None:
            with contextlib.suppress(Exception):  # a UI callback must never kill the run
                self.on_line(line)

    def alive(self) -> bool:
        return self.running is not None and self.running.is_alive()

    def kill(self) -> None:
        """Kill the child's process group (docker exec, pg_dump -j workers), then the child."""
        if self.running is None or not self.running.is_alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.running.pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.running.kill()

    def wait(self, cancel_event: threading.Event | None = None, poll: float = 0.1,
             timeout: float | None = None) -> int:
        """Wait for exit and for stderr to be read to its end; the exit code (negative: the
        signal that ended it). ``Cancelled`` when ``cancel_event`` is set, ``ToolTimeout`` past
        ``timeout`` seconds: the process group is killed first either way."""
        running = self.running
        assert running is not None
        pause = threading.Event() if cancel_event is None else cancel_event
        waited = 0.0
        try:
            while running.is_alive():
                if cancel_event is not None and cancel_event.is_set():
                    self._stop()
                    raise Cancelled(f"{Path(self.argv[0]).name} cancelled by the operator")
                if timeout is not None and waited >= timeout:
                    self._stop()
                    raise ToolTimeout(f"{Path(self.argv[0]).name} ran longer than "
                                      f"{timeout:g} s and was stopped")
                # sleeps ``poll`` unless the cancel comes first
                pause.wait(poll)
                waited += poll
            running.wait()
        except BaseException:
            # KeyboardInterrupt or a cancel: never leave a child writing behind our back.
            self.kill()
            raise
        if self.stdout is None:
            self.stdout_text = running.stdout.decode("utf-8", "replace")
        return running.exit_code

    def _stop(self) -> None:
        self.kill()
        if self.running is not None:
            with contextlib.suppress(Exception):
                self.running.wait()


@dataclass(frozen=True)
class ToolResult:
    """A finished tool: exit code (negative: the signal), stdout, stderr (text)."""

    returncode: int
    stdout: str
    stderr: str


def run_captured(argv: list[str], env: dict[str, str], *, cwd: str | Path | None = None,
                 timeout: float | None = None) -> ToolResult:
    """Run a short tool to its end with the guarantees of ``ToolProcess`` (own process group,
    death with us, umask 077, env only), its stdout and stderr captured whole.
    ``ToolMissing`` when it cannot start, ``ToolTimeout`` (group killed) past ``timeout``."""
    tp = ToolProcess(argv, env, tail_lines=None, cwd=cwd).start()
    rc = tp.wait(timeout=timeout)
    return ToolResult(rc, tp.stdout_text, "\n".join(tp.stderr_tail) + ("\n" if tp.stderr_tail
                                                                        else ""))


def run_interactive(argv: list[str], env: dict[str, str], *, stdin: IO[Any] | None = None,
                    stdout: IO[Any] | None = None) -> int:
    """Run a tool on the operator's terminal (psql) until it exits; its exit code.

    It gets the password only in its environment, ``umask 077`` and death with us, like every
    tool. Not its own process group: an interactive program must stay in the terminal's
    foreground group to read the keyboard (in another group it would be stopped with SIGTTIN),
    so a crash ends it by the parent-death signal alone. ``stdin``/``stdout`` default to our
    file descriptors 0, 1 and 2 themselves (the app may have replaced ``sys.stdout``)."""
    cmd = _command(argv, env)
    term_in = open(0, "rb", buffering=0, closefd=False) if stdin is None else stdin  # noqa: SIM115
    term_out: IO[Any] | int = 1 if stdout is None else stdout
    try:
        running = cmd(*argv[1:], _env=env, _in=term_in, _out=term_out,
                      _err=2 if stdout is None else term_out, _ok_code=ANY_EXIT,
                      _bg=True, _bg_exc=False, _preexec_fn=_child_setup(os.getpid()))
    except (OSError, sh.ForkException) as exc:
        raise ToolMissing(f"cannot start {argv[0]}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        running.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            running.kill()
        raise
    return running.exit_code
