"""The wheel carries one import package, nchat_tui, with the screens and SQL inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, cwd="/tmp")
    (whl,) = out.glob("nchat_tui-*.whl")
    return whl


def test_wheel_has_only_nchat_tui(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"nchat_tui"}
    assert "nchat_tui/screens/app.py" in names
    assert "nchat_tui/screens/app.tcss" in names
    assert "nchat_tui/sql/status/server_facts.sql" in names
    assert "nchat_tui/releases/v0_4_0/checklist.toml" in names
    assert "nchat_tui/releases/v0_8_0/checklist.toml" in names
    assert any(n.startswith("nchat_tui/sql/demo/migrations/") for n in names)


def test_installed_wheel_runs_from_anywhere(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, cwd="/tmp")
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import nchat_tui, nchat_tui.pg.queries as r, nchat_tui.upgrade.checklist as c;"
            "print(nchat_tui.__file__);"
            "print(r.sql_text('status/server_facts.sql')[:2]);"
            "print(c.load_path('v0.4.0').id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd="/tmp", check=True)
    lines = out.stdout.split()
    assert lines[0].startswith(str(target))
    assert lines[1:] == ["--", "v0.4.0"]
    ver = subprocess.run([sys.executable, "-m", "nchat_tui", "--version"], capture_output=True,
                         text=True, env=env, cwd="/tmp", check=True)
    assert ver.stdout.startswith("nchat-tui ")
