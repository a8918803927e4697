"""The headless CLI: ``nchat-tui [TARGET OPTIONS] [COMMAND] ...``.

Each subcommand lives in its own ``nchat_tui/cmd_*.py`` module exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args, ctx) -> int``, and is listed in ``COMMANDS``. This
module owns the shared target options, the exit-code contract (see ``errors.py``) and the
rule that an error is one clear line (or one JSON object with ``--json``), never a traceback.

The error boundary (``main``): every expected failure ends as one line naming the cause and the
next step, exit 2 for input, connection, disk, permission and encoding failures (an
``OSError`` anywhere: disk full, read-only, a file where a directory should be; a file that is
not UTF-8; a connection the server ended). A bug is one line too (exit 1), its traceback only
with ``NCHAT_TUI_DEBUG=1``. Before a command that connects runs, ``recovery.recover_on_start``
settles what a killed run left half-done (an unfinished restore swap is finished or undone,
never left refusing logins) and says what it did on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psycopg

from nchat_tui import __version__
from nchat_tui.errors import EXIT_FAILED, EXIT_INPUT, BadInput, ConnectError, NchatError
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.state.safeio import os_error_line

# Order is the order of `nchat-tui --help`.
COMMANDS = [
    "nchat_tui.cli.app",
    "nchat_tui.cli.demo",
    "nchat_tui.cli.status",
    "nchat_tui.cli.plan",
    "nchat_tui.cli.migrate",
    "nchat_tui.cli.rehearse",
    "nchat_tui.cli.backup",
    "nchat_tui.cli.backups",
    "nchat_tui.cli.verify_backup",
    "nchat_tui.cli.restore",
    "nchat_tui.cli.monitor",
    "nchat_tui.cli.troubleshoot",
    "nchat_tui.cli.verify",
    "nchat_tui.cli.report",
    "nchat_tui.cli.rollback",
    "nchat_tui.cli.maintain",
]


def add_target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target (where the database is)")
    g.add_argument("--dsn", help="libpq connection string or postgresql:// URL "
                   "(default: $DATABASE_URL, then PG* variables, then --backend-dir)")
    g.add_argument("--backend-dir", metavar="DIR", help="an nself backend directory: read its "
                   "env files for POSTGRES_*, PROJECT_NAME, BACKUP_DIR and its migrations")
    g.add_argument("--env-cascade", choices=["go", "bash"], default="go",
                   help="which nself CLI's env-file order to follow (default: go, v1.x)")
    g.add_argument("--docker", metavar="CONTAINER", help="run pg_dump/psql/pg_restore inside this "
                   "container with docker exec")
    g.add_argument("--migrations", metavar="DIR", help="migration files directory")
    g.add_argument("--backup-dir", metavar="DIR", help="where backups go (default $BACKUP_DIR "
                   "or ./backups)")
    g.add_argument("--state-dir", metavar="DIR", help="journals and session state "
                   "(default: the user's state dir)")


@dataclass
class CliContext:
    """What a subcommand gets besides its arguments."""

    args: argparse.Namespace
    out: Callable[[str], None] = field(default=lambda s: print(s, flush=True))
    err: Callable[[str], None] = field(
        default=lambda s: print(s, file=sys.stderr, flush=True))
    _target: Target | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def target(self) -> Target:
        """The resolved target (resolution errors are BadInput: exit 2)."""
        if self._target is None:
            a = self.args
            self._target = resolve_target(
                dsn=a.dsn, backend_dir=a.backend_dir, env_cascade=a.env_cascade,
                docker=a.docker, migrations=a.migrations, backup_dir=a.backup_dir,
                state_dir=a.state_dir)
        return self._target

    def emit_json(self, obj: Any) -> None:
        self.out(json.dumps(obj, indent=2, default=str, sort_keys=False))


def _load(modname: str) -> ModuleType:
    return importlib.import_module(modname)


def _command_name(modname: str) -> str:
    return modname.rsplit(".", 1)[1].removeprefix("cmd_").replace("_", "-")


def _named_command(argv: list[str]) -> str | None:
    """The module of the subcommand argv names, if it names one: only that module is then
    imported (each imports its engines; all of them cost ~150 ms and 3 MiB before any screen).
    Target options are read off first, so an option's value is never taken for a command."""
    pre = argparse.ArgumentParser(add_help=False)
    add_target_options(pre)
    try:
        _, rest = pre.parse_known_args(argv)
    except SystemExit:
        return None
    names = {_command_name(m): m for m in COMMANDS}
    for tok in rest:
        if tok in ("-h", "--help") or not tok or tok.startswith("-"):
            if tok in ("-h", "--help"):
                return None  # the overview lists every command
            continue
        return names.get(tok)
    return "nchat_tui.cli.app" if "nchat_tui.cli.app" in COMMANDS else None  # the default


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser,
                                                    dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="nchat-tui",
        description="Guided, verified, resumable nChat database upgrades with live observability.",
        epilog="Exit codes: 0 ok; 1 a check or operation failed; 2 cannot connect, bad input or "
               "missing tool; 3 refused for safety; 4 another run holds the migration lock.")
    parser.add_argument("--version", action="version", version=f"nchat-tui {__version__}")
    add_target_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for modname in COMMANDS:
        if only is not None and modname != only:
            sub.add_parser(_command_name(modname), add_help=False)  # named, not loaded
            continue
        mod = _load(modname)
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        add_target_options(p)
        mod.add_arguments(p)
        modules[mod.NAME] = mod
    return parser, modules


