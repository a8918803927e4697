"""An interactive psql on the target, for the operator, from inside the app.

``prepare_psql`` builds what to run: the located ``psql`` (or the container's, in docker mode)
with no connection option on its command line (the connection travels in ``PG*`` variables of
the child's environment, the password in ``PGPASSWORD`` there and nowhere else), and a prompt
that names the database and the upgrade phase, so an operator with several terminals open
knows where they are typing. The prompt is set by a psqlrc of ours (``PSQLRC``), which first
includes the operator's own psqlrc, so their settings stay and only the prompt is ours.

With a query to load (a troubleshooting check, or the SQL of its proposed fix), the query is
written to a file (0600, in a 0700 directory removed afterwards) and named on screen: ``\\i``
runs it, ``\\e`` edits it first. psql stays interactive: nothing runs until the operator says so.

``run_psql`` journals that psql was opened and closed (with its exit code); what is typed in
it is never journaled. psql runs through ``pg.tools.run_interactive`` (sh): umask 077 for what
it writes (``\\o``, ``\\copy ... TO``), and it dies with nchat-tui. Never imports Textual; the
app suspends itself around ``run_psql``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nchat_tui.errors import ToolMissing
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import PgTool, docker_binary, find_tool, run_interactive


@dataclass
class PsqlLaunch:
    """What to run, and what to remove afterwards."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    """The child's environment: holds the password (``PGPASSWORD``). Never show or journal."""
    prompt: str
    intro: list[str]
    """Lines printed above psql's own banner (where this is, the loaded query)."""
    query_file: Path | None = None
    workdir: Path | None = None

    def cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _prompt_text(phase: str) -> str:
    """psql's PROMPT1: ``[nchat-tui PHASE] user@host:port/db=#``, ``%`` in names escaped."""
    phase_txt = phase.replace("%", "%%").replace("'", "")
    return f"[nchat-tui {phase_txt}] %n@%M:%>/%/%R%# "


def _psqlrc(workdir: Path, prompt: str, environ: dict[str, str]) -> Path:
    """Our psqlrc: the operator's own first (PSQLRC, else ~/.psqlrc), then our prompt."""
    own = environ.get("PSQLRC") or str(Path(environ.get("HOME") or "~").expanduser()
                                           / ".psqlrc")
    lines = []
    if own and Path(own).is_file():
        lines.append(f"\\i '{own}'")
    lines += [f"\\set PROMPT1 '{prompt}'", f"\\set PROMPT2 '{prompt}'"]
    rc = workdir / "psqlrc"
    fd = os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return rc


def prepare_psql(target: Target, phase: str, *, query: str | None = None,
                 query_label: str = "", tool: PgTool | None = None,
                 environ: dict[str, str] | None = None) -> PsqlLaunch:
    """Build the psql to run on ``target`` (see the module docstring). Raises ``ToolMissing``
    when no psql can be found."""
    env_in = dict(os.environ if environ is None else environ)
    tool = tool or find_tool("psql", target=target)
    prompt = _prompt_text(phase)
    env = target.subprocess_env()
    env["PGAPPNAME"] = "nchat-tui psql"
    intro = [f"psql on {target.masked()} (upgrade phase: {phase}); \\q returns to nchat-tui."]
    workdir: Path | None = None
    query_file: Path | None = None
    if tool.docker:
        # the container runs psql: our files are not there, so the prompt goes by -v and a
        # loaded query is printed for copying
        argv = [docker_binary(), "exec", "-it"]
        if env.get("PGPASSWORD"):
            argv += ["-e", "PGPASSWORD"]
        eff = target.effective()
        argv += ["-e", "PGAPPNAME", tool.docker, "psql", "-U", eff["user"], "-d", eff["dbname"],
                 "-v", f"PROMPT1={prompt}"]
        if query:
            intro += [f"{query_label or 'The query'} (copy it into psql to run it):", query]
        return PsqlLaunch(argv, env, prompt, intro)
    workdir = Path(tempfile.mkdtemp(prefix="nchat-tui-psql-"))
    os.chmod(workdir, 0o700)
    env["PSQLRC"] = str(_psqlrc(workdir, prompt, env_in))
    if query:
        query_file = workdir / "query.sql"
        fd = os.open(query_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(query.rstrip() + "\n")
        intro += [f"{query_label or 'The query'} is loaded in {query_file}:",
                  f"  \\i {query_file}    runs it", f"  \\e {query_file}    edits it, then runs it"]
    return PsqlLaunch([tool.path], env, prompt, intro, query_file, workdir)


def run_psql(launch: PsqlLaunch, journal: Any = None, *, phase: str = "",
             screen: str = "", stdin: Any = None, stdout: Any = None) -> int:
    """Run psql in the foreground on the current terminal; journal its opening and closing.

    The journal gets where and why (phase, screen, the loaded query's label), never what the
    operator typed, never the environment."""
    if journal is not None:
        journal.append("psql_opened", phase=phase, screen=screen,
                       query_loaded=launch.query_file is not None, argv=launch.argv)
    out = stdout
    for line in launch.intro:
        print(line, file=out, flush=True)
    rc = -1
    try:
        rc = run_interactive(launch.argv, launch.env, stdin=stdin, stdout=stdout)
    except ToolMissing as exc:
        print(f"psql could not start: {exc.message}", file=out, flush=True)
    finally:
        launch.cleanup()
        if journal is not None:
            journal.append("psql_closed", phase=phase, exit_code=rc)
    return rc


def wait_for_enter(message: str = "psql ended: press enter to return to nchat-tui") -> None:
    """After a psql that failed at once, keep its message on screen until the operator read it."""
    with contextlib.suppress(EOFError, OSError):
        input(message)
