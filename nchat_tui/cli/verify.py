"""``nchat-tui verify [--json] [--against MANIFEST] [--health-url URL] [--count-budget S]
[--estimate-over MB]``: the post-migration checks against the before-snapshot. Exit 0 when
every check holds, 1 with the failing ones listed (``--json``: one entry per check with its
evidence). Row counts are exact within the time budget; ``--estimate-over`` asks for
estimates (after ANALYZE, with their error, never a plain ok) of the tables above a size.
Only reads the database (ANALYZE apart, when estimates are asked for)."""

from __future__ import annotations

import argparse
import math

from nchat_tui.cli.main import CliContext
from nchat_tui.state.journal import Journal
from nchat_tui.verify.rowcounts import DEFAULT_BUDGET_S

NAME = "verify"
HELP = "verify the database after a migration against the before-snapshot (exit 1 on failure)"

MARK = {"ok": "ok  ", "warn": "WARN", "failed": "FAIL", "skipped": "skip"}


def _number(text: str, what: str, minimum: float) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
    if not math.isfinite(v) or v < minimum:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of {what} "
                                         f"(at least {minimum:g})")
    return v


def _seconds(text: str) -> float:
    return _number(text, "seconds", 1)


def _megabytes(text: str) -> float:
    return _number(text, "megabytes", 0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--against", metavar="MANIFEST", help="the backup manifest (or dump) whose "
                   "snapshot is the 'before' (default: the latest verified backup's)")
    p.add_argument("--health-url", metavar="URL", help="the application's health endpoint, "
                   "e.g. http://127.0.0.1:3000/api/health")
    p.add_argument("--release", metavar="VERSION", help="the application version the health "
                   "URL must report (default 0.4.0 after the v0.4.0 migrations)")
    p.add_argument("--count-budget", type=_seconds, default=DEFAULT_BUDGET_S, metavar="S",
                   help="seconds all exact row counts may take together (default "
                   f"{DEFAULT_BUDGET_S:g}); a table not counted in time fails the check")
    p.add_argument("--estimate-over", "--exact-limit-mb", dest="estimate_over", type=_megabytes,
                   default=None, metavar="MB",
                   help="estimate the rows of tables larger than MB megabytes instead of "
                   "counting them (ANALYZE first; shown as an estimate with its error, never "
                   "as ok). Default: count every table exactly")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.verify.engine import verify_upgrade  # noqa: PLC0415 - loaded when run, not for --help

    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())

    def progress(text: str, _frac: float | None) -> None:
        if not ctx.json:
            ctx.err(f"-- {text}")

    rep = verify_upgrade(target, args.against, args.health_url, release=args.release,
                         estimate_over_bytes=None if args.estimate_over is None
                         else int(args.estimate_over * 1024**2),
                         count_budget_s=args.count_budget, progress=progress, journal=journal)
    if ctx.json:
        ctx.emit_json(rep.as_dict())
        return rep.exit_code
    ctx.out(f"verification of {rep.target} against {rep.before_source}"
            + (f" (taken {rep.before_taken_at})" if rep.before_taken_at else ""))
    ctx.out(f"applied by this upgrade: {', '.join(rep.applied) or 'none found'}")
    for c in rep.checks:
        ctx.out(f"[{MARK.get(c.status, c.status)}] {c.id}: {c.summary}")
    for n in rep.notes:
        ctx.out(f"note: {n}")
    if rep.ok:
        ctx.out(f"verification passed in {rep.duration_s:.1f}s")
    else:
        ctx.out(f"verification FAILED: {', '.join(c.id for c in rep.failed())}")
    return rep.exit_code
