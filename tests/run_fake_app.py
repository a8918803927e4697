"""Run the app on the fake session (frozen figures) in a real terminal: used by the kill -9 test.

Usage: python -m tests.run_fake_app STATE_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from nchat_tui.screens.app import make_app
from tests.fakes import FakeSession

if __name__ == "__main__":
    make_app(FakeSession(Path(sys.argv[1]))).run()
