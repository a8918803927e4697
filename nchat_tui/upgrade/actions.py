"""Automated checklist steps: each action reads the target and reports ok / warn / failed.

An upgrade path names these by string (``action = "disk_space"``); ``ACTIONS`` maps the names
to functions. An action never changes the database unless its name says so, and reports its
evidence as plain JSON-able data for the journal and the report (never a secret).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nchat_tui import fmt
from nchat_tui.migrate.status import server_facts
from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.checklist import Checklist, StepResult
from nchat_tui.upgrade.contract import SessionCache

MIN_SERVER_NUM = 140000  # seed 004: "Database Version: PostgreSQL 14+"


@dataclass
class Progress:
    """A long action's progress: ``fraction`` 0..1, or None when it cannot be known."""

    fraction: float | None
    text: str


@dataclass
class Question:
    """A decision only the operator can take mid-action (for example a lock wait).

    ``choices`` are (key, label) pairs; the answer is a key. ``danger`` keys need the
    operator to type ``confirm_word`` first.
    """

    title: str
    text: str
    choices: list[tuple[str, str]]
    default: str
    danger: tuple[str, ...] = ()
    confirm_word: str | None = None


class DefaultAnswer(str):
    """An answer nobody gave: the question's safe default, returned by an ``ask`` that could
    not reach the operator any more (the app closed while the question was open)."""


def _no_progress(_: Progress) -> None:
    return None


@dataclass
class VerifyOptions:
    """How the verification steps verify (``verify``'s options; the defaults in the app)."""

    against: str | None = None
    """The before-snapshot's manifest (None: the before-snapshot of the latest verified
    backup)."""
    health_url: str | None = None
    release: str | None = None
    estimate_over_bytes: int | None = None
    """Estimate the rows of tables above this size instead of counting them (None: count all)."""
    count_budget_s: float | None = None
    """Seconds all exact counts may take together (None: the default budget)."""


@dataclass
class ActionContext:
    target: Target
    journal: Journal | None = None
    step: str | None = None
    """The checklist step this action runs for (None outside a checklist)."""
    checklist: Checklist | None = None
    cache: SessionCache | None = None
    """What the session's steps share (the plan, the verification, the rollback choice); None
    outside a session."""
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    progress: Callable[[Progress], None] = _no_progress
    cancel: threading.Event = field(default_factory=threading.Event)
    ask: Callable[[Question], str] | None = None
    """None when nobody can answer (headless): actions then take the safe default."""

    unanswered: list[str] = field(default_factory=list)
    """Titles of the questions that took their default because nobody could answer them."""

    def decide(self, q: Question) -> str:
        answer = self.ask(q) if self.ask else q.default
        defaulted = isinstance(answer, DefaultAnswer)
        if defaulted:
            self.unanswered.append(q.title)
        if self.journal is not None:
            extra = {"unanswered": "the app closed before the operator answered: the safe "
                                   "default was taken"} if defaulted else {}
            self.journal.append("decision", title=q.title, answer=str(answer),
                                asked=self.ask is not None and not defaulted, **extra)
        return str(answer)


def act_connect(ctx: ActionContext) -> StepResult:
    with ctx.target.connect("nchat-tui check") as conn:
        f = server_facts(conn)
    ev = {"server_version": f.server_version, "database": f.database, "user": f.user,
          "is_superuser": f.is_superuser, "database_size": f.database_size,
          "in_recovery": f.in_recovery, "pg_stat_statements": f.pg_stat_statements["state"]}
    msg = (f"PostgreSQL {f.server_version}, database {f.database} "
           f"({fmt.size(f.database_size)}) as {f.user}")
    if f.in_recovery:
        return StepResult("failed", msg + ": this server is a standby (read-only); "
                          "connect to the primary", ev)
    if f.server_version_num < MIN_SERVER_NUM:
        return StepResult("warn", msg + ": the guide requires PostgreSQL 14+", ev)
    if not f.is_superuser:
        return StepResult("warn", msg + ": not a superuser; row counts may be hidden by RLS and "
                          "some steps need the table owner", ev)
    return StepResult("ok", msg, ev)


