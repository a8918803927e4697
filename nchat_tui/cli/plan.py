"""``nchat-tui plan [--json] [--down] [--to VERSION]``: what the pending migrations will do here.

For every pending file, in run order: its statements with the lock each takes and on which
table (with that table's live size and row estimate), rewrites, statements that cannot run in a
transaction, the file's own transaction control, size-weighted lint, its sha256; and drift of
applied files against the Go ledger's checksums. Reads the catalog only: runs nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from nchat_tui import fmt
from nchat_tui.cli.main import CliContext
from nchat_tui.migrate.plan import Plan, Statement, norm_name
from nchat_tui.migrate.target_plan import plan_for_target

NAME = "plan"
HELP = "review the pending migrations: locks, live table sizes, rewrites, lint, checksums"

MARK = {"info": "-", "warn": "!", "danger": "!!"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--down", action="store_true",
                   help="plan the down migrations instead (the last applied file, or --to)")
    p.add_argument("--to", metavar="VERSION", help="up: stop after VERSION; down: revert every "
                   "applied file after VERSION")


def make_plan(ctx: CliContext, down: bool = False, to: str | None = None) -> Plan:
    return plan_for_target(ctx.target(), down, to)


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    plan = make_plan(ctx, args.down, args.to)
    if ctx.json:
        ctx.emit_json(plan.to_dict())
        return 0
    for line in render_text(plan):
        ctx.out(line)
    return 0


def render_text(plan: Plan) -> list[str]:
    out: list[str] = []
    if not plan.files:
        out.append(f"nothing to {'revert' if plan.direction == 'down' else 'apply'} "
                   f"(ledger: {plan.ledger_kind})")
    for fp in plan.files:
        out.append(f"{fp.file}  [{fp.txn_mode}]  sha256 {fp.checksum[:12]}  "
                   f"strongest lock: {fp.strongest_lock or 'none'}")
        out.append(f"  {fp.txn_explanation}")
        for note in fp.notes:
            out.append(f"  {note}")
        for line in fp.preflight:
            out.append(f"  !! preflight {line}")
        for st in fp.statements:
            out += _statement_lines(st)
        for f in fp.findings:
            if f.statement is None:
                out.append(f"  {MARK[f.severity]} {f.severity} {f.rule}: {f.message}")
        out.append("")
    for d in plan.drift:
        out.append(f"DRIFT {d.file}: changed since it was applied (recorded sha256 "
                   f"{d.recorded[:12]}, now {d.current[:12]})")
    for w in plan.warnings:
        out.append(f"warning: {w}")
    if plan.preflight is not None:
        out += _preflight_lines(plan.preflight)
    s = plan.summary()
    out.append(f"{s.files} file(s), {s.statements} statement(s); findings: "
               f"{s.findings.danger} danger, {s.findings.warn} warn, "
               f"{s.findings.info} info; drift: {s.drift}"
               + (f"; preflight: {s.preflight_problems} missing"
                  if s.preflight_problems is not None else ""))
    return out


def _statement_lines(st: Statement) -> list[str]:
    out: list[str] = []
    locks = []
    own = {norm_name(c) for c in st.creates}
    for t in st.targets:
        where = t.qualified or t.name
        if t.created_by_plan and norm_name(t.name) in own:
            fig = "created by this statement"
        elif t.created_by_plan:
            fig = "created earlier in this plan"
        elif t.exists:
            fig = f"~{t.row_estimate or 0:,} rows, {fmt.size(t.size_bytes or 0)}"
        else:
            fig = "does not exist yet"
        locks.append(f"{t.lock} on {where} ({fig})")
    flags = [x for x, on in (("REWRITE", st.rewrite), ("NO-TXN", st.non_transactional),
                             (st.transaction_control or "", bool(st.transaction_control)))
             if on]
    out.append(f"  #{st.index:<3} line {st.line:<5} {' '.join(flags) + ' ' if flags else ''}"
               f"{st.summary}")
    for lk in locks:
        out.append(f"        lock: {lk}")
    for b in st.body:
        where = f" ({b.where})" if b.where else ""
        held = ", ".join(f"{lock.lock} on {lock.name}" for lock in b.locks)
        out.append(f"        body line {b.line}{where}: {b.summary}"
                   + (f"  [{held}]" if held else ""))
    for f in st.findings:
        out.append(f"        {MARK[f.severity]} {f.severity} {f.rule}: {f.message}")
    return out


def _preflight_lines(pf: Any) -> list[str]:
    out: list[str] = []
    probs = pf.lines()
    if probs:
        out.append(f"PREFLIGHT: {len(probs)} object(s) the files need that this database "
                   "lacks (migrate refuses to start until they exist):")
        out += [f"  - {p}" for p in probs]
    else:
        out.append("preflight: every schema, role, function, type, extension, relation and "
                   "operator class the files need exists or is created by an earlier file")
    for g in pf.grouped(pf.guarded()):
        where = "; ".join(f"{f} line {', '.join(str(x) for x in ls)}"
                          for f, ls in g.where.items())
        out.append(f"  guarded: {g.kind} {g.name} ({where}): {g.detail}")
    for u in pf.unchecked:
        out.append(f"  not checked: {u.file}" + (f" line {u.line}" if u.line else "")
                   + f": {u.why}")
    return out
