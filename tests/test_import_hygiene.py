"""No core module imports Textual: the engines must work headless and without a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nchat_tui

PKG = Path(nchat_tui.__file__).resolve().parent
CORE = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__main__",))


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module):
    code = (f"import sys, nchat_tui.{module}\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"nchat_tui.{module} imports {out.stdout.strip()}"


def test_the_list_is_not_empty():
    assert {"checklist", "journal", "target", "cli", "session", "status"} <= set(CORE)
