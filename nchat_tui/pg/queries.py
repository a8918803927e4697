"""Files that ship inside the package: the SQL under ``nchat_tui/sql`` (``sql/`` at the repo root).

Two ways to load a query:

- ``sql_text(name)``: the file as it is, for queries that take parameters (``%(name)s``) and
  nothing else. It refuses a file whose comments hold ``{`` or ``}`` (a placeholder someone
  might fill) or ``%`` (psycopg reads a ``%`` anywhere in a query with parameters, comments
  included), so a comment can never become SQL.
- ``sql_template(name)``: a ``psycopg.sql.SQL`` for queries that ``.format()`` identifiers in.
  Its comments are stripped first (with PostgreSQL's lexical rules: a ``--`` inside a string
  stays), so the values ``format`` fills in (``sql.Identifier``, ``sql.Literal``) land only in
  the statement itself. A quoted identifier may then hold a newline safely: a newline ends a
  ``--`` comment, and a name filled into a comment would run as SQL (issue 9, item 1).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from psycopg import sql

from nchat_tui.pg.sqltokens import comments, strip_comments

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
FORBIDDEN_IN_COMMENTS = "{}%"


class TemplateError(ValueError):
    """A SQL file whose comments could turn into SQL (a bug in the file, not the input)."""


def check_comments(name: str, text: str) -> None:
    """Refuse ``text`` if any comment holds ``{``, ``}`` or ``%``."""
    for tok in comments(text):
        bad = sorted({c for c in tok.text if c in FORBIDDEN_IN_COMMENTS})
        if bad:
            line = text.count("\n", 0, tok.start) + 1
            raise TemplateError(
                f"sql/{name} line {line}: a comment holds {' '.join(bad)}; comments of a query "
                f"must not name placeholders (psycopg would fill or count them): {tok.text!r}")


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>`` (for example ``"monitor/table_sizes.sql"``)."""
    text = (SQL_DIR / name).read_text(encoding="utf-8")
    if not name.startswith("demo/"):  # the demo's schema and seed run as scripts, never filled
        check_comments(name, text)
    return text


@cache
def sql_template(name: str) -> sql.SQL:
    """``sql/<name>`` without its comments, as a ``psycopg.sql.SQL`` to ``.format()``."""
    return sql.SQL(strip_comments(sql_text(name)).strip())


class ParamIdentifier(sql.Identifier):
    """``sql.Identifier`` for a query that also takes parameters. psycopg reads every ``%``
    of such a query as the start of a placeholder, inside a quoted name too (a table named
    ``a%s`` would take a parameter's place, or fail with a wrong placeholder count), and
    writes ``%%`` as ``%``: this identifier's ``%`` are doubled. Never use it in a query
    without parameters (the name would keep both)."""

    def as_bytes(self, context: Any = None) -> bytes:
        return super().as_bytes(context).replace(b"%", b"%%")


def sql_path(name: str) -> Path:
    return SQL_DIR / name
