"""No core module imports Textual: the engines must work headless and without a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nchat_tui

PKG = Path(nchat_tui.__file__).resolve().parent
CORE = sorted(
    ".".join(p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
    for p in PKG.rglob("*.py")
    if p.relative_to(PKG).parts[0] not in ("screens", "sql") and p.stem != "__main__")


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module):
    code = (f"import sys, nchat_tui.{module}\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"nchat_tui.{module} imports {out.stdout.strip()}"


def test_the_list_is_not_empty():
    assert {"upgrade.checklist", "state.journal", "pg.target", "cli.main", "upgrade.session",
            "migrate.status"} <= set(CORE)


def test_the_app_starts_without_the_phase_engines():
    """The home screen comes first and must be up fast (issue 12: within 0.5 s of start):
    the phase screen and the engines it drives (the SQL parser, the tools, the verifier) load
    when the first phase opens, not when the app starts."""
    code = ("import sys, nchat_tui.screens.app\n"
            "late = ('nchat_tui.screens.phase', 'nchat_tui.upgrade.steps', 'pglast',\n"
            "        'nchat_tui.verify.engine', 'nchat_tui.pg.tools')\n"
            "print(','.join(m for m in late if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the app's start imports {out.stdout.strip()}"
