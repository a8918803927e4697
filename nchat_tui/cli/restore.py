"""``nchat-tui restore PATH --into NAME``: restore a dump into a NEW database and compare row
counts with the manifest. Never drops, renames or overwrites an existing database."""

from __future__ import annotations

import argparse

from nchat_tui.backup.engine import Progress, restore_into
from nchat_tui.cli.main import CliContext

NAME = "restore"
HELP = "restore a dump into a new database (refuses an existing name) and compare row counts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="the .dump file (or .dir directory)")
    p.add_argument("--into", required=True, metavar="NAME", help="the new database's name")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="pg_restore jobs (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--keep-failed", action="store_true",
                   help="keep the new database when the restore fails (default: drop it)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    target = ctx.target()

    def progress(ev: Progress) -> None:
        if not ctx.json and ev.kind == "table":
            ctx.out(ev.line())
        elif not ctx.json and ev.kind == "phase":
            ctx.out(f"-- {ev.phase}: {ev.message}")

    res = restore_into(target, args.path, args.into, jobs=args.jobs, on_progress=progress,
                       keep_failed=args.keep_failed)
    if ctx.json:
        ctx.emit_json(res.as_dict())
        return 0
    ctx.out(f"restored {res.path} into new database {res.database} in {res.duration_s:.1f}s")
    if res.compared:
        ctx.out(f"row counts of {len(res.counts)} tables equal the manifest's")
    else:
        ctx.out("no manifest beside the dump: row counts were not compared")
    return 0
