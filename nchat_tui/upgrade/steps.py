"""Checklist actions backed by the engines: backup, plan, rehearsal, migration, verification.

Each adapts one engine (``backup.py``, ``plan.py``, ``rehearse.py``, ``runner.py``,
``verify.py``) to the checklist: its progress becomes ``Progress``, its decisions become
``Question``s for the operator (or the engine's safe headless default when nobody can answer),
and its outcome becomes a ``StepResult`` with evidence. Engines are imported lazily so the
checklist loads even where an engine cannot (for example, pglast missing).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from nchat_tui import fmt
from nchat_tui.backup.method import Compression, fastest_gzip_level
from nchat_tui.errors import BadInput, NchatError, NeedsBackup, Refused
from nchat_tui.pg.guard import guarded
from nchat_tui.pg.tools import find_tool
from nchat_tui.upgrade.actions import ActionContext, Progress, Question
from nchat_tui.upgrade.checklist import StepResult

if TYPE_CHECKING:
    from nchat_tui.migrate.plan import LockTarget, Plan


# -- backup ------------------------------------------------------------------------------------
def _reusable_backup(ctx: ActionContext) -> tuple[Any, str]:
    """The latest verified backup the migration gate would accept now, and a line on what was
    written since it; (None, "") when the gate would refuse every backup."""
    from nchat_tui.backup import engine as bk  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.ledger import detect_ledger  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.runner import check_gate  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.pg.snapshot import (  # noqa: PLC0415 - lazy engine (module doc)
        describe_writes,
        read_table_stats,
        writes_between,
    )

    with ctx.target.connect("nchat-tui backup check") as conn:
        try:
            check_gate(ctx.target, conn, detect_ledger(conn), without_backup=None, journal=None)
        except Refused:
            return None, ""
        b = bk.latest_verified_backup(ctx.target, conn, recheck=False)  # the gate hashed it
        if b is None:
            return None, ""
        before = (b.manifest or {}).get("snapshot", {}).get("table_stats")
        if not isinstance(before, dict) or before.get("tables") is None:
            return b, ""
        w = writes_between(before, read_table_stats(conn))
    if "unavailable" in w:
        return b, f"\nRows written since it: {describe_writes(w)}."
    return b, (f"\nWritten since it (statistics counters): {describe_writes(w)}; a restore of "
               "it would lose them.")


class BackupProgressView:
    """The backup's progress as the app shows it: one fraction for the bar, the bytes line
    and the time left, so they can never contradict each other.

    The engine reports two measures that drift apart: the share of the table data done
    (weighted by size, moving only when a table ends) and the bytes written (continuous,
    against an estimate from an earlier backup's compression). Here one fraction is kept:
    the larger of the two, never going back, below 100% until pg_dump ends. The total shown is
    derived from it (``written / fraction``), so "X of ~Y" always equals the bar; the estimate
    is recalibrated from the compression actually seen once a fifth of the data is done.
    The time left is the rest divided by the rate of the last few seconds, said only once it
    can be measured, and it covers writing the dump: verification follows and is not timed.
    """

    WINDOW_S = 5.0
    """The rate behind the time left: the last few seconds, not the average since the start
    (pg_dump's schema and small tables go faster than the big ones)."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self._now = now or time.monotonic
        self.fraction = 0.0
        self.estimate: int | None = None
        self._history: list[tuple[float, float]] = []
        self._stage_start: float | None = None

    def _left(self, t: float) -> str:
        hist = [h for h in self._history if t - h[0] <= self.WINDOW_S] or self._history[-1:]
        span = t - hist[0][0] if hist else 0.0
        if self._stage_start is None or t - self._stage_start < 2.0 or span < 1.0 \
                or self.fraction < 0.05:
            return ""
        rate = (self.fraction - hist[0][1]) / span
        if rate <= 0:
            return ""
        left = (1 - self.fraction) / rate
        return f", about {fmt.seconds_left(left)} left to write (verification follows)"

    def update(self, p: Any) -> Progress:
        """The app's Progress for one engine event."""
        t = self._now()
        if p.operation != "backup" or p.phase in ("verify", "checksum", "full-read", "toc",
                                                 "done"):
            if p.kind == "finished" or p.phase == "done":
                return Progress(1.0, p.message or "backup finished")
            what = {"checksum": "checksum", "full-read": "reading every block back "
                    "(pg_restore -f /dev/null)", "toc": "table of contents against the "
                    "manifest"}.get(p.phase, p.message or p.phase)
            return Progress(None, f"verifying the dump: {what}")
        if p.phase == "method":  # how it dumps and why, said before the dump starts
            return Progress(None, f"method: {p.message}")
        if p.phase not in ("dump", "data", "indexes", "schema") and p.kind != "table" \
                and not p.bytes_done:
            return Progress(None, f"preparing: {p.message or p.phase}")
        if self._stage_start is None:
            self._stage_start = t
        if p.bytes_estimate and self.estimate is None:
            self.estimate = int(p.bytes_estimate)
        if p.kind == "table" and p.fraction >= 0.2 and p.bytes_done:
            self.estimate = int(p.bytes_done / p.fraction)  # the compression seen so far
        by_bytes = p.bytes_done / self.estimate if self.estimate else 0.0
        self.fraction = min(0.99, max(self.fraction, p.fraction, by_bytes))
        self._history.append((t, self.fraction))
        self._history = [h for h in self._history if t - h[0] <= 2 * self.WINDOW_S]
        written = fmt.size(p.bytes_done)
        amount = (f"{written} of ~{fmt.size(p.bytes_done / self.fraction)}"
                  if p.bytes_done and self.fraction > 0 else written)
        tables = f"{p.tables_done}/{p.tables_total} tables" if p.tables_total else ""
        text = (f"writing the dump: {self.fraction:.0%}, {amount} written"
                + (f", {tables}" if tables else "") + self._left(t))
        return Progress(self.fraction, text)


def act_backup(ctx: ActionContext) -> StepResult:
    from nchat_tui.backup import engine as bk  # noqa: PLC0415 - lazy engine (module doc)

    existing, since = None, ""
    if ctx.ask is not None:
        try:
            existing, since = _reusable_backup(ctx)
        except Exception:  # the gate's own check decides later; here it only offers a reuse
            existing = None
    if existing is not None and ctx.ask is not None:
        answer = ctx.decide(Question(
            "A verified backup exists",
            f"{existing.path.name} ({fmt.size(existing.size or 0)}, {fmt.ago(existing.created)}) is a "
            f"verified backup of this database taken since its last migration.{since}\n"
            "Use it, or take a new one now?",
            [("new", "Take a new backup"), ("reuse", "Use the existing one")], default="new"))
        if answer == "reuse":
            return StepResult("ok", f"using the verified backup {existing.path}",
                              {**existing.as_dict(), "reused": True})

    view = BackupProgressView()

    def on_progress(p: Any) -> None:
        ctx.progress(view.update(p))

    try:
        res = bk.run_backup(ctx.target, on_progress=on_progress, cancel_event=ctx.cancel,
                            journal=ctx.journal)
    except bk.Cancelled as exc:
        return StepResult("failed", f"cancelled: {exc.message}", {"cancelled": True})
    rows = sum(int(v) for v in res.manifest["snapshot"]["row_counts"].values())
    ev: dict[str, Any] = {
        "path": str(res.path), "manifest": str(res.manifest_path), "state": res.state,
        "size": res.size, "sha256": res.sha256, "duration_s": round(res.duration_s, 1),
        "rows_in_snapshot": rows, "counted_as": res.manifest["snapshot"]["counted_as"]["role"],
        "rls_could_hide_rows": res.manifest["snapshot"]["rls"]["rls_could_hide_rows"]}
    method = res.manifest.get("method") or {}
    if method:  # how it was dumped, why, and whether nself db restore can read it
        ev["method"] = {"summary": method["summary"], "reason": method["reason"],
                        "nself_restorable": method["nself_restorable"],
                        "notes": method.get("notes") or []}
    if res.leftovers:
        ev["leftovers"] = [lo.as_dict() for lo in res.leftovers]
    if res.warnings:
        ev["warnings"] = res.warnings
    summary = (f"{res.state}: {res.path.name}, {fmt.size(res.size or 0)}, {rows:,} rows, "
               f"in {res.duration_s:.1f} s")
    if res.state != "verified":
        return StepResult("failed", summary + " (not verified: the migration gate stays closed)",
                          ev)
    status = "warn" if res.leftovers or ev["rls_could_hide_rows"] else "ok"
    if res.leftovers:
        summary += f"; {len(res.leftovers)} leftover(s) of an interrupted run found"
    return StepResult(status, summary, ev)


# -- plan --------------------------------------------------------------------------------------
def build_target_plan(ctx: ActionContext, direction: str = "up") -> Plan:
    from nchat_tui.migrate.discovery import discover  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.ledger import detect_ledger  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.plan import build_plan  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.runner import RunOptions, select_files  # noqa: PLC0415 - lazy engine (module doc)

    mdir = ctx.target.migrations_dir
    if mdir is None or not mdir.is_dir():
        raise BadInput("no migrations directory: give --migrations DIR or --backend-dir DIR")
    disc = discover(mdir)
    with guarded(ctx.target, "nchat-tui plan", "the plan", statement_timeout=60) as conn:
        ledger = detect_ledger(conn)
        files = select_files(disc, ledger, RunOptions(direction=direction))
        return build_plan(conn, files, ledger, all_files=disc.files, direction=direction,
                          warnings=[*disc.warnings, *ledger.notes])


def act_plan(ctx: ActionContext) -> StepResult:
    plan = build_target_plan(ctx)
    s = plan.summary()
    findings = asdict(s.findings)
    ev = {"files": [f.file for f in plan.files], "statements": s.statements,
          "findings": findings, "drift": [x.file for x in plan.drift],
          "needs_confirmation": s.needs_confirmation,
          "strongest_locks": {f.file: f.strongest_lock for f in plan.files},
          "lint": [f"{f.severity} {f.rule}: {f.message}" for f in plan.findings()][:20]}
    if ctx.cache is not None:
        ctx.cache.plan = plan
    if not plan.files:
        return StepResult("ok", "nothing to apply", ev)
    summary = (f"{len(plan.files)} file(s), {s.statements} statement(s); findings: "
               + ", ".join(f"{n} {k}" for k, n in findings.items() if n) or "none")
    if plan.drift:
        return StepResult("failed", summary + f"; {len(plan.drift)} applied file(s) changed since "
                          "they were recorded (drift)", ev)
    worst = plan.worst()
    if worst == "danger" or s.needs_confirmation:
        return StepResult("warn", summary + " (press v to read the plan before running)", ev)
    return StepResult("ok", summary + " (press v to read the SQL)", ev)


# -- rehearsal ---------------------------------------------------------------------------------
def act_rehearse(ctx: ActionContext) -> StepResult:
    from nchat_tui.migrate.rehearse import rehearse  # noqa: PLC0415 - lazy engine (module doc)

    def on_event(e: Any) -> None:
        frac = e.done / e.total if e.total else None
        ctx.progress(Progress(frac, f"{e.kind}: {e.file or ''} {e.summary or e.message or ''}"))

    ctx.progress(Progress(None, "restoring the latest verified backup into a scratch database"))
    res = rehearse(ctx.target, journal=ctx.journal, on_event=on_event)
    ev = res.to_dict()
    if ctx.cache is not None and res.estimate_s is not None:
        ctx.cache.rehearsal_estimate_s = res.estimate_s
    slow = ", ".join(f"{s.file}#{s.statement} {s.duration_ms / 1000:.1f}s"
                     for s in res.slowest[:3]) if res.slowest else "none"
    est = f"; production estimate {res.estimate_s:.0f} s" if res.estimate_s is not None else ""
    summary = (f"{res.status}: up {res.up_s or 0:.1f} s, down {res.down_s or 0:.1f} s, "
               f"slowest {slow}{est}; scratch {'dropped' if res.dropped else 'KEPT'}")
    status = {"ok": "ok"}.get(res.status, "failed")
    return StepResult(status, summary, ev)


# -- the migration run -------------------------------------------------------------------------
def _run_callbacks(ctx: ActionContext) -> Any:
    from nchat_tui.migrate.runner import (  # noqa: PLC0415 - lazy engine (module doc)
        LockDecision,
        RunCallbacks,
    )

    def on_event(e: Any) -> None:
        frac = e.done / e.total if e.total else None
        where = f"{e.file or ''}" + (f" #{e.statement}" if e.statement else "")
        ms = f" ({e.duration_ms:.0f} ms)" if e.duration_ms is not None else ""
        ctx.progress(Progress(frac, f"{e.kind.replace('_', ' ')} {where}: "
                              f"{e.summary or e.message or ''}{ms}"))

    if ctx.ask is None:  # headless: the runner's own retry-then-stop policy
        return RunCallbacks(on_event=on_event, should_stop=ctx.cancel.is_set)

    def on_lock_wait(w: Any) -> LockDecision:
        who = "\n".join(f"  {b.describe()}" for b in w.blockers) or "  (no blocker seen any more)"
        answer = ctx.decide(Question(
            "Lock wait",
            f"{w.file} statement {w.statement} (line {w.line}) gave up after "
            f"{w.lock_timeout_s:g} s waiting for a lock (attempt {w.attempt}).\nBlocked by:\n{who}"
            + ("\nThe file was rolled back and will re-run from its start."
               if w.rolled_back_file else ""),
            [("retry", "Retry"), ("wait_longer", "Wait longer"),
             ("cancel_blocker", "Cancel blocker"), ("terminate_blocker", "Terminate blocker"),
             ("stop", "Stop")],
            default="stop", danger=("terminate_blocker",),
            confirm_word=str(w.blockers[0].pid) if w.blockers else None))
        return LockDecision(answer, unanswered=bool(ctx.unanswered))

    def confirm_as_written(name: str, why: str) -> bool:
        return ctx.decide(Question(
            "This file controls its own transactions",
            f"{name}: {why}\nRun it exactly as written (its statements are not wrapped in one "
            "transaction with the ledger row)?",
            [("no", "Refuse"), ("yes", "Run as written")], default="no",
            danger=("yes",), confirm_word=name)) == "yes"

    def offer_cleanup(idx: list[Any]) -> bool:
        names = ", ".join(f"{i.index} on {i.table}" for i in idx)
        return ctx.decide(Question(
            "Invalid indexes left behind",
            f"The failure left invalid index(es): {names}.\nDROP INDEX CONCURRENTLY them now, "
            "so a retry can build them again?",
            [("no", "Keep them"), ("yes", "Drop concurrently")], default="no")) == "yes"

    def confirm_preflight(problems: list[str]) -> bool:
        shown = problems[:15]
        more = f"\n  ... and {len(problems) - len(shown)} more (v reads the plan)" \
            if len(problems) > len(shown) else ""
        return ctx.decide(Question(
            "The database lacks what the files need",
            "The catalog preflight found objects these files need that the database does not "
            "have; each statement that needs one will fail:\n"
            + "\n".join(f"  {p}" for p in shown) + more
            + "\nStop here and create them first (nothing has run), or run anyway.",
            [("stop", "Stop: nothing runs"), ("run", "Run anyway")],
            default="stop", danger=("run",), confirm_word="run anyway")) == "run"

    return RunCallbacks(on_event=on_event, on_lock_wait=on_lock_wait,
                        confirm_as_written=confirm_as_written, offer_cleanup=offer_cleanup,
                        should_stop=ctx.cancel.is_set, confirm_preflight=confirm_preflight)


def _override_reason(ctx: ActionContext) -> str | None:
    cl, key = ctx.checklist, ctx.step
    if cl is None or key is None:
        return None
    st = cl.state(key)
    reason: str | None = st.override_reason
    return reason


LOCK_ORDER = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE",
              "SHARE UPDATE EXCLUSIVE", "ROW EXCLUSIVE", "ROW SHARE", "ACCESS SHARE")


def _existing_locks(plan: Plan) -> list[str]:
    """The strongest lock the plan takes on each table that exists now, strongest first."""
    best: dict[str, LockTarget] = {}
    for fp in plan.files:
        for st in fp.statements:
            for t in st.targets:
                if t.created_by_plan or not t.exists or t.lock not in LOCK_ORDER:
                    continue
                cur = best.get(t.name)
                if cur is None or LOCK_ORDER.index(t.lock) < LOCK_ORDER.index(cur.lock):
                    best[t.name] = t
    ranked = sorted(best.values(), key=lambda t: (LOCK_ORDER.index(t.lock), -(t.size_bytes or 0)))
    return [f"{t.lock} on {'index ' if t.role == 'index' else ''}{t.name}"
            + (f" (~{t.row_estimate:,} rows, {fmt.size(t.size_bytes or 0)})" if t.size_bytes else "")
            for t in ranked]


def _atomicity_line(files: list[tuple[str, str]]) -> str:
    """Which files (name, transaction mode) commit with their ledger rows or not at all."""
    loose = [f"{name} ({mode.replace('_', ' ')})" for name, mode in files
             if mode not in ("atomic", "own_transaction")]
    if not loose:
        return "Each file commits with its ledger rows, or not at all."
    return ("Each file commits with its ledger rows, or not at all, except: " + ", ".join(loose)
            + ": those run statement by statement or as written, each statement journaled.")


GATE_HOWTO = ("In the app: take a new backup with 'Back up and verify the database' (phase 1: "
              "r reopens it, enter runs it), then run this step again.")


def _gate_refusal(ctx: ActionContext, without_backup: str | None) -> StepResult | None:
    """The migration gate's verdict before the operator is asked anything (reads only; the
    file's checksum is left to the run itself): a question whose "yes" the gate would refuse
    anyway only wastes a tired operator's time. ``without_backup`` must be what the run
    itself will be given. A refusal that a new backup fixes says so in its evidence
    (``needs_backup``)."""
    from nchat_tui.migrate.ledger import detect_ledger  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.runner import check_gate  # noqa: PLC0415 - lazy engine (module doc)

    with ctx.target.connect("nchat-tui gate check") as conn:
        try:
            check_gate(ctx.target, conn, detect_ledger(conn), without_backup=without_backup,
                       journal=None, recheck=False)
        except Refused as exc:
            needs = isinstance(exc, NeedsBackup)
            howto = GATE_HOWTO if needs else (exc.hint or "")
            ev: dict[str, Any] = {"error": "refused", "gate": exc.message}
            if needs:
                ev["needs_backup"] = True
            return StepResult("failed", f"refused: {exc.message}. {howto}".rstrip(), ev)
    return None


def _without_backup(ctx: ActionContext) -> tuple[str | None, StepResult | None]:
    """Whether this run goes without a verified backup, and the gate's refusal if it may not.

    An override of the step is a reason to run without a backup only when the gate it opened
    is the backup's and the gate really finds no usable backup: an override of the review gate,
    with a verified backup in place, keeps that backup as the run's way back."""
    reason = _override_reason(ctx)
    refused = _gate_refusal(ctx, without_backup=None)
    if refused is None:
        return None, None
    cl, key = ctx.checklist, ctx.step
    covers_backup = (reason is not None and cl is not None and key is not None
                     and any(g.endswith(".backup") for g in cl.path.step(key).gated_by))
    if covers_backup and (refused.evidence or {}).get("needs_backup"):
        # the same gate with the reason: refusals a backup does not fix (a pg_dump reading
        # the database) still stand
        again = _gate_refusal(ctx, without_backup=reason)
        return (reason, None) if again is None else (None, again)
    return None, refused


def _rehearsal_line(ctx: ActionContext, plan: Plan) -> str:
    """What the rehearsal measured, and the margin production adds to it: a scratch copy
    has no other sessions, so its time is a floor; each statement that locks an existing
    table may wait for its lock (``lock_timeout``) before the operator is asked."""
    from nchat_tui.migrate.runner import RunOptions  # noqa: PLC0415 - lazy engine (module doc)

    rec = ctx.journal.last("rehearse_finished") if ctx.journal is not None else None
    est = ctx.cache.rehearsal_estimate_s if ctx.cache is not None else None
    up = rec.get("up_s") if rec and rec.get("status") == "ok" else None
    if est is None and rec and rec.get("status") == "ok":
        est = rec.get("estimate_s")
    if est is None:
        return "\nNo rehearsal in this session ('Dry run on a copy' measures the run first)."
    waits = sum(1 for fp in plan.files for st in fp.statements
                if any(not t.created_by_plan and t.exists and t.lock in LOCK_ORDER
                       for t in st.targets))
    lt = RunOptions().lock_timeout_s
    measured = (f"ran them in {up:.1f} s" if up is not None else f"estimated {est:.1f} s")
    scaled = (f" ({est:.1f} s scaled to the database's size now)"
              if up is not None and abs(est - up) >= 0.05 else "")
    return (f"\nTime: the rehearsal {measured}{scaled} on a scratch copy of the backup, with "
            f"no other sessions: a floor, not a promise. Here, {waits} statement(s) lock an "
            f"existing table and each may wait up to {lt:g} s for its lock before you are "
            f"asked: up to about {est + waits * lt:.0f} s before any question.")


NO_BACKUP_WORD = "no backup"
"""What the operator types to run the production migration without a verified backup."""


def _confirm_production_run(ctx: ActionContext, without_backup: str | None = None,
                            ) -> tuple[bool, dict[str, Any]]:
    """The app's last word before the production migration: what runs, where, what it locks,
    and first of all, when it is so, that there is no verified backup to go back to."""
    plan = build_target_plan(ctx)  # now, not the reviewed one: the ledger may have moved since
    files = [f.file for f in plan.files]
    facts: dict[str, Any] = {"files": files}
    if not files:
        return True, facts
    locks = _existing_locks(plan)
    n = sum(len(f.statements) for f in plan.files)
    head = ""
    if without_backup is not None:
        head = (f"NO VERIFIED BACKUP: the gate was overridden ({without_backup}).\nIf this run "
                "fails half-way or has to be undone, only the down files can take the "
                "database back, and the rows they drop are gone for good.\n\n")
    text = (head + f"Apply {len(files)} file(s), {n} statement(s), to {ctx.target.masked()}:\n  "
            + "\n  ".join(files)
            + "\nLocks on existing tables (the app's queries on them wait while each is held):\n  "
            + ("\n  ".join(locks[:6]) + (f"\n  ... and {len(locks) - 6} more" if len(locks) > 6
                                          else "") if locks else "none")
            + _rehearsal_line(ctx, plan)
            + "\n" + _atomicity_line([(f.file, f.txn_mode) for f in plan.files]))
    if without_backup is not None:
        q = Question("Run the production migration", text,
                     [("no", "Not now"), ("run", "Run WITHOUT a backup")], default="no",
                     danger=("run",), confirm_word=NO_BACKUP_WORD)
        facts["without_backup"] = without_backup
    else:
        q = Question("Run the production migration", text,
                     [("no", "Not now"), ("run", "Run it now")], default="no")
    answer = ctx.decide(q)
    facts["locks"] = locks
    return answer == "run", facts


def act_migrate(ctx: ActionContext, direction: str = "up") -> StepResult:
    from nchat_tui.migrate.runner import (  # noqa: PLC0415 - lazy engine (module doc)
        RunOptions,
        run_migrations,
    )

    confirmed: dict[str, Any] | None = None
    without, refused = _without_backup(ctx)
    if refused is not None and ctx.ask is not None:
        return refused
    if ctx.ask is not None and direction == "up":
        go, confirmed = _confirm_production_run(ctx, without)
        if not go:
            return StepResult("failed", "not run: the operator declined; nothing was changed",
                              {"declined": True, **confirmed})
    # headless with a refusal: the runner's own gate refuses again, with its journal record
    opts = RunOptions(direction=direction, migrations_dir=ctx.target.migrations_dir,
                      without_backup=without)
    res = run_migrations(ctx.target, opts, _run_callbacks(ctx), ctx.journal)
    ev: dict[str, Any] = {
        "status": res.status, "committed": res.committed(), "rolled_back": res.rolled_back(),
        "ledger": res.ledger_kinds, "duration_ms": res.duration_ms, "gate": res.gate,
        "choices": res.choices}
    if confirmed is not None:
        ev["confirmed"] = confirmed
    if res.error:
        ev["error"] = {"file": res.error.file, "statement": res.error.statement,
                       "line": res.error.line, "message": res.error.message,
                       "sqlstate": res.error.sqlstate}
    if res.blockers:
        ev["blockers"] = [b.pid for b in res.blockers]
    if res.invalid_indexes:
        ev["invalid_indexes"] = [i.index for i in res.invalid_indexes]
    if res.status == "nothing_to_do":
        return StepResult("ok", "no pending migrations: nothing to run", ev)
    if res.status == "ok":
        return StepResult("ok", f"applied {len(res.committed())} file(s): "
                          f"{', '.join(res.committed())} in {(res.duration_ms or 0) / 1000:.1f} s",
                          ev)
    what = (f"{res.error.file} line {res.error.line}: {res.error.message}" if res.error
            else res.status)
    return StepResult("failed", f"{res.status}: {what}. Committed: "
                      f"{', '.join(res.committed()) or 'nothing'}; rolled back: "
                      f"{', '.join(res.rolled_back()) or 'nothing'}", ev)


ENGINE_ACTIONS = {
    "backup": act_backup,
    "plan": act_plan,
    "rehearse": act_rehearse,
    "migrate": act_migrate,
}


# -- post-migration maintenance ----------------------------------------------------------------
def _progress_fn(ctx: ActionContext) -> Any:
    def say(text: str, frac: float | None) -> None:
        ctx.progress(Progress(frac, text))

    return say


def act_maintenance(ctx: ActionContext) -> StepResult:
    from nchat_tui.verify.maintenance import (  # noqa: PLC0415 - lazy engine (module doc)
        maintenance_plan,
        refresh_matviews,
        vacuum_analyze,
    )

    plan = maintenance_plan(ctx.target)
    names = [str(v.get("view")) for v in plan.matviews]
    ev: dict[str, Any] = {"tables": plan.tables, "matviews": names,
                          "cleanup_candidates": plan.cleanup}
    if not plan.tables and not plan.matviews:
        return StepResult("ok", "nothing to maintain: no new or changed table", ev)
    refresh = "\n  ".join(
        f"{v.get('view')} (" + ("CONCURRENTLY: readers are not blocked)" if v.get("concurrently")
                                else "blocks readers of the view while it runs)")
        for v in plan.matviews) or "none"
    answer = ctx.decide(Question(
        "VACUUM ANALYZE and refresh",
        f"VACUUM (ANALYZE) {len(plan.tables)} new or changed table(s) (no lock that blocks "
        "the app):\n  " + ", ".join(t.removeprefix("public.") for t in plan.tables[:30])
        + (f" ... and {len(plan.tables) - 30} more" if len(plan.tables) > 30 else "")
        + f"\nREFRESH MATERIALIZED VIEW:\n  {refresh}",
        [("no", "Not now"), ("go", "Run them")], default="no" if ctx.ask else "go"))
    if answer != "go":
        return StepResult("failed", "not run: the operator declined", ev)
    say = _progress_fn(ctx)
    vacuumed = vacuum_analyze(ctx.target, plan.tables, progress=say, cancel=ctx.cancel,
                              journal=ctx.journal)
    refreshed = refresh_matviews(ctx.target, plan.matviews, progress=say, cancel=ctx.cancel,
                                 journal=ctx.journal)
    results = vacuumed + refreshed
    # a list, not a dict by name: a new materialized view is both vacuumed and refreshed
    ev["results"] = [{"what": what, "item": r.item, "status": r.status, "took_s": r.duration_s,
                      "detail": r.detail or None}
                     for what, rs in (("VACUUM ANALYZE", vacuumed), ("REFRESH", refreshed))
                     for r in rs]
    bad = [r for r in results if r.status in ("failed", "cancelled")]
    secs = sum(r.duration_s or 0 for r in results)
    if bad:
        return StepResult("failed", f"{len(bad)} of {len(results)} failed or cancelled: "
                          + "; ".join(f"{r.item}: {r.detail}" for r in bad), ev)
    return StepResult("ok", f"{len(results)} item(s) done in {secs:.1f} s: {len(vacuumed)} "
                      f"table(s) vacuumed and analyzed, {len(refreshed)} view(s) refreshed", ev)


# -- rollback ----------------------------------------------------------------------------------
def act_rollback_options(ctx: ActionContext) -> StepResult:
    from nchat_tui.rollback.engine import (  # noqa: PLC0415 - lazy engine (module doc)
        record_choice,
        rollback_options,
    )

    facts = rollback_options(ctx.target)
    lines = []
    if facts.down.available:
        lines.append(f"down: revert {len(facts.down.files)} file(s); loses {facts.down.rows_lost:,} "
                     f"row(s) in dropped tables and {facts.down.values_lost:,} value(s) in "
                     "dropped columns" + (f"; no down file for {', '.join(facts.down.missing_down)}"
                                          if facts.down.missing_down else ""))
    if facts.restore.available:
        r = facts.restore
        name = Path(r.backup).name if r.backup else r.manifest
        lines.append(f"restore: {name} ({fmt.ago(r.taken_at)}); loses at least "
                     f"{r.net_rows_added or 0:,} row(s) added since; written since the backup: "
                     f"{r.written_since_backup or 'unknown'}")
    if not facts.schema_changed:
        lines.append("application only: the schema did not change, redeploy the old release")
    choices = [("down", "Down migrations")] if facts.down.available and not facts.down.missing_down \
        else []
    if facts.restore.available:
        choices.append(("restore", "Restore backup"))
    choices.append(("application", "App only"))
    choices.append(("none", "No rollback"))
    answer = ctx.decide(Question(
        "Choose the way back",
        "\n".join(lines) + f"\nRecommended: {facts.recommended}.",
        choices, default="none"))
    ev = {"choice": answer, "recommended": facts.recommended, "ways": lines}
    if ctx.unanswered:  # the app closed on the question: nobody chose, record no choice
        return StepResult("failed", "no way back chosen: the question was not answered", ev)
    record_choice(ctx.journal, answer, facts)
    if ctx.cache is not None:
        ctx.cache.rollback_choice = (answer, facts)
    if answer == "none":
        return StepResult("warn", "no rollback chosen (headless default)" if ctx.ask is None
                          else "the operator chose not to roll back", ev)
    return StepResult("ok", f"chosen: {answer} (recommended: {facts.recommended})", ev)


def _confirm_down(ctx: ActionContext, before_manifest: str | None) -> bool:
    """Ask before the down files run, with what they destroy as of now (not at decision time)."""
    from nchat_tui.rollback.engine import down_facts  # noqa: PLC0415 - lazy engine (module doc)

    db = ctx.target.database
    try:
        down = down_facts(ctx.target, before_manifest)
    except (NchatError, psycopg.Error) as exc:
        text = (f"Could not measure what the down files destroy ({exc}).\nRun them on "
                f"{ctx.target.masked()} anyway? Rows in the tables they drop are lost; only "
                "the backup holds them.")
        losing = True
    else:
        text = _down_text(ctx, down)
        losing = down.loses_data
    answer = ctx.decide(Question(
        "Run the down migrations", text, [("no", "Not now"), ("run", "Run them")],
        default="no", danger=("run",) if losing else (), confirm_word=db if losing else None))
    return answer == "run"


def _down_text(ctx: ActionContext, down: Any) -> str:
    """The down question's facts: each file and what it drops, what is lost, atomicity."""
    lines = []
    for f in down.files:
        lost = [f"{t['table']} ({t['rows']:,} rows)" for t in f.get("tables", []) if t.get("rows")]
        cols = [f"{c['column']} ({c['values']:,} values)" for c in f.get("columns", [])
                if c.get("values")]
        lines.append(f"  {f.get('down_file') or f.get('file')}"
                     + (": drops " + ", ".join(lost + cols) if lost or cols else ""))
    text = (f"Revert {len(down.files)} file(s) on {ctx.target.masked()}, newest first:\n"
            + "\n".join(lines[:10]) + (f"\n  ... and {len(lines) - 10} more" if len(lines) > 10
                                        else ""))
    if down.rows_lost or down.values_lost:
        text += (f"\nThis destroys {down.rows_lost:,} row(s) in dropped tables and "
                 f"{down.values_lost:,} value(s) in dropped columns, which only the backup holds.")
    if down.unmeasured:
        text += ("\nNot countable beforehand (may destroy data):\n  "
                 + "\n  ".join(down.unmeasured[:6]))
    if down.note:
        text += f"\nNote: {down.note}."
    if not down.loses_data:
        text += "\nNo rows or values are lost: what the down files drop is empty."
    return text + "\n" + _atomicity_line(
        [(str(f.get("down_file")), str(f.get("txn_mode"))) for f in down.files])


def act_rollback(ctx: ActionContext) -> StepResult:
    """Carry out the way back chosen in the decision step."""
    from nchat_tui.rollback.engine import (  # noqa: PLC0415 - lazy engine (module doc)
        down_rollback,
        restore_swap,
    )

    chosen = ctx.cache.rollback_choice if ctx.cache is not None else None
    before_manifest: str | None = None
    if chosen is None and ctx.journal is not None:
        rec = ctx.journal.last("rollback_decision")
        if rec:
            chosen = (rec["choice"], None)
            before_manifest = ((rec.get("facts") or {}).get("restore") or {}).get("manifest")
    if chosen is None:
        return StepResult("failed", "no way back chosen yet: run 'Choose the way back' first", {})
    choice, facts = chosen
    if facts is not None:
        before_manifest = facts.restore.manifest
    # The schema to go back to is the one recorded before the upgrade, as the decision saw
    # it: a backup taken since (the down path's gate asks for one) must not become "before".
    if choice in ("application", "none"):
        return StepResult("ok", f"nothing to do in the database ({choice})", {"choice": choice})
    if choice == "down":
        # down_rollback runs the gate without an override: check exactly that.
        if ctx.ask is not None and (refused := _gate_refusal(ctx, without_backup=None)) is not None:
            return refused
        if ctx.ask is not None and not _confirm_down(ctx, before_manifest):
            return StepResult("failed", "not run: the operator declined; nothing was changed",
                              {"choice": choice, "declined": True})
        res = down_rollback(ctx.target, against=before_manifest, callbacks=_run_callbacks(ctx),
                            journal=ctx.journal)
        ev = res.as_dict()
        if res.ok:
            return StepResult("ok", "down migrations ran; the schema equals the before-snapshot",
                              ev, reverted=True)
        return StepResult("failed", f"down rollback: run {res.run.get('status')}, inventory "
                          f"{'equal' if res.inventory_equal else 'DIFFERS'}", ev)
    backup = (facts.restore.backup if facts is not None else None)
    if backup is None:
        from nchat_tui.backup.engine import latest_verified_backup  # noqa: PLC0415 - lazy engine (module doc)

        b = latest_verified_backup(ctx.target)
        backup = str(b.path) if b else None
    if backup is None:
        return StepResult("failed", "no verified backup to restore", {})
    db = ctx.target.database

    def confirm_name(name: str, sessions: list[dict[str, Any]]) -> str:
        who = "\n".join(f"  pid {s.get('pid')} {s.get('application_name') or ''} "
                        f"{s.get('usename') or ''} {s.get('state') or ''}" for s in sessions[:8])
        ok = ctx.decide(Question(
            "Swap in the restored database",
            f"The restored copy verified. Now: refuse new connections to {name}, terminate "
            f"{len(sessions)} session(s):\n{who or '  (none)'}\nrename {name} to "
            f"{name}_before_rollback_<time> (kept) and the copy to {name}.",
            [("no", "Stop here"), ("yes", "Swap")], default="no", danger=("yes",),
            confirm_word=name))
        return name if ok == "yes" else ""

    swap = restore_swap(ctx.target, backup, confirm_name=confirm_name,
                        progress=_restore_progress(ctx), cancel=ctx.cancel, journal=ctx.journal)
    return StepResult("ok", f"{db} restored from {Path(backup).name}; the old database is "
                      f"kept as {swap.old_database}", swap.as_dict(), reverted=True)


def _restore_progress(ctx: ActionContext) -> Any:
    """The restore swap's progress with one fraction: while pg_restore runs, the bar and the
    text both say how much of the data is restored (the swap's own scale gives the restore
    0-80%, which beside the restore's own percentage read as two different numbers); the
    comparison and the swap that follow have no fraction to show."""
    def say(text: str, frac: float | None) -> None:
        m = re.match(r"restore: \[(\d+)/(\d+)\]", text)
        if text.startswith("restore: ") and frac is not None:
            done = min(1.0, frac / 0.8)
            tables = f", {m.group(1)}/{m.group(2)} tables" if m else ""
            ctx.progress(Progress(done, f"restoring the backup into a new database: "
                                  f"{done:.0%} of its data{tables}; then the schema is "
                                  "compared, then you confirm the swap"))
        elif frac is not None and frac >= 1.0:
            ctx.progress(Progress(1.0, text))
        else:
            ctx.progress(Progress(None, text))

    return say


def act_verify_rollback(ctx: ActionContext) -> StepResult:
    """Check the way back worked, against the snapshot the decision was made on: the whole
    schema (not only the guide's E2EE tables) and the migrations pending again."""
    from nchat_tui.migrate.discovery import discover  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.migrate.ledger import detect_ledger, pending  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.pg.snapshot import schema_inventory  # noqa: PLC0415 - lazy engine (module doc)
    from nchat_tui.verify.engine import (  # noqa: PLC0415 - lazy engine (module doc)
        diff_inventory,
        diff_is_empty,
        load_before,
    )

    rec = ctx.journal.last("rollback_decision") if ctx.journal is not None else None
    if rec is None:
        return StepResult("failed", "no way back was chosen in this session: run 'Choose the "
                          "way back' and 'Roll the database back' first", {})
    choice = rec.get("choice")
    if choice in ("application", "none"):
        return StepResult("ok", f"nothing to verify in the database: the way back chosen was "
                          f"'{choice}'", {"choice": choice})
    manifest = ((rec.get("facts") or {}).get("restore") or {}).get("manifest")
    with ctx.target.connect("nchat-tui verify rollback") as conn:
        before, source = load_before(ctx.target, manifest, conn)
        after = schema_inventory(conn)
        led = detect_ledger(conn)
    d = diff_inventory(before["inventory"], after)
    e2ee = sorted(k for k in after.get("tables") or {} if "e2ee" in k)
    ev: dict[str, Any] = {"choice": choice, "before_snapshot": source,
                          "schema_equal": diff_is_empty(d), "e2ee_tables": e2ee}
    mdir = ctx.target.migrations_dir
    if mdir is not None and mdir.is_dir():
        ev["pending_again"] = [f.name for f in pending(discover(mdir).files, led)]
    if not diff_is_empty(d):
        ev["differences"] = {c: {k: sorted(v[k])[:20] for k in ("added", "removed", "changed")
                                 if v.get(k)} for c, v in d.items()
                             if any(v.get(k) for k in ("added", "removed", "changed"))}
        return StepResult("failed", "the schema DIFFERS from the snapshot taken before the "
                          f"upgrade ({Path(source).name}): see the differences", ev)
    pend = ev.get("pending_again")
    return StepResult("ok", f"the schema equals the snapshot taken before the upgrade "
                      f"({Path(source).name}); no E2EE table left"
                      + (f"; {len(pend)} migration(s) pending again" if pend else ""), ev)


def _verify_actions() -> dict[str, Any]:
    from nchat_tui.verify.engine import (  # noqa: PLC0415 - lazy engine (module doc)
        act_verify_data,
        act_verify_schema,
    )

    return {"verify_schema": act_verify_schema, "verify_data": act_verify_data}


ENGINE_ACTIONS.update(_verify_actions())
ENGINE_ACTIONS.update({
    "maintenance": act_maintenance,
    "rollback_options": act_rollback_options,
    "rollback": act_rollback,
    "verify_rollback": act_verify_rollback,
})


# -- what a tool step will run, shown before it runs -------------------------------------------
def _tool(name: str) -> str:
    from nchat_tui.pg.tools import candidates  # noqa: PLC0415 - lazy engine (module doc)

    found = candidates(name)
    return found[0] if found else name


def _compression_preview() -> str:
    """pg_dump's compression flags as the backup will choose them (``backup.method``): a gzip
    level up to pg_dump 15; from 16 it depends on the server, known once connected."""
    try:
        major = find_tool("pg_dump").major
    except NchatError:
        major = 0
    if 0 < major < 16:
        return " ".join(Compression("gzip", fastest_gzip_level()).pg_dump_args(major))
    return "<compression: chosen when it starts>"


def connection_env(target: Any) -> str:
    """The connection a tool gets, as the environment it is given (the password by name)."""
    e = target.effective()
    parts = [f"PGHOST={e['host']}", f"PGPORT={e['port']}", f"PGUSER={e['user']}",
             f"PGDATABASE={e['dbname']}"]
    if target.params.get("password"):
        parts.append("PGPASSWORD=(set, never shown)")
    return " ".join(parts)


def commands_preview(action: str | None, target: Any) -> list[str]:
    """The commands a tool step runs, for the screen before it runs (no password, no
    connection option on the command line: libpq reads them from the environment shown).
    Names that only exist once it runs are in angle brackets. [] for steps that run no tool.
    A test compares these with the commands a real run journals."""
    from nchat_tui.backup.engine import PARTIAL_SUFFIX  # noqa: PLC0415 - lazy engine (module doc)

    prefix = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in target.name)
    stamp = "<YYYYMMDD_HHMMSS>"
    where = target.backup_dir
    if target.docker:
        return [f"docker exec -i {target.docker} pg_dump/pg_restore (inside the container; "
                f"-U {target.effective()['user']} -d {target.effective()['dbname']})"]
    if action == "backup":
        partial = where / f"{prefix}_{stamp}{PARTIAL_SUFFIX}"
        final = where / f"{prefix}_{stamp}.dump"
        return [f"{_tool('pg_dump')} -Fc {_compression_preview()} --verbose "
                "--snapshot=<exported snapshot> --lock-wait-timeout=30000      (to a pipe: "
                f"written to {partial} and hashed as it comes)",
                f"{_tool('pg_restore')} -f /dev/null      (full read of the same bytes, while "
                "pg_dump writes)",
                f"{_tool('pg_restore')} -l {partial}      (table of contents)",
                f"then renamed to {final} once verified",
                f"environment: {connection_env(target)}"]
    if action == "rehearse":
        return [f"{_tool('pg_restore')} --verbose --exit-on-error --no-password -j 2 "
                f"-d {target.database}_rehearse_<time> <latest verified backup>",
                "then the pending files on that scratch copy, their down files, and DROP "
                "DATABASE of the copy",
                f"environment: {connection_env(target)}"]
    if action == "rollback":
        return [f"{_tool('pg_restore')} --verbose --exit-on-error --no-password -j 2 "
                f"-d {target.database}_restore_<time> <the chosen backup>      (restore way)",
                "or the down files through the migration runner      (down way)",
                f"environment: {connection_env(target)}"]
    return []
