"""``nchat-tui status [--json]``: the target, its ledger and the pending migrations."""

from __future__ import annotations

import argparse

from nchat_tui import fmt
from nchat_tui.cli.main import CliContext
from nchat_tui.migrate.status import gather_status

NAME = "status"
HELP = "show the target, its migration ledger and the pending migrations"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    st = gather_status(ctx.target())
    if ctx.json:
        ctx.emit_json(st.to_dict())
        return 0
    pgss = st.pg_stat_statements
    ctx.out(f"target      {st.target}  (from {st.source})")
    ctx.out(f"server      PostgreSQL {st.server_version}, database {st.database} "
            f"({fmt.size(st.database_size)}), user {st.user}"
            f"{' (superuser)' if st.is_superuser else ''}")
    ctx.out(f"pg_stat_statements  {pgss['state']}" + (f": {pgss['fix']}" if pgss.get("fix") else ""))
    led = st.ledger
    ctx.out(f"ledger      {led.kind} ({len(led.applied)} applied, current "
            f"{led.current_version or 'none'})")
    if not st.pending_known:
        ctx.out(f"pending     unknown: {st.pending_unknown or 'no migrations directory'}")
    elif st.pending:
        ctx.out(f"pending     {len(st.pending)} migration(s), in run order:")
        notes = {p.name: p.notes for p in st.pending_files}
        for name in st.pending:
            ctx.out(f"  - {name}")
            for note in notes.get(name, []):
                ctx.out(f"      {note}")
    else:
        ctx.out("pending     none")
    for w in st.warnings:
        ctx.out(f"warning     {w}")
    return 0
