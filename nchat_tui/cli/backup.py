"""``nchat-tui backup``: a verified pg_dump of the target with its manifest (see backup.py)."""

from __future__ import annotations

import argparse
import shutil
import textwrap

from nchat_tui import fmt
from nchat_tui.backup.engine import Progress, run_backup
from nchat_tui.cli.main import CliContext

NAME = "backup"
HELP = ("back up the database: pg_dump on a consistent snapshot, manifest with row counts, "
        "full verification, then the final name")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress lines)")
    p.add_argument("--format", choices=["custom", "directory"], default=None,
                   help="custom (one .dump file: the default, what nself writes and restores) or "
                        "directory (parallel jobs; nself cannot restore it)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel pg_dump jobs (directory format only; default: as many as the "
                        "large tables and CPUs allow)")
    p.add_argument("--compress", default=None, metavar="SPEC",
                   help="pg_dump compression: a gzip level 0-9, or gzip[:N], lz4[:N], zstd[:N] "
                        "(pg_dump 16+), none (default: the fastest one the restore side reads)")
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

    res = run_backup(target, fmt=args.format, jobs=args.jobs, compress=args.compress,
                     verify=not args.no_verify, test_restore=args.test_restore,
                     on_progress=progress, check_space=not args.skip_space_check)
    if ctx.json:
        ctx.emit_json(res.as_dict())
        return 0
    for lo in res.leftovers:
        ctx.out(f"leftover found: {', '.join(str(p) for p in lo.paths)} ({lo.reason}); "
                "remove with: nchat-tui backups --remove-leftovers")
    snap = res.manifest["snapshot"]
    method = res.manifest.get("method") or {}
    ctx.out(f"backup      {res.path}")
    ctx.out(f"state       {res.state}")
    ctx.out(f"size        {fmt.size(res.size)}  sha256 {res.sha256}")
    if method:
        ctx.out(f"method      {method['summary']} "
                f"({'chosen automatically' if method['chosen_by'] == 'auto' else 'as asked'})")
        ctx.out(_wrapped("", method["reason"]))
        ctx.out("restore     " + ("nself db restore reads it" if method["nself_restorable"] else
                                  "NOT readable by nself db restore: use nchat-tui restore"))
        for note in method.get("notes") or []:
            ctx.out(_wrapped("note", note))
    ctx.out(f"contents    {len(snap['row_counts'])} tables, {snap['total_rows']} rows, counted as "
            f"{snap['counted_as']['role']} in snapshot {snap['snapshot_id']}")
    ctx.out(f"manifest    {res.manifest_path}")
    if res.verification is not None:
        for c in res.verification.checks:
            ctx.out(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}")
    for w in res.warnings:
        ctx.out(f"warning     {w}")
    return 0


def _wrapped(label: str, text: str) -> str:
    """``label`` in the 12-column gutter, ``text`` wrapped to the terminal (80 when unknown)."""
    width = max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))
    return textwrap.fill(text, width=width, initial_indent=f"{label:<12}",
                         subsequent_indent=" " * 12, break_on_hyphens=False,
                         break_long_words=False)
