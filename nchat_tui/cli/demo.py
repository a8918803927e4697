"""``nchat-tui demo``: start the embedded demo nChat database and open the app on it.

The demo is a local PostgreSQL this tool owns (see ``demo.py``): nChat v0.3.0 with the
four v0.4.0 migrations pending. Connection details are printed masked: the password stays
in a 0600 file in the demo dir and reaches the app in-process, never on a command line.
"""

from __future__ import annotations

import argparse
import sys

from nchat_tui.cli.main import CliContext
from nchat_tui.demo.builder import DemoInfo, Workload, ensure_demo, stop_demo
from nchat_tui.errors import BadInput
from nchat_tui.pg.target import resolve_target
from nchat_tui.quickstart import gc_paused
from nchat_tui.releases import registry

NAME = "demo"
HELP = "start the embedded demo nChat database (v0.3.0, v0.4.0 pending) and open the app on it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fresh", action="store_true", help="drop the demo and rebuild it")
    p.add_argument("--scale", type=float, default=1.0,
                   help="data volume (1.0: 5,000 users, 300 channels, 300,000 messages)")
    p.add_argument("--no-app", action="store_true",
                   help="only make sure the demo runs and print how to connect")
    p.add_argument("--no-workload", action="store_true",
                   help="no simulated app traffic while the app is open")
    p.add_argument("--new-session", action="store_true",
                   help="start a new upgrade session instead of resuming the current one "
                   "(the demo's data is kept; --fresh rebuilds it, and starts a new session)")
    p.add_argument("--upgrade-path", metavar="ID", help=f"which upgrade to walk "
                   f"({registry.known_ids()}; default: chosen from the pending migrations)")
    p.add_argument("--stop", action="store_true", help="stop the demo server and exit")
    p.add_argument("--json", action="store_true",
                   help="print the connection details as JSON (implies --no-app)")


def _print_details(info: DemoInfo, ctx: CliContext) -> None:
    ctx.out(f"demo        {info.masked()}  (PostgreSQL on 127.0.0.1, "
            f"{'built' if info.built else 'reused'} in {info.timings.get('total', 0):.1f}s)")
    ctx.out(f"connect     host {info.host}  port {info.port}  user {info.user}  "
            f"dbname {info.dbname}")
    ctx.out(f"password    see {info.password_file}")
    ctx.out(f"psql        PGPASSWORD=\"$(cat {info.password_file})\" psql -h {info.host} "
            f"-p {info.port} -U {info.user} {info.dbname}")
    ctx.out(f"migrations  {info.migrations_dir}")
    ctx.out(f"backups     {info.backup_dir}")
    if info.counts:
        main = ", ".join(f"{k.removeprefix('nchat_')} {v:,}" for k, v in info.counts.items())
        ctx.out(f"data        {main}")
    ctx.out("stop        nchat-tui demo --stop")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.stop:
        stopped = stop_demo(progress=None if ctx.json else ctx.err)
        if ctx.json:
            ctx.emit_json({"stopped": stopped})
        else:
            ctx.out("demo server stopped" if stopped else "the demo server was not running")
        return 0
    if not 0 < args.scale <= 20:
        raise BadInput(f"--scale must be in (0, 20], not {args.scale}")
    if getattr(args, "dsn", None) or getattr(args, "backend_dir", None):
        ctx.err("nchat-tui demo: --dsn/--backend-dir are ignored: the demo is its own target")

    info = ensure_demo(fresh=args.fresh, scale=args.scale,
                       progress=None if ctx.json else ctx.err)
    if ctx.json:
        ctx.emit_json(info.public())
        return 0
    _print_details(info, ctx)
    if args.no_app:
        return 0

    target = resolve_target(dsn=info.dsn(),
                            migrations=args.migrations or str(info.migrations_dir),
                            backup_dir=args.backup_dir or str(info.backup_dir),
                            state_dir=args.state_dir, environ={})
    workload = None if args.no_workload else Workload(info.conninfo_params())
    if workload is not None:
        workload.start()
    try:
        with gc_paused():
            from nchat_tui.screens.app import run_app  # noqa: PLC0415 - Textual only when it opens

            rc = run_app(target, workload=workload, path_id=args.upgrade_path,
                         new_session=bool(args.fresh or args.new_session))
    finally:
        if workload is not None:
            workload.stop()
    if sys.stdout.isatty():
        ctx.out("the demo server keeps running for a quick restart: nchat-tui demo --stop")
    return int(rc)
