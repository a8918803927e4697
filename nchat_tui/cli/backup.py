"""``nchat-tui backup``: a verified pg_dump of the target with its manifest (see backup.py)."""

from __future__ import annotations

import argparse

from nchat_tui import fmt
from nchat_tui.backup.engine import Progress, run_backup
from nchat_tui.cli.main import CliContext

NAME = "backup"
HELP = ("back up the database: pg_dump on a consistent snapshot, manifest with row counts, "
        "full verification, then the final name")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress lines)")
    p.add_argument("--format", choices=["custom", "directory"], default="custom",
                   help="custom (one file, default, what nself writes) or directory (parallel)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="parallel pg_dump jobs (directory format only)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the verification (the backup is then listed as unverified)")
    p.add_argument("--test-restore", action="store_true",
                   help="also restore into a scratch database and compare every row count")
    p.add_argument("--skip-space-check", action="store_true",
                   help="do not refuse when free space looks too small for the estimate")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    target = ctx.target()

    def progress(ev: Progress) -> None:
        if ctx.json:
            return
        if ev.kind == "table":
            ctx.out(ev.line())
        elif ev.kind == "phase":
            ctx.out(f"-- {ev.phase}: {ev.message}")

    res = run_backup(target, fmt=args.format, jobs=args.jobs, verify=not args.no_verify,
                     test_restore=args.test_restore, on_progress=progress,
                     check_space=not args.skip_space_check)
    if ctx.json:
        ctx.emit_json(res.as_dict())
        return 0
    for lo in res.leftovers:
        ctx.out(f"leftover found: {', '.join(str(p) for p in lo.paths)} ({lo.reason}); "
                "remove with: nchat-tui backups --remove-leftovers")
    snap = res.manifest["snapshot"]
    ctx.out(f"backup      {res.path}")
    ctx.out(f"state       {res.state}")
    ctx.out(f"size        {fmt.size(res.size)}  sha256 {res.sha256}")
    ctx.out(f"contents    {len(snap['row_counts'])} tables, {snap['total_rows']} rows, counted as "
            f"{snap['counted_as']['role']} in snapshot {snap['snapshot_id']}")
    ctx.out(f"manifest    {res.manifest_path}")
    if res.verification is not None:
        for c in res.verification.checks:
            ctx.out(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}")
    for w in res.warnings:
        ctx.out(f"warning     {w}")
    return 0
