"""``nchat-tui rollback``: the ways back after a migration.

- ``rollback`` alone: the decision facts (down files and what they would drop, the backup's age
  and the rows a restore would lose, whether an application-only rollback is enough).
- ``rollback --backup PATH [--yes] [--json]``: restore into a new database, verify it, then
  swap names; the old database is kept as ``<db>_before_rollback_<ts>``.
- ``rollback --down [--to VERSION]``: the down files, then the inventory compared with the
  before-snapshot of the run that applied them (``downplan``).
- ``rollback --drop-old NAME``: drop a database an earlier rollback kept.

Without ``--yes`` the operator types the database name; without ``--yes`` and without a
terminal, every changing form refuses (exit 3).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nchat_tui import fmt
from nchat_tui.cli.main import CliContext
from nchat_tui.errors import BadInput, Refused
from nchat_tui.state.journal import Journal

NAME = "rollback"
HELP = "roll back: show the ways back, restore a backup by a safe rename swap, or run down files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--backup", metavar="PATH", help="restore this verified backup by swap")
    g.add_argument("--down", action="store_true", help="run the down migrations")
    g.add_argument("--drop-old", metavar="NAME", help="drop a <db>_before_rollback_<ts> database")
    p.add_argument("--to", metavar="VERSION", help="with --down: revert every file after VERSION "
                   "(default: the files of the last up run that are still applied)")
    p.add_argument("--against", metavar="MANIFEST", help="the before-snapshot's manifest "
                   "(default: the before-snapshot of the run that applied the files to revert, "
                   "from the session journals; else the newest backup that predates them)")
    p.add_argument("--yes", action="store_true", help="do not ask (headless)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="pg_restore jobs (default 2)")


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.rollback import engine as rb

    changing = bool(args.backup or args.down or args.drop_old)
    interactive = not args.yes and sys.stdin.isatty()
    if changing and not args.yes and not interactive:
        raise Refused("no confirmation: give --yes (there is no terminal to ask on)")
    if args.to and not args.down:
        raise BadInput("--to goes with --down")
    target = ctx.target()
    journal = Journal.for_target(target.state_dir, target.masked())
    say = ctx.err if ctx.json else ctx.out

    if args.drop_old:
        name = args.drop_old
        rb.drop_old_database(target, name, name if args.yes else (
            lambda n: _ask(f"type the database name ({n}) to DROP it: ")), journal)
        if ctx.json:
            ctx.emit_json({"dropped": name})
        else:
            ctx.out(f"dropped {name}")
        return 0

    if args.backup:
        def confirm(db: str, sessions: list[dict[str, Any]]) -> str:
            say(f"{len(sessions)} session(s) connected to {db} will be terminated:")
            for s in sessions:
                say(f"  pid {s['pid']} {s['role']} {s['application_name'] or '-'} "
                    f"{s['client_addr'] or 'local'} {s['state']}")
            return _ask(f"type the database name ({db}) to swap in the restored copy: ")

        res = rb.restore_swap(target, args.backup, confirm_name=target.database if args.yes
                              else confirm, progress=lambda t, _f: say(f"-- {t}"),
                              journal=journal, jobs=args.jobs)
        if ctx.json:
            ctx.emit_json(res.as_dict())
        else:
            ctx.out(f"{res.database} is now the restored copy of {res.restored_from}")
            ctx.out(f"the previous database is kept as {res.old_database}; drop it with "
                    f"`nchat-tui rollback --drop-old {res.old_database}` once you are sure")
            ctx.out(f"{len(res.terminated)} session(s) terminated; restore "
                    f"{res.restore_duration_s:.1f}s, swap {res.swap_duration_s:.2f}s")
            for w in res.warnings:
                ctx.out(f"warning: {w}")
        return 0

    if args.down:
        if interactive:
            facts = rb.rollback_options(target, args.against)
            _print_down(say, facts.down)
            if _ask(f"type the database name ({target.database}) to run the down files: ") \
                    != target.database:
                raise Refused("not confirmed")
        dres = rb.down_rollback(target, args.to, args.against, journal=journal,
                                options={"retries": 3})
        if ctx.json:
            ctx.emit_json(dres.as_dict())
        else:
            run_ = dres.run
            if run_.get("status") == "nothing_to_do" and dres.inventory_equal is None:
                ctx.out(f"nothing to do: {run_.get('message')}")
                return 0
            ctx.out(f"down to {dres.to_version}: {run_.get('status')}; reverted: "
                    + (", ".join(run_.get("committed") or []) or "none"))
            ctx.out(f"compared with: {dres.notes[0] if dres.notes else dres.before_source}")
            for n in dres.notes[1:]:
                ctx.out(f"note: {n}")
            if dres.inventory_equal:
                ctx.out("the schema inventory equals the before-snapshot's"
                        + (" plus what the files that stay applied create"
                           if dres.plan.get("extra") else ""))
            else:
                ctx.out("the schema inventory DIFFERS from the before-snapshot's:")
                for cat, part in dres.differences.items():
                    for kind in ("added", "removed", "changed"):
                        for key in sorted(part[kind])[:10]:
                            ctx.out(f"  {cat} {key} {kind}")
            if run_.get("error"):
                ctx.out(f"error: {run_['error'].get('message')}")
        return 0 if dres.ok else 1

    facts = rb.rollback_options(target, args.against)
    journal.append("rollback_options", recommended=facts.recommended,
                   schema_changed=facts.schema_changed)
    if ctx.json:
        ctx.emit_json(facts.as_dict())
        return 0
    ctx.out(f"ways back for {facts.database} (schema changed since the backup: "
            f"{'yes, ' + str(facts.schema_changes) + ' change(s)' if facts.schema_changed else 'no'})")
    ctx.out(f"* application only: {'possible' if facts.app_only['available'] else 'no'} - "
            f"{facts.app_only['why']}")
    _print_down(ctx.out, facts.down)
    r = facts.restore
    age = fmt.about(r.age_s) if r.age_s is not None else "unknown age"
    ctx.out(f"* restore {r.manifest} (snapshot {r.taken_at}, {age} old): loses at least "
            f"{r.net_rows_added} row(s) added since")
    for t in r.per_table[:10]:
        ctx.out(f"    {t['table']}: {t['added_since']} row(s)"
                + (" (new table)" if t["new_table"] else ""))
    ctx.out(f"    rows written since the backup: {r.written_since_backup}")
    wsb = r.written_since_baseline
    if wsb and "inserted" in wsb:
        ctx.out(f"    of which since the {wsb['label']} at {wsb['since']}: {wsb['inserted']} "
                f"inserted, {wsb['updated']} updated, {wsb['deleted']} deleted")
    ctx.out(f"recommended: {facts.recommended}")
    return 0


def _print_down(out: Any, down: Any) -> None:
    if not down.files and not down.available:
        out(f"* down migrations: not available ({down.note})")
        return
    out(f"* down migrations: {'available' if down.available else 'INCOMPLETE'}"
        + (f" ({down.note})" if down.note else "")
        + f"; data lost: {down.rows_lost} row(s) in dropped tables, {down.values_lost} "
        "value(s) in dropped columns")
    for f in down.files:
        lost = [f"{t['table']} ({t['rows']} rows)" for t in f["tables"] if t["rows"]]
        lost += [f"{c['column']} ({c['values']} values)" for c in f["columns"] if c["values"]]
        out(f"    {f['down_file']}: drops " + ", ".join(
            f"{len(v)} {k}" for k, v in f["drops"].items()) + (
            f"; loses {', '.join(lost)}" if lost else "; no data lost"))
