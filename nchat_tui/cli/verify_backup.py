"""``nchat-tui verify-backup PATH``: prove a dump good (checksum, full read, table of contents,
optionally a test restore). Exit 1 names the failure; exit 2 for a file that is no archive."""

from __future__ import annotations

import argparse

from nchat_tui.backup.engine import Progress, verify_backup
from nchat_tui.cli.main import CliContext
from nchat_tui.errors import EXIT_FAILED, EXIT_OK

NAME = "verify-backup"
HELP = "verify a dump: sha256 vs manifest, full read with pg_restore, tables vs manifest"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="the .dump file (or .dir directory)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--test-restore", action="store_true",
                   help="restore into a scratch database, compare every row count, drop it")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="pg_restore jobs (default 2)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    target = ctx.target()

    def progress(ev: Progress) -> None:
        if not ctx.json and ev.kind == "table":
            ctx.out(ev.line())
        elif not ctx.json and ev.kind == "phase":
            ctx.out(f"-- {ev.phase}: {ev.message}")

    v = verify_backup(args.path, test_restore=args.test_restore, target=target,
                      on_progress=progress, jobs=args.jobs)
    if ctx.json:
        ctx.emit_json(v.as_dict())
    else:
        for c in v.checks:
            ctx.out(f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}")
        ctx.out(f"verified: {v.path}" if v.ok else f"verification FAILED: {v.failure}")
    if not v.ok:
        ctx.err(f"nchat-tui verify-backup: {v.failure}")
    return EXIT_OK if v.ok else EXIT_FAILED
