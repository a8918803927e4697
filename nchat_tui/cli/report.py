"""``nchat-tui report [SESSION] [--output FILE]``: the session journal as a Markdown report
for a change ticket (default: the target's current session, saved as ``report.md`` in the
session's directory). Never contains a secret; never connects to the database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nchat_tui.cli.main import CliContext
from nchat_tui.errors import BadInput

NAME = "report"
HELP = "render a session's journal as a Markdown upgrade report for a change ticket"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", nargs="?", metavar="SESSION",
                   help="session id (a directory under STATE_DIR/sessions) or a journal path "
                   "(default: the target's current session)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write here ('-' for standard output; default SESSION_DIR/report.md)")
    p.add_argument("--json", action="store_true", help="print the report's path as JSON")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    from nchat_tui.report import markdown as md  # noqa: PLC0415 - loaded when run, not for --help

    target = ctx.target()
    sdir = md.session_dir_for(target.state_dir, target.masked(), args.session)
    secrets = [v for k, v in target.params.items() if k == "password" and v]
    if args.output == "-":
        ctx.out(md.build_report(sdir, secrets, backup_dir=target.backup_dir).rstrip("\n"))
        return 0
    output = Path(args.output).expanduser().absolute() if args.output else None
    if output is not None:
        journal = sdir / "journal.jsonl"
        if output.is_dir():
            raise BadInput(f"--output {output} is a directory", f"give a file name, e.g. "
                           f"--output {output / 'report.md'}")
        if output.resolve() == journal.resolve() or (
                output.exists() and journal.exists() and os.path.samefile(output, journal)):
            raise BadInput(f"--output {output} is the session's journal: the journal is never "
                           "overwritten", "choose another file")
    out = md.save_report(sdir, output, secrets, backup_dir=target.backup_dir)
    if ctx.json:
        ctx.emit_json({"report": str(out), "session": sdir.name})
    else:
        ctx.out(f"report for session {sdir.name} written to {out}")
    return 0
