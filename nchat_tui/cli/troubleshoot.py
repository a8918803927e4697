"""``nchat-tui troubleshoot [connection|missing-data|slow|v040] [--json]``: guided checks.

Walks one decision tree (all of them without an argument) against the live target and prints
each finding with its evidence and proposed action. Exit 0 when nothing was found, 1 when a
check found a problem or could not run. It never changes the database.
"""

from __future__ import annotations

import argparse
import json

from nchat_tui.cli.main import CliContext
from nchat_tui.monitor.troubleshoot import (
    GENERIC_TREES,
    TREES,
    Finding,
    Step,
    context,
    load_snapshot,
    walk,
)
from nchat_tui.releases.release import ReleaseError

NAME = "troubleshoot"
HELP = "guided troubleshooting: connection errors, missing data, slow performance, v0.4.0 cases"

MARK = {"ok": "ok  ", "problem": "FAIL", "warning": "WARN", "info": "info", "error": "ERR ",
        "skipped": "skip"}


def _tree_names() -> list[str]:
    """Every tree's name, the release folders' too (a folder that cannot be read is reported
    when the command runs, as one line, not while its options are built)."""
    try:
        return sorted(TREES)
    except ReleaseError:
        return sorted(GENERIC_TREES)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tree", nargs="?", choices=_tree_names(), help="which tree to walk "
                   "(default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--before", metavar="FILE", help="before-snapshot JSON (row counts) for the "
                   "missing-data tree")
    p.add_argument("--min-free-mb", type=int, metavar="MB", help="free disk space the v040 "
                   "disk check requires (default: max(1 GiB, a quarter of the database))")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    target = ctx.target()
    before = load_snapshot(args.before) if args.before else None
    names = [args.tree] if args.tree else list(TREES)
    result: dict[str, list[dict[str, object]]] = {}
    problems = 0

    def show(step: Step, f: Finding) -> None:
        if ctx.json:
            return
        ctx.out(f"  [{MARK.get(f.status, f.status)}] {step.title}: {f.summary}")
        if f.action and f.status in ("problem", "warning", "error", "skipped", "info"):
            ctx.out(f"         action: {f.action}")
        if f.action_sql and f.status == "problem":
            ctx.out(f"         review: {f.action_sql}")
        for fx in f.fixes[:5]:
            ctx.out(f"         fix:    {fx.text()}")

    with context(target, before=before,
                 min_free_bytes=args.min_free_mb * 1024 ** 2 if args.min_free_mb else None
                 ) as cctx:
        for name in names:
            tree = TREES[name]
            if not ctx.json:
                ctx.out(f"{tree.title} ({name}) on {target.masked()}")
            findings = walk(name, cctx, on_finding=show)
            problems += sum(f.status in ("problem", "error") for f in findings)
            result[name] = [f.as_dict() for f in findings]
    if ctx.json:
        ctx.out(json.dumps({"target": target.masked(), "trees": result, "problems": problems},
                           indent=2, default=str))
    return 1 if problems else 0
