"""``migrate --runner nself``: let the nself CLI apply the migrations, then check its work.

Drives ``nself db migrate status`` and ``nself db migrate up`` in the backend directory,
detects the CLI's version (``nself version --short``), parses its output (``Applied N
migration(s).``, ``No pending migrations.``, the ``MIGRATION  STATUS  APPLIED AT`` table) and
its exit codes (1 on failure in v1.4, 2 with ``[E2xx]`` in v1.5), and then reads the ledger
itself: the Bash CLI (v0.9) records a failed file as applied, and its ``status`` shows
everything pending. A file the ledger now records but whose objects (from the plan: created
relations, added columns) are missing is reported as a failure the CLI hid.

Our migration lock is NOT held while nself runs: the Go CLI takes the same key with a blocking
``pg_advisory_lock`` and would wait on us forever. We only check that nobody holds it before
starting. The password reaches nself through its environment, never argv; nself runs through
``pg.tools`` (sh) like every tool: its own process group (killed with it past the timeout), umask
077, and it dies with nchat-tui rather than migrating on behind nobody's back.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from nchat_tui.errors import BadInput, LockHeld, ToolMissing
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger, pending
from nchat_tui.migrate.plan import build_plan
from nchat_tui.migrate.runner import check_gate, lock_holder
from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import run_captured
from nchat_tui.state.journal import Journal

if TYPE_CHECKING:
    from nchat_tui.cli.main import CliContext

APPLIED = re.compile(r"Applied\s+(\d+)\s+migration", re.I)
NO_PENDING = re.compile(r"No pending migrations", re.I)
ERROR_CODE = re.compile(r"\[(E2\d\d)\]")
STATUS_ROW = re.compile(r"^\s*(?P<name>\S+\.sql)\s+(?P<status>applied|pending)\b\s*(?P<at>.*)$",
                        re.I)


@dataclass
class NselfCall:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float


@dataclass
class NselfRunResult:
    status: str
    """ok, failed, nothing_to_do"""
    cli_version: str | None
    cli_generation: str
    """go (v1.x) or bash (v0.9 and older) or unknown"""
    exit_code_nself: int | None = None
    error_code: str | None = None
    applied_reported: int | None = None
    pending_before: list[str] = field(default_factory=list)
    recorded_now: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    recorded_but_missing: dict[str, list[str]] = field(default_factory=dict)
    status_disagreements: list[str] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("ok", "nothing_to_do") else 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        d["runner"] = "nself"
        return d


def _nself(target: Target, backend: Path, *args: str, timeout: float = 3600) -> NselfCall:
    exe = shutil.which("nself")
    if exe is None:
        raise ToolMissing("the nself CLI is not on PATH", "install it, or use --runner ours")
    argv = [exe, *args]
    t0 = time.monotonic()
    proc = run_captured(argv, target.subprocess_env(), cwd=backend, timeout=timeout)
    return NselfCall(["nself", *args], proc.returncode, proc.stdout, proc.stderr,
                     round(time.monotonic() - t0, 3))


def parse_status(text: str) -> dict[str, str]:
    """``nself db migrate status`` rows: file name -> applied | pending."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = STATUS_ROW.match(line)
        if m:
            out[m.group("name")] = m.group("status").lower()
    return out


def parse_up(call: NselfCall) -> tuple[int | None, str | None, bool]:
    """(applied count reported, [E2xx] code, "no pending" reported)."""
    text = call.stdout + "\n" + call.stderr
    m = APPLIED.search(text)
    e = ERROR_CODE.search(text)
    return (int(m.group(1)) if m else None, e.group(1) if e else None,
            bool(NO_PENDING.search(text)))


def generation(version: str | None) -> str:
    if not version:
        return "unknown"
    m = re.match(r"v?(\d+)\.", version.strip())
    if not m:
        return "unknown"
    return "go" if int(m.group(1)) >= 1 else "bash"


