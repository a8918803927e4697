"""Run the real app on a real target in a terminal: used by the pseudo-terminal tests.

Usage: python -m tests.run_real_app DSN_FILE STATE_DIR
The DSN (with its password) is read from a file, so it is in no command line and in no
environment: a test can then check where the password does appear (only psql's environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

from nchat_tui.pg.target import resolve_target
from nchat_tui.screens.app import prepare_app

if __name__ == "__main__":
    dsn = Path(sys.argv[1]).read_text().strip()
    target = resolve_target(dsn=dsn, state_dir=sys.argv[2], environ={})
    app = prepare_app(target)
    app.run()
    if app.monitor is not None:
        app.monitor.close()
