"""``nchat-tui verify [--json] [--against MANIFEST] [--health-url URL]``: the post-migration
checks against the before-snapshot. Exit 0 when every check holds, 1 with the failing ones
listed (``--json``: one entry per check with its evidence). Only reads the database."""

from __future__ import annotations

import argparse

from nchat_tui.cli import CliContext
from nchat_tui.journal import Journal

NAME = "verify"
HELP = "verify the database after a migration against the before-snapshot (exit 1 on failure)"

MARK = {"ok": "ok  ", "warn": "WARN", "failed": "FAIL", "skipped": "skip"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--against", metavar="MANIFEST", help="the backup manifest (or dump) whose "
                   "snapshot is the 'before' (default: the latest verified backup's)")
    p.add_argument("--health-url", metavar="URL", help="the application's health endpoint, "
                   "e.g. http://127.0.0.1:3000/api/health")
    p.add_argument("--release", metavar="VERSION", help="the application version the health "
                   "URL must report (default 0.4.0 after the v0.4.0 migrations)")
    p.add_argument("--exact-limit-mb", type=int, default=256, metavar="MB",
                   help="count tables up to this size exactly; larger ones by estimate "
                   "(default 256)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.verify import verify_upgrade

    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())

    def progress(text: str, _frac: float | None) -> None:
        if not ctx.json:
            ctx.err(f"-- {text}")

    rep = verify_upgrade(target, args.against, args.health_url, release=args.release,
                         exact_limit_bytes=args.exact_limit_mb * 1024**2, progress=progress,
                         journal=journal)
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
