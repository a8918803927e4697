"""The architecture's contracts hold themselves: `pytest` alone (and so `make test`) enforces them.

- the import contracts of pyproject's ``[tool.importlinter]`` (only the screens import Textual and
  Rich, engines and screens never import the CLI, commands never import each other), checked by
  the real ``lint-imports``; and a copy of the package with one forbidden import is caught;
- ruff's complexity limit (C901) and "no import inside a function without its reason" (PLC0415);
- every such import carries its one-line reason after the code: ``# noqa: PLC0415 - REASON``.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCT = ("nchat_tui", "screens")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = BIN / "lint-imports"
    assert exe.exists(), "import-linter is missing: `make setup` installs the lint group"
    return subprocess.run([str(exe), "--no-cache", "--config", str(cwd / "pyproject.toml")],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_import_contracts_hold():
    out = _lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
    assert out.stdout.count(" KEPT") == 5


# (file to edit in a copy of the package, the import added, words of the contract it breaks)
BREAKS = [
    ("nchat_tui/verify/rowcounts.py", "import textual", "Only the screens import Textual"),
    ("nchat_tui/backup/engine.py", "import rich.text", "Only the screens import Textual"),
    ("nchat_tui/pg/target.py", "import nchat_tui.cli.main", "Engines and screens never import"),
    ("screens/home.py", "import nchat_tui.cli.status", "Engines and screens never import"),
    ("nchat_tui/cli/backup.py", "from nchat_tui.cli import status", "Commands never import each"),
    ("nchat_tui/cli/status.py", "import nchat_tui.screens.app", "The CLI opens the screens only"),
]


@pytest.mark.parametrize(("path", "line", "contract"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_broken_contract_is_caught(tmp_path, path, line, contract):
    """The check is not vacuous: the same config over a copy with one forbidden import fails."""
    shutil.copytree(REPO / "nchat_tui", tmp_path / "nchat_tui", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "sql"))
    shutil.copytree(REPO / "screens", tmp_path / "screens",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    f = tmp_path / path
    f.write_text(f.read_text() + f"\n{line}\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    assert " broken." in out.stdout and "0 broken." not in out.stdout, out.stdout
    # the contract meant (an engine that imports the CLI also breaks the commands' independence:
    # they reach each other through it)
    assert contract in out.stdout.split("Broken contracts", 1)[1], out.stdout


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / "ruff"
    assert exe.exists(), "ruff is missing: `make setup` installs the lint group"
    return subprocess.run([str(exe), "check", "--no-cache", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_complexity_limit_and_import_reasons_hold():
    out = _ruff("--select", "C901,PLC0415", "--output-format", "concise", *PRODUCT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_complexity_limit_is_on():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"C90", "PLC0415"} <= set(cfg["select"])
    assert cfg["mccabe"]["max-complexity"] <= 15


# The debt of pyproject's per-file-ignores when the rules were switched on: it may only shrink.
DEBT_CEILING = {
    "nchat_tui/migrate/ddl_effects.py": {"C901"},
    "nchat_tui/migrate/ledger.py": {"C901"},
    "nchat_tui/migrate/nself.py": {"C901"},
    "nchat_tui/migrate/plan.py": {"C901"},
    "nchat_tui/migrate/plpgsql.py": {"C901"},
    "nchat_tui/migrate/preflight.py": {"C901"},
    "nchat_tui/migrate/rehearse.py": {"C901"},
    "nchat_tui/migrate/runner.py": {"C901"},
    "nchat_tui/monitor/querytext.py": {"C901"},
    "nchat_tui/monitor/troubleshoot.py": {"C901"},
    "nchat_tui/verify/engine.py": {"C901"},
    "nchat_tui/cli/monitor.py": {"C901"},
    "nchat_tui/pg/scrub.py": {"C901"},
    "nchat_tui/pg/sqltokens.py": {"C901"},
    "tests/**": {"PLC0415"},
    "bench/**": {"PLC0415"},
}


def test_the_debt_only_shrinks():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    pfi = cfg["tool"]["ruff"]["lint"]["per-file-ignores"]
    grown = {pat: sorted(set(codes) - DEBT_CEILING.get(pat, set()))
             for pat, codes in pfi.items()
             if set(codes) & {"C901", "PLC0415"} and not set(codes) <= DEBT_CEILING.get(pat, set())}
    assert not grown, f"new exemptions from the complexity or import-reason rules: {grown}"


def _debt_files() -> list[str]:
    """Files whose PLC0415 is still listed as debt in pyproject's per-file-ignores."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    pfi = cfg["tool"]["ruff"]["lint"]["per-file-ignores"]
    return [pat for pat, codes in pfi.items() if "PLC0415" in codes]


REASON = re.compile(r"#\s*noqa:\s*PLC0415\b\s*[-:(]*\s*(?P<reason>.*)$")


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line number, source line) of every import inside a function (or class) body."""
    text = path.read_text()
    lines = text.splitlines()
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                # the reason sits where ruff reads the noqa: the statement's first line
                found.append((child.lineno, lines[child.lineno - 1]))
            visit(child, inner)

    visit(ast.parse(text), False)
    return found


def test_every_import_inside_a_function_says_why():
    debt = _debt_files()
    missing: list[str] = []
    for top in PRODUCT:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(("nchat_tui/screens/", "nchat_tui/sql/")):
                continue  # the symlinks to screens/ and sql/: read once, as screens/
            if any(fnmatch(rel, pat) for pat in debt):
                continue
            for n, src in _function_imports(path):
                m = REASON.search(src)
                if not m or len(re.findall(r"\w+", m.group("reason"))) < 2:
                    missing.append(f"{rel}:{n}: {src.strip()}")
    assert not missing, "imports inside functions without a reason:\n" + "\n".join(missing)


def test_the_reason_check_sees_a_missing_reason(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import os  # noqa: PLC0415\n    import re  # noqa: PLC0415 - "
                 "a reason\n    return os, re\n")
    got = {n: REASON.search(src) for n, src in _function_imports(f)}
    assert set(got) == {2, 3}
    assert got[2] is not None and got[2].group("reason") == ""
    assert got[3] is not None and got[3].group("reason") == "a reason"
