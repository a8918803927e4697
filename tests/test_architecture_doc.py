"""docs/ARCHITECTURE.md and the package tree tell the same story (issue 13): every folder of
nchat_tui/ and screens/, and every module in them, is named on the page; nothing named there as
a module path is missing from the tree."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
SKIP = {"__pycache__", "sql", "screens"}


def _named(word: str) -> bool:
    return re.search(r"`[^`]*\b" + re.escape(word) + r"\b[^`]*`", DOC) is not None


def _folders(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_dir() and not SKIP & set(p.relative_to(base).parts))


def test_every_folder_and_module_is_on_the_page() -> None:
    missing = []
    for base in (ROOT / "nchat_tui", ROOT / "screens"):
        for d in [base, *_folders(base)]:
            rel = d.relative_to(base).as_posix()
            if d != base and f"`{rel}/`" not in DOC and f"`{d.name}/`" not in DOC:
                missing.append(f"{base.name}/{rel}/")
            for m in sorted(d.glob("*.py")):
                if m.stem not in ("__init__", "__main__") and not _named(m.stem):
                    missing.append(f"{base.name}/{m.relative_to(base).as_posix()}")
    assert not missing, f"not on docs/ARCHITECTURE.md: {missing}"


def test_the_page_names_no_folder_that_is_gone() -> None:
    rows = re.findall(r"^\| `([a-z_/0-9]+)/` \|", DOC, re.M)
    assert rows, "the folder table is gone"
    gone = [r for r in rows if not (ROOT / "nchat_tui" / r).is_dir()]
    assert not gone, gone
