"""``nchat-tui maintain [--vacuum] [--refresh] [--cleanup] [--yes] [--json]``: the
post-migration maintenance of seed 004: VACUUM ANALYZE of the new and changed tables, REFRESH
of the materialized views (CONCURRENTLY when a unique index allows), and the optional cleanup
jobs, which show their row counts first. Without an action flag it shows the plan only.
Without ``--yes`` each item is asked on the terminal; without a terminal it refuses (exit 3)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nchat_tui.cli.main import CliContext
from nchat_tui.errors import Refused
from nchat_tui.state.journal import Journal

NAME = "maintain"
HELP = "post-migration maintenance: VACUUM ANALYZE, REFRESH MATERIALIZED VIEW, cleanup jobs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) new and changed tables")
    p.add_argument("--refresh", action="store_true", help="refresh the materialized views")
    p.add_argument("--cleanup", action="store_true",
                   help="seed 004's cleanup jobs (counted first, deleted when confirmed)")
    p.add_argument("--table", action="append", default=[], metavar="SCHEMA.TABLE",
                   help="vacuum these tables instead of the new and changed ones")
    p.add_argument("--against", metavar="MANIFEST", help="the before-snapshot's manifest")
    p.add_argument("--yes", action="store_true", help="do not ask (headless)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.verify import maintenance as mt  # noqa: PLC0415 - loaded when run, not for --help

    acting = args.vacuum or args.refresh or args.cleanup
    interactive = not args.yes and sys.stdin.isatty()
    if acting and not args.yes and not interactive:
        raise Refused("no confirmation: give --yes (there is no terminal to ask on)")
    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())
    say = ctx.err if ctx.json else ctx.out
    plan = mt.maintenance_plan(target, args.against)

    def confirm(what: str, _facts: dict[str, Any]) -> bool:
        sys.stderr.write(f"{what}? [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    ask = confirm if interactive else None
    progress = (lambda t, _f: say(f"-- {t}")) if not ctx.json else (lambda _t, _f: None)
    out: dict[str, Any] = {"plan": plan.as_dict()}
    if not acting:
        if ctx.json:
            ctx.emit_json(out)
            return 0
        ctx.out("new tables: " + (", ".join(plan.new_tables) or "none"))
        ctx.out("changed tables: " + (", ".join(plan.changed_tables) or "none"))
        for v in plan.matviews:
            ctx.out(f"materialized view {v['view']}: refresh "
                    + ("CONCURRENTLY (unique index " + v["unique_index"] + ")"
                       if v["concurrently"] else "plain (no unique index or not populated)"))
        for c in plan.cleanup:
            ctx.out(f"cleanup {c['job']}: {c['title']}: "
                    + (f"{c['rows']} row(s)" if c["rows"] is not None else c.get("note", "")))
        for n in plan.notes:
            ctx.out(f"note: {n}")
        ctx.out("run with --vacuum, --refresh and/or --cleanup")
        return 0
    results: list[Any] = []
    if args.vacuum:
        results += mt.vacuum_analyze(target, args.table or plan.tables, confirm=ask,
                                     progress=progress, journal=journal)
    if args.refresh:
        results += mt.refresh_matviews(target, plan.matviews, confirm=ask, progress=progress,
                                       journal=journal)
    if args.cleanup:
        results += mt.run_cleanup(target, confirm=ask, progress=progress, journal=journal)
    failed = [r for r in results if r.status == "failed"]
    if ctx.json:
        out["results"] = [r.__dict__ for r in results]
        ctx.emit_json(out)
    else:
        for r in results:
            took = f" in {r.duration_s:.2f}s" if r.duration_s is not None else ""
            ctx.out(f"{r.item}: {r.status}{took}" + (f" ({r.detail})" if r.detail else ""))
    return 1 if failed else 0
