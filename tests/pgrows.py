"""Small typed helpers for tests that read one value from PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg


def scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    """The first column of the query's first row (the row must exist)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r}"
    return row[0]