def act_detect_ledger(ctx: ActionContext) -> StepResult:
    from nchat_tui.migrate.ledger import detect_ledger  # noqa: PLC0415 - not at app start

    with ctx.target.connect("nchat-tui check") as conn:
        led = detect_ledger(conn)
    applied = led.applied_names()
    ev: dict[str, Any] = {"kind": led.kind, "kinds": led.kinds, "applied": applied,
                          "current_version": led.current_version()}
    if led.kind == "none":
        return StepResult("warn", "no migration ledger found (schema_migrations, "
                          "np_common.schema_versions, nself_ops.migrations): nothing recorded yet", ev)
    extra = f" (also {', '.join(k for k in led.kinds if k != led.kind)})" if len(led.kinds) > 1 else ""
    return StepResult("ok", f"{led.kind} ledger{extra}: {len(applied)} applied, current "
                      f"{ev['current_version'] or 'none'}", ev)


def _pending(ctx: ActionContext) -> tuple[list[str], list[str]] | StepResult:
    from nchat_tui.migrate.discovery import discover  # noqa: PLC0415 - not at app start
    from nchat_tui.migrate.ledger import detect_ledger, pending  # noqa: PLC0415 - not at app start

    mdir = ctx.target.migrations_dir
    if mdir is None:
        return StepResult("failed", "no migrations directory: give --migrations DIR or "
                          "--backend-dir DIR", {})
    if not mdir.is_dir():
        return StepResult("failed", f"migrations directory {mdir} does not exist", {})
    disc = discover(mdir)
    with ctx.target.connect("nchat-tui check") as conn:
        led = detect_ledger(conn)
    return [f.name for f in pending(disc.files, led)], list(disc.warnings)


def act_pending_migrations(ctx: ActionContext) -> StepResult:
    got = _pending(ctx)
    if isinstance(got, StepResult):
        return got
    names, warnings = got
    ev = {"pending": names, "warnings": warnings,
          "migrations_dir": str(ctx.target.migrations_dir)}
    if not names:
        return StepResult("ok", "no pending migrations", ev)
    status = "warn" if warnings else "ok"
    return StepResult(status, f"{len(names)} pending, in run order: {', '.join(names)}", ev)


def act_no_pending_migrations(ctx: ActionContext) -> StepResult:
    got = _pending(ctx)
    if isinstance(got, StepResult):
        return got
    names, warnings = got
    ev = {"pending": names, "warnings": warnings}
    if names:
        return StepResult("failed", f"{len(names)} migration(s) still pending: {', '.join(names)}",
                          ev)
    return StepResult("ok", "no pending migrations", ev)


def existing_parent(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def act_disk_space(ctx: ActionContext) -> StepResult:
    with ctx.target.connect("nchat-tui check") as conn:
        row = conn.execute(sql_text("backup/database_size.sql")).fetchone()
    assert row is not None
    db_size = int(row[0])
    where = existing_parent(ctx.target.backup_dir)
    usage = shutil.disk_usage(where)
    # A custom-format dump is usually much smaller than the database, but indexes, bloat and
    # incompressible data vary: plan for the full size plus a margin, never less than 1 GB
    # (the guide's figure).
    need = max(db_size + max(db_size // 10, 256 * 1024**2), 1024**3)
    ev = {"backup_dir": str(ctx.target.backup_dir), "measured_at": str(where),
          "free_bytes": usage.free, "database_bytes": db_size, "needed_bytes": need}
    msg = (f"{fmt.size(usage.free)} free at {where} for a {fmt.size(db_size)} database "
           f"(needs {fmt.size(need)})")
    if ctx.target.docker:
        ev["note"] = "docker mode: the dump streams to this host's backup directory"
    if usage.free < need:
        return StepResult("failed", msg + ": not enough for a backup", ev)
    if usage.free < 2 * need:
        return StepResult("warn", msg + ": tight", ev)
    return StepResult("ok", msg, ev)


ACTIONS: dict[str, Callable[[ActionContext], StepResult]] = {
    "connect": act_connect,
    "detect_ledger": act_detect_ledger,
    "pending_migrations": act_pending_migrations,
    "no_pending_migrations": act_no_pending_migrations,
    "disk_space": act_disk_space,
}
