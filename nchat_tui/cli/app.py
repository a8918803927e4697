"""``nchat-tui [app]``: open the upgrade assistant on the target."""

from __future__ import annotations

import argparse

from nchat_tui.cli.main import CliContext
from nchat_tui.quickstart import gc_paused
from nchat_tui.releases import registry

NAME = "app"
HELP = "open the upgrade assistant (the default command)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upgrade-path", metavar="ID", help=f"which upgrade to walk "
                   f"({registry.known_ids()}; default: chosen from the pending migrations)")
    p.add_argument("--new-session", action="store_true",
                   help="start a new session instead of resuming the current one")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    with gc_paused():
        from nchat_tui.screens.app import run_app  # noqa: PLC0415 - Textual only when it opens

        return run_app(ctx.target(), path_id=args.upgrade_path, new_session=args.new_session)
