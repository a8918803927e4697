"""Turn a table's key (as a snapshot, a plan or an operator writes it) into (schema, name).

A key is text: manifests key tables in the quoted form PostgreSQL reads (``objkeys``:
``"a.b".c``, ``public."My Table"``), older ones as unquoted ``schema.name``, and an operator
types either. Splitting such a key on its first dot is wrong as soon as a name holds a dot (the
table ``"a.b".c`` is not ``a."b.c"``), so no code here splits on a dot: each key is looked up
in the catalog, read both ways, and only an exact, unique match is used. Identifiers then reach
SQL through ``psycopg.sql.Identifier(schema, name)``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from nchat_tui.pg.objkeys import split_key
from nchat_tui.pg.queries import sql_text


def split_quoted(key: str) -> tuple[str, ...] | None:
    """The parts of a key in quoted-identifier form (``objkeys``), or None if it is not one.

    ``public.t`` -> ("public", "t"); ``"a.b".c`` -> ("a.b", "c")."""
    try:
        return split_key(key)
    except ValueError:
        return None


def candidates(key: str, default_schema: str = "public") -> list[tuple[str, str]]:
    """Every (schema, name) the key could mean: read as quoted identifiers, then as a plain
    dotted string split at each of its dots."""
    out: list[tuple[str, str]] = []
    q = split_quoted(key)
    if q is not None and len(q) == 2:
        out.append((q[0], q[1]))
    elif q is not None and len(q) == 1:
        out.append((default_schema, q[0]))
    for i, ch in enumerate(key):
        if ch == "." and 0 < i < len(key) - 1:
            pair = (key[:i], key[i + 1:])
            if pair not in out:
                out.append(pair)
    if "." not in key and (default_schema, key) not in out:
        out.append((default_schema, key))
    return out


class UnknownTable(LookupError):
    pass


class AmbiguousTable(LookupError):
    pass


def resolve_tables(conn: psycopg.Connection[Any], keys: list[str]
                   ) -> dict[str, tuple[str, str]]:
    """(schema, name) of each key that names exactly one relation in this database.

    Raises ``UnknownTable`` (no relation) or ``AmbiguousTable`` (two relations match two
    readings, e.g. a dotted key when both ``"a.b".c`` and ``a."b.c"`` exist)."""
    want = {k: candidates(k) for k in keys}
    pairs = sorted({p for c in want.values() for p in c})
    rows = conn.execute(sql_text("checks/relations_named.sql"),
                        {"schemas": [p[0] for p in pairs], "names": [p[1] for p in pairs]}
                        ).fetchall()
    present = {(str(r[0]), str(r[1])) for r in rows}
    out: dict[str, tuple[str, str]] = {}
    for k, cands in want.items():
        found = [p for p in cands if p in present]
        if not found:
            raise UnknownTable(k)
        q = split_quoted(k)
        if len(found) > 1 and not (q is not None and len(q) == 2 and found[0] == q):
            raise AmbiguousTable(k)
        out[k] = found[0]
    return out