def run_with_nself(target: Target, *, journal: Journal | None = None,
                   without_backup: str | None = None, timeout: float = 3600) -> NselfRunResult:
    backend = target.backend_dir
    if backend is None:
        raise BadInput("--runner nself needs --backend-dir DIR (where nself runs)")
    if target.migrations_dir is None or not target.migrations_dir.is_dir():
        raise BadInput("no migrations directory under the backend directory")
    ver_call = _nself(target, backend, "version", "--short", timeout=60)
    version = ver_call.stdout.strip().splitlines()[0] if ver_call.exit_code == 0 and \
        ver_call.stdout.strip() else None
    res = NselfRunResult(status="ok", cli_version=version, cli_generation=generation(version))
    disc = discover(target.migrations_dir)
    with target.connect("nchat-tui migrate (nself check)") as conn:
        # Nobody else may be migrating; we do not hold the lock ourselves (see the docstring).
        row = conn.execute(sql_text("runner/try_lock.sql")).fetchone()
        if not (row and row[0]):
            h = lock_holder(conn)
            raise LockHeld("another run holds the migration lock: "
                           + (h.describe() if h else "a session that ended meanwhile"))
        conn.execute(sql_text("runner/unlock.sql"))
        ledger = detect_ledger(conn)
        check_gate(target, conn, ledger, without_backup=without_backup, journal=journal)
        todo = pending(disc.files, ledger)
        plan = build_plan(conn, todo, ledger)
    res.pending_before = [f.name for f in todo]
    st_call = _nself(target, backend, "db", "migrate", "status", timeout=300)
    theirs = parse_status(st_call.stdout)
    for f in disc.files:
        ours = "pending" if f in todo else "applied"
        if f.name in theirs and theirs[f.name] != ours:
            res.status_disagreements.append(f"{f.name}: nself says {theirs[f.name]}, the "
                                            f"ledger says {ours}")
    if res.status_disagreements and res.cli_generation == "bash":
        res.notes.append("the Bash CLI's `migrate status` shows every file pending (a grep bug); "
                         "the ledger is what counts")
    if journal is not None:
        journal.append("nself_migrate_started", cli_version=version,
                       pending=res.pending_before, backend_dir=str(backend))
    up = _nself(target, backend, "db", "migrate", "up", timeout=timeout)
    res.exit_code_nself = up.exit_code
    res.applied_reported, res.error_code, no_pending = parse_up(up)
    res.output_tail = (up.stdout + up.stderr).strip().splitlines()[-20:]
    with target.connect("nchat-tui migrate (nself check)") as conn:
        after = detect_ledger(conn)
        now_applied = [f for f in todo if after.is_applied(f)]
        res.recorded_now = [f.name for f in now_applied]
        res.still_pending = [f.name for f in todo if not after.is_applied(f)]
        # What the plan says each file creates must exist if the ledger says it was applied.
        for fp in plan.files:
            if fp.file not in res.recorded_now:
                continue
            missing: list[str] = []
            dropped = {t.name for s in fp.statements if s.kind == "DropStmt" for t in s.targets}
            for s in fp.statements:
                for name in s.creates:
                    if name in dropped:
                        continue
                    r = conn.execute(sql_text("runner/object_exists.sql"),
                                     {"name": name}).fetchone()
                    if not (r and r[0]):
                        missing.append(name)
                for col in s.added_columns:
                    rel, _, att = col.rpartition(".")
                    r = conn.execute(sql_text("runner/added_column_exists.sql"),
                                     {"relation": rel, "column": att.strip('"')}).fetchone()
                    if not (r and r[0]):
                        missing.append(col)
            if missing:
                res.recorded_but_missing[fp.file] = missing
    if not todo and (no_pending or up.exit_code == 0):
        res.status = "nothing_to_do"
    if up.exit_code != 0 or res.error_code:
        res.status = "failed"
        res.notes.append(f"nself exited {up.exit_code}" + (f" with [{res.error_code}]"
                                                           if res.error_code else ""))
    if res.recorded_but_missing:
        res.status = "failed"
        res.notes.append("the ledger records file(s) as applied whose objects are missing: the "
                         "nself CLI recorded a failed migration as applied (Bash CLI behaviour); "
                         "restore the backup or repair by hand, then fix the ledger")
    if up.exit_code == 0 and res.still_pending:
        res.status = "failed"
        res.notes.append("nself reported success but the ledger still lists pending files: "
                         + ", ".join(res.still_pending))
    if res.applied_reported is not None and res.applied_reported != len(res.recorded_now):
        res.notes.append(f"nself said it applied {res.applied_reported}, the ledger gained "
                         f"{len(res.recorded_now)}")
    if journal is not None:
        journal.append("nself_migrate_finished", status=res.status, nself_exit=up.exit_code,
                       error_code=res.error_code, recorded=res.recorded_now,
                       still_pending=res.still_pending,
                       recorded_but_missing=res.recorded_but_missing)
    return res


def run_nself_cli(args: argparse.Namespace, ctx: CliContext, journal: Journal) -> int:
    """``nchat-tui migrate --runner nself``."""
    if args.down:
        raise BadInput("--runner nself cannot --down: the Go CLI's `migrate down` looks for "
                       "X.up.down.sql and cannot revert nChat's X.up.sql/X.down.sql pairs; "
                       "use --runner ours")
    try:
        res = run_with_nself(ctx.target(), journal=journal, without_backup=args.without_backup)
    except psycopg.Error as exc:
        raise BadInput(f"database error while checking the ledger: {exc}") from None
    if ctx.json:
        ctx.emit_json(res.to_dict())
        return res.exit_code
    ctx.out(f"nself {res.cli_version or '(version unknown)'} ({res.cli_generation} CLI): "
            f"{res.status}")
    for line in res.output_tail:
        ctx.out(f"  | {line}")
    ctx.out(f"ledger now records: {', '.join(res.recorded_now) or 'nothing new'}")
    if res.still_pending:
        ctx.out(f"still pending: {', '.join(res.still_pending)}")
    for f, miss in res.recorded_but_missing.items():
        ctx.out(f"RECORDED BUT MISSING {f}: {', '.join(miss)}")
    for d in res.status_disagreements:
        ctx.out(f"status disagrees: {d}")
    for n in res.notes:
        ctx.out(f"note: {n}")
    return res.exit_code
