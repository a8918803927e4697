"""The plan of the pending (or ``down``) migrations of one target: discovery, ledger, run order, plan.

Shared by ``nchat-tui plan`` and ``nchat-tui migrate``'s confirmation (commands never import
each other). Reads the catalog only: runs nothing.
"""

from __future__ import annotations

from nchat_tui.errors import BadInput
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.migrate.plan import Plan, build_plan
from nchat_tui.migrate.runner import RunOptions, select_files
from nchat_tui.pg.guard import guarded
from nchat_tui.pg.target import Target


def plan_for_target(target: Target, down: bool = False, to: str | None = None) -> Plan:
    mdir = target.migrations_dir
    if mdir is None:
        raise BadInput("no migrations directory: give --migrations DIR or --backend-dir DIR")
    if not mdir.is_dir():
        raise BadInput(f"migrations directory {mdir} does not exist")
    disc = discover(mdir)
    with guarded(target, "nchat-tui plan", "the plan", statement_timeout=60) as conn:
        ledger = detect_ledger(conn)
        opts = RunOptions(direction="down" if down else "up", to_version=to)
        files = select_files(disc, ledger, opts)
        return build_plan(conn, files, ledger, all_files=disc.files,
                          direction=opts.direction,
                          warnings=[*disc.warnings, *ledger.notes])
