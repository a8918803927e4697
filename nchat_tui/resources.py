"""Files that ship inside the package: the SQL under ``nchat_tui/sql`` (``sql/`` at the repo root)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>`` (for example ``"monitor/table_sizes.sql"``)."""
    return (SQL_DIR / name).read_text(encoding="utf-8")


def sql_path(name: str) -> Path:
    return SQL_DIR / name
