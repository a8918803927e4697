"""``nchat-tui backups``: the backups in the backup directory with their state, and leftovers."""

from __future__ import annotations

import argparse

from nchat_tui import fmt
from nchat_tui.backup.engine import (
    Leftover,
    find_leftovers,
    list_backups,
    remove_leftovers,
    scratch_leftovers,
)
from nchat_tui.cli.main import CliContext
from nchat_tui.errors import NchatError
from nchat_tui.state.journal import Journal

NAME = "backups"
HELP = "list backups (verified, unverified, failed, partial) and leftovers of interrupted runs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--remove-leftovers", action="store_true",
                   help="delete partial files and manifests of interrupted or failed runs")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    target = ctx.target()
    removed: list[str] = []
    notes: list[str] = []

    def scratch() -> list[Leftover]:
        try:
            return scratch_leftovers(target)
        except NchatError as exc:  # the list of files needs no server; say what was skipped
            notes.append(f"scratch databases not checked: {exc.message}")
            return []

    if args.remove_leftovers:
        journal = Journal.for_target(target.state_dir, target.masked())
        removed = remove_leftovers(find_leftovers(target.backup_dir) + scratch(), journal,
                                   target)
    backups = list_backups(target.backup_dir)
    leftovers = find_leftovers(target.backup_dir) + scratch()
    if ctx.json:
        ctx.emit_json({"backup_dir": str(target.backup_dir),
                       "backups": [b.as_dict() for b in backups],
                       "leftovers": [lo.as_dict() for lo in leftovers], "removed": removed,
                       "notes": notes})
        return 0
    ctx.out(f"backup directory {target.backup_dir}")
    for p in removed:
        ctx.out(f"removed     {p}")
    if not backups:
        ctx.out("no backups")
    for b in backups:
        size = fmt.size(b.size, missing="-")
        ctx.out(f"{b.state:<10}  {size:>10}  {(b.created or '-')[:19]:<19}  {b.path.name}"
                + (f"  ({b.detail})" if b.detail else ""))
    for lo in leftovers:
        what = ", ".join(p.name for p in lo.paths) or lo.database
        if what is None:  # nothing removable: said, not offered
            ctx.out(f"refused     {lo.reason}")
            continue
        ctx.out(f"leftover    {what}: {lo.reason} (nchat-tui backups --remove-leftovers)")
    for n in notes:
        ctx.out(f"note        {n}")
    return 0