def _merge_target_defaults(args: argparse.Namespace, argv: list[str],
                           parser: argparse.ArgumentParser) -> None:
    """Target options may come before or after the subcommand; the explicit one wins."""
    top, _ = parser.parse_known_args(argv[: argv.index(args.command)] if args.command in argv
                                     else argv)
    for key in ("dsn", "backend_dir", "docker", "migrations", "backup_dir", "state_dir"):
        if getattr(args, key, None) is None and getattr(top, key, None) is not None:
            setattr(args, key, getattr(top, key))
    if args.env_cascade == "go" and getattr(top, "env_cascade", "go") != "go":
        args.env_cascade = top.env_cascade


NO_RECOVERY = ("report", "demo", "app",
               # read-only, and run beside a migration: watching never settles anything
               # (nor pays for importing the runner on each start)
               "monitor")
"""Commands that never connect (report: it only says what is pending), have their own target
(demo), or settle it before the screen opens and show it in the app's start-up notice (app,
demo: ``run_app``)."""


def _recover(ctx: CliContext, command: str) -> None:
    if command in NO_RECOVERY and command != "report":
        return
    # the journal and the runner load only for the commands that settle: not for a monitor
    from nchat_tui.upgrade.recovery import (  # noqa: PLC0415 - see the line above
        pending_intents,
        recover_on_start,
    )

    if command == "report":  # never connects: says what is pending, settles nothing
        for _path, intent in pending_intents(ctx.target()):
            ctx.err(f"nchat-tui report: an interrupted {intent.get('op')} of "
                    f"{intent.get('database')} (pid {intent.get('pid')}) is not settled yet: "
                    "any command that connects (nchat-tui status) settles it")
        return
    # migrate reconciles an interrupted run itself, in its own notice
    for line in recover_on_start(ctx.target(), reconcile_runs=command != "migrate"):
        ctx.err(f"nchat-tui {command}: {line}")


def _boundary_error(exc: BaseException, ctx: CliContext) -> NchatError | None:
    """An expected failure that is not an ``NchatError`` yet, as one (None: a bug)."""
    if isinstance(exc, UnicodeDecodeError):
        return BadInput(f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                        "convert it to UTF-8")
    if isinstance(exc, OSError):
        msg, hint = os_error_line(exc)
        return BadInput(msg, hint or None)
    if isinstance(exc, psycopg.OperationalError):
        why = (exc.diag.message_primary if getattr(exc, "diag", None) else None) or \
            (str(exc).strip().splitlines() or ["connection lost"])[-1]
        return ConnectError("connection_lost", f"the server ended the connection: {why}",
                            "is it restarting? run the command again when it is back")
    if isinstance(exc, psycopg.Error):
        why = (exc.diag.message_primary if getattr(exc, "diag", None) else None) or str(exc)
        err = NchatError(f"database error: {why.strip()}")
        return err
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, modules = build_parser(only=_named_command(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, bad usage exits 2
        return int(exc.code or 0)
    if not args.command:
        args.command = "app"
        args = parser.parse_args([*argv, "app"]) if argv else parser.parse_args(["app"])
    if args.command not in modules:  # the lazy guess missed: load every command
        parser, modules = build_parser()
        args = parser.parse_args(argv)
    _merge_target_defaults(args, argv, parser)
    ctx = CliContext(args)
    mod = modules[args.command]
    try:
        try:
            _recover(ctx, args.command)
            return int(mod.run(args, ctx))
        except BrokenPipeError:
            raise
        except (OSError, UnicodeDecodeError, _psycopg_error()) as exc:
            converted = _boundary_error(exc, ctx)
            if converted is None:
                raise
            raise converted from exc
    except NchatError as exc:
        if isinstance(exc, ConnectError) and "not currently accepting connections" in \
                exc.message:
            exc = _refusing(ctx, exc)
        if ctx.json:
            ctx.emit_json(exc.as_dict())
        ctx.err(f"nchat-tui {args.command}: {exc.one_line()}")
        return exc.exit_code
    except KeyboardInterrupt:
        ctx.err(f"nchat-tui {args.command}: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_INPUT
    except Exception as exc:  # a bug: still one line; the traceback on request
        if os.environ.get("NCHAT_TUI_DEBUG"):
            traceback.print_exc()
        ctx.err(f"nchat-tui {args.command}: internal error: {type(exc).__name__}: {exc} "
                "(a bug; NCHAT_TUI_DEBUG=1 shows the traceback)")
        return EXIT_FAILED


def _psycopg_error() -> type[BaseException]:
    return psycopg.Error


def _refusing(ctx: CliContext, exc: ConnectError) -> NchatError:
    """Say whether this tool made the database refuse connections, and how to undo it."""
    from nchat_tui.upgrade.recovery import (  # noqa: PLC0415 - only when refused
        refusing_connections_line,
    )

    m = re.search(r'database "([^"]+)" is not currently accepting connections', exc.message)
    try:
        target = ctx.target()
        db = m.group(1) if m else target.database
        return ConnectError("not_accepting", refusing_connections_line(target, db))
    except NchatError:
        return exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
