"""``nchat-tui rehearse [--json] [--keep]``: the guide's dry run, on a restored scratch copy.

Restores the latest verified backup into a new scratch database, applies the pending
migrations there with per-statement timings, checks the objects they create, runs the downs,
compares the schema inventory with the restored one, and drops the scratch database. Exit 0
when everything held, 1 when a migration or a down failed or the downs left differences, 3
without a verified backup.
"""

from __future__ import annotations

import argparse

from nchat_tui.cli.main import CliContext
from nchat_tui.migrate.rehearse import RehearsalResult, rehearse
from nchat_tui.migrate.runner import RunEvent
from nchat_tui.state.journal import Journal

NAME = "rehearse"
HELP = "dry run: restore the latest verified backup into a scratch database, migrate, revert, time"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--keep", action="store_true",
                   help="keep the scratch database afterwards (default: drop it)")
    p.add_argument("--lock-timeout", type=float, default=5.0, metavar="S",
                   help="lock_timeout per statement in seconds (default 5)")
    p.add_argument("--statement-timeout", type=float, default=None, metavar="S",
                   help="statement_timeout per statement in seconds (default: none)")
    p.add_argument("--confirm-as-written", action="append", default=[], metavar="FILE",
                   help="run FILE (own ROLLBACK guard or several transactions) as written")


def render_text(r: RehearsalResult) -> list[str]:
    out = [f"rehearsal on {r.scratch_database} (from {r.backup}): {r.status}"]
    if r.restore_s is not None:
        out.append(f"  restore {r.restore_s:.1f} s")
    if r.up is not None:
        out.append(f"  up: {', '.join(r.up['committed']) or 'nothing'} in {r.up_s or 0:.2f} s "
                   f"(lock waits {r.lock_wait_s:.2f} s)")
        if r.up.get("error"):
            e = r.up["error"]
            out.append(f"  up failed: {e['file']} line {e['line']}: {e['message']}")
    if r.down is not None:
        out.append(f"  down: {', '.join(r.down['committed']) or 'nothing'} in {r.down_s or 0:.2f} s")
    for s in r.slowest:
        out.append(f"  slow: {s.duration_ms:9.1f} ms  {s.file} #{s.statement} line {s.line}  "
                   f"{s.summary}")
    for m in r.missing_objects:
        out.append(f"  missing after up: {m}")
    for d in r.inventory_differences:
        out.append(f"  schema after the downs: {d}")
    if r.estimate_s is not None:
        out.append(f"  estimate for production: ~{r.estimate_s:.1f} s "
                   f"(database {r.size_ratio:g}x the backup's size)")
    out.append(f"  scratch database {'dropped' if r.dropped else 'KEPT: ' + r.scratch_database}")
    for n in r.notes:
        out.append(f"  note: {n}")
    return out


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.migrate.runner import check_timeouts  # noqa: PLC0415 - loaded when run, not for --help

    check_timeouts(args.lock_timeout, args.statement_timeout)
    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())
    say = ctx.err if ctx.json else ctx.out

    def on_event(ev: RunEvent) -> None:
        if ev.kind in ("restore_started", "file_committed", "file_rolled_back", "file_failed"):
            say(f"  {ev.file or ''} {ev.message or ''}".rstrip())

    res = rehearse(target, journal=journal, on_event=on_event, lock_timeout_s=args.lock_timeout,
                   statement_timeout_s=args.statement_timeout,
                   confirm_as_written=tuple(args.confirm_as_written), keep=args.keep)
    if ctx.json:
        ctx.emit_json(res.to_dict())
    else:
        for line in render_text(res):
            ctx.out(line)
    return res.exit_code
