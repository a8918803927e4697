"""``nchat-tui migrate``: run the pending migrations (or ``--down``) with the safe runner.

Without ``--yes`` it asks on the terminal (the operator types the database name); without
``--yes`` and without a terminal it refuses (exit 3). Exit codes: 0 applied (or nothing to
do), 1 a statement failed or a lock wait was given up (the JSON carries the blockers), 2 bad
input, 3 refused (no verified backup, a pg_dump running, a file that needs confirming, objects
the files need that the database lacks, no confirmation), 4 another run holds the migration lock.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import psycopg

from nchat_tui.cli.main import CliContext
from nchat_tui.errors import BadInput, Refused
from nchat_tui.migrate.nself import run_with_nself
from nchat_tui.migrate.runner import (
    CANCEL_BLOCKER,
    RETRY,
    STOP,
    TERMINATE_BLOCKER,
    WAIT_LONGER,
    InvalidIndex,
    LockDecision,
    LockWait,
    RunCallbacks,
    RunError,
    RunEvent,
    RunOptions,
    RunResult,
    check_timeouts,
    describe_interrupted,
    reconcile_interrupted,
    run_migrations,
)
from nchat_tui.migrate.target_plan import plan_for_target
from nchat_tui.state.journal import Journal

NAME = "migrate"
HELP = "apply the pending migrations (or --down) with lock, gate, atomic files and a journal"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="do not ask (headless)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    p.add_argument("--lock-timeout", type=float, default=5.0, metavar="S",
                   help="lock_timeout per statement in seconds (default 5)")
    p.add_argument("--statement-timeout", type=float, default=None, metavar="S",
                   help="statement_timeout per statement in seconds (default: none)")
    p.add_argument("--without-backup", metavar="REASON",
                   help="run without a verified backup; the reason is journaled")
    p.add_argument("--down", action="store_true",
                   help="revert with the .down.sql files: the last applied file, or all after --to")
    p.add_argument("--to", metavar="VERSION", help="up: stop after VERSION; down: revert every "
                   "applied file after VERSION (VERSION stays applied)")
    p.add_argument("--runner", choices=["ours", "nself"], default="ours",
                   help="ours (default) or drive the nself CLI in the backend directory, then "
                   "check the ledger ourselves")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="headless: retries after a lock timeout before giving up (default 3)")
    p.add_argument("--rebuild-invalid-indexes", action="store_true",
                   help="an invalid index (left by a killed CREATE INDEX CONCURRENTLY) that a "
                   "file builds: drop it concurrently and build it again (default: refuse)")
    p.add_argument("--accept-preflight", metavar="REASON",
                   help="run although the catalog preflight names objects the files need that "
                   "the database lacks; the reason is journaled")
    p.add_argument("--confirm-as-written", action="append", default=[], metavar="FILE",
                   help="run FILE, which has its own ROLLBACK guard or several transactions, "
                   "exactly as written (not atomic)")


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def _interactive_callbacks(ctx: CliContext, say: Any) -> RunCallbacks:
    def on_lock_wait(lw: LockWait) -> LockDecision:
        say(f"lock wait: {lw.file} statement {lw.statement} (line {lw.line}) gave up after "
            f"{lw.lock_timeout_s:g} s" + (" - the file was rolled back" if lw.rolled_back_file
                                          else ""))
        for b in lw.blockers:
            say(f"  blocked by {b.describe()}")
        ans = _ask("[r]etry, [w]ait longer, [c]ancel blocker, [t]erminate blocker, [s]top? ")
        choice = {"r": RETRY, "w": WAIT_LONGER, "c": CANCEL_BLOCKER, "t": TERMINATE_BLOCKER}.get(
            ans[:1].lower(), STOP)
        if choice in (CANCEL_BLOCKER, TERMINATE_BLOCKER):
            word = "terminate" if choice == TERMINATE_BLOCKER else "cancel"
            if _ask(f"type '{word}' to {word} pid(s) "
                    f"{', '.join(str(b.pid) for b in lw.blockers)}: ") != word:
                return LockDecision(STOP)
        if choice == WAIT_LONGER:
            raw = _ask(f"new lock timeout in seconds [{lw.lock_timeout_s * 4:g}]: ")
            try:
                return LockDecision(WAIT_LONGER, float(raw) if raw else None)
            except ValueError:
                return LockDecision(WAIT_LONGER)
        return LockDecision(choice)

    def confirm_as_written(name: str, why: str) -> bool:
        say(f"{name}: {why}")
        return _ask(f"type 'as written' to run {name} exactly as written: ") == "as written"

    def offer_cleanup(bad: list[InvalidIndex]) -> bool:
        for b in bad:
            say(f"invalid index left behind: {b.index} on {b.table}")
        return _ask("drop them now with DROP INDEX CONCURRENTLY? [y/N] ").lower() in ("y", "yes")

    def retry_failed(err: RunError) -> bool:
        say(f"{err.file} statement {err.statement} (line {err.line}) failed: {err.message}; "
            "the statements before it stayed committed")
        return _ask("retry that statement now? [y/N] ").lower() in ("y", "yes")

    def confirm_preflight(problems: list[str]) -> bool:
        say("the files need objects this database lacks (each statement that needs one fails):")
        for p in problems:
            say(f"  - {p}")
        return _ask("type 'run anyway' to start regardless: ") == "run anyway"

    return RunCallbacks(on_event=lambda ev: say(_event_line(ev)) if _event_line(ev) else None,
                        on_lock_wait=on_lock_wait, confirm_as_written=confirm_as_written,
                        offer_cleanup=offer_cleanup, retry_failed=retry_failed,
                        confirm_preflight=confirm_preflight)


def _event_line(ev: RunEvent) -> str | None:
    if ev.kind == "statement_finished":
        return (f"  [{ev.done}/{ev.total}] {ev.file} #{ev.statement} line {ev.line}: "
                f"{ev.duration_ms:.0f} ms  {ev.summary}")
    if ev.kind == "statement_failed":
        return f"  FAILED {ev.file} #{ev.statement} line {ev.line}: {ev.message}"
    if ev.kind in ("file_started",):
        return f"{ev.file}: {ev.message}"
    if ev.kind in ("file_committed", "file_rolled_back", "file_failed"):
        return f"{ev.file}: {ev.message} ({ev.duration_ms:.0f} ms)"
    if ev.kind in ("lock_wait", "ledger_created", "decision"):
        return f"  {ev.kind}: {ev.message}"
    return None


def render_result(res: RunResult) -> list[str]:
    out = []
    verb = "reverted" if res.direction == "down" else "applied"
    if res.status == "nothing_to_do":
        return [f"nothing to {'revert' if res.direction == 'down' else 'apply'}"]
    for fo in res.files:
        out.append(f"{fo.file}: {fo.status}" + (f" in {fo.duration_ms:.0f} ms" if fo.duration_ms
                                                 else ""))
        if fo.status in ("rolled_back", "partial", "failed"):
            for so in fo.statements:
                out.append(f"  #{so.index} line {so.line}: {so.status}  {so.summary}")
    if res.error:
        e = res.error
        out.append(f"error in {e.file}" + (f" statement {e.statement}" if e.statement else "")
                   + (f" at line {e.line}" if e.line else "") + f": {e.message}"
                   + (f" [{e.sqlstate}]" if e.sqlstate else ""))
        if e.detail:
            out.append(f"  detail: {e.detail}")
        if e.hint:
            out.append(f"  hint: {e.hint}")
    for b in res.blockers:
        out.append(f"blocked by {b.describe()}")
    for ix in res.invalid_indexes:
        out.append(f"invalid index left behind: {ix.index} on {ix.table}")
    committed = res.committed()
    out.append(f"{verb} and committed: {', '.join(committed) if committed else 'none'}")
    if res.rolled_back():
        out.append(f"rolled back: {', '.join(res.rolled_back())}")
    for c in res.choices:
        out.append(f"next: {c}")
    return out


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    check_timeouts(args.lock_timeout, args.statement_timeout)
    if args.retries < 0:
        raise BadInput("--retries must be 0 or more")
    interactive = not args.yes and sys.stdin.isatty()
    if not args.yes and not interactive:
        raise Refused("no confirmation: give --yes (there is no terminal to ask on)")
    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())
    say = ctx.err if ctx.json else ctx.out
    prev = reconcile_interrupted(target, journal)
    if prev is not None:
        for line in describe_interrupted(prev):
            say(line)
        if not prev.get("live"):
            journal.append("migrate_interrupted_run_seen", run_id=prev["run_id"])
    if args.runner == "nself":
        return _run_nself(args, ctx, journal)
    if interactive:
        plan = plan_for_target(ctx.target(), args.down, args.to)
        if not plan.files:
            say("nothing to do")
        else:
            say(f"{'revert' if args.down else 'apply'} on {target.masked()}:")
            for fp in plan.files:
                say(f"  {fp.file} [{fp.txn_mode}] {len(fp.statements)} statement(s), strongest "
                    f"lock {fp.strongest_lock or 'none'}")
            if _ask(f"type the database name ({target.database}) to go on: ") != target.database:
                raise Refused("not confirmed")
    cbs = _interactive_callbacks(ctx, say) if interactive else RunCallbacks(
        on_event=lambda ev: say(line) if (line := _event_line(ev)) else None)
    opts = RunOptions(direction="down" if args.down else "up", to_version=args.to,
                      lock_timeout_s=args.lock_timeout,
                      statement_timeout_s=args.statement_timeout, retries=args.retries,
                      without_backup=args.without_backup,
                      confirm_as_written=tuple(args.confirm_as_written),
                      rebuild_invalid=args.rebuild_invalid_indexes,
                      accept_preflight=args.accept_preflight)
    res = run_migrations(target, opts, cbs, journal)
    if ctx.json:
        d = res.to_dict()
        d["previous_interrupted_run"] = prev
        ctx.emit_json(d)
    else:
        for line in render_result(res):
            ctx.out(line)
    return res.exit_code


def _run_nself(args: argparse.Namespace, ctx: CliContext, journal: Journal) -> int:
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
