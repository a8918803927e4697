"""The before-snapshot: exact row counts and a schema inventory, consistent with one snapshot.

``take_snapshot(conn)`` gives the counts and inventory on their own. ``exported_snapshot(conn)``
keeps a REPEATABLE READ transaction open, exports its snapshot for ``pg_dump --snapshot`` and
takes the same counts in it, so the counts describe exactly what the dump holds.
``schema_inventory(conn)`` is deterministic and diff-friendly (sorted, keyed by qualified name,
no OIDs): the verification after a migration diffs two of them. Keys are ``objkeys`` keys: the
quoted form (``public.nchat_users``, ``"a.b".c``, ``a."b.c"``), never a bare dotted string;
the snapshot says so in ``key_format`` (older manifests: ``objkeys.upgrade_snapshot_keys``).

Counts are taken as the connected role; the result records that role and the tables whose rows
row-level security could hide from it. This module only reads: it never writes to the target.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.errors import OperationFailed
from nchat_tui.pg.objkeys import KEY_FORMAT, split2
from nchat_tui.pg.objkeys import key as okey
from nchat_tui.pg.queries import sql_template, sql_text

LEDGERS = {
    "np_common.schema_versions": "snapshot/ledger_np_common_schema_versions.sql",
    "nself_ops.migrations": "snapshot/ledger_nself_ops_migrations.sql",
    "public.schema_migrations": "snapshot/ledger_public_schema_migrations.sql",
}
LEDGER_FLAGS = {
    "np_common.schema_versions": "np_common_schema_versions",
    "nself_ops.migrations": "nself_ops_migrations",
    "public.schema_migrations": "public_schema_migrations",
}


def qualified(schema: str, name: str) -> str:
    """The key used everywhere: ``objkeys.key(schema, name)`` (quoted where a part needs it)."""
    return okey(schema, name)


def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


def _one(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    rows = _rows(conn, name)
    assert rows, name
    return rows[0]


def _keyed(rows: list[dict[str, Any]], *key_cols: str,
           drop: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = okey(*(str(r[c]) for c in key_cols)) if len(key_cols) > 1 else str(r[key_cols[0]])
        out[k] = {f: v for f, v in r.items() if f not in key_cols and f not in drop}
    return dict(sorted(out.items()))


def read_ledgers(conn: psycopg.Connection[Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows of every migration ledger that exists here, keyed by its table (absent = not there)."""
    present = _one(conn, "snapshot/ledgers_present.sql")
    out: dict[str, list[dict[str, Any]]] = {}
    for table, flag in LEDGER_FLAGS.items():
        if present[flag]:
            out[table] = [json.loads(r["row"]) for r in _rows(conn, LEDGERS[table])]
    return out


def schema_inventory(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything a migration could change, as sorted dicts keyed by qualified name.

    Keys (``objkeys`` form): schemas and extensions by name; tables, columns
    (``schema.relation.column``), indexes, constraints
    (``schema.table_or_domain.name``), functions (``schema.name(args)``), triggers
    (``schema.table.name``), views (views and materialized views), sequences, extensions,
    enums, ledgers. Sequence ``last_value`` is informative (not transactional).
    """
    tables = _rows(conn, "snapshot/tables.sql")
    functions = _rows(conn, "snapshot/functions.sql")
    return {
        "schemas": _keyed(_rows(conn, "snapshot/schemas.sql"), "schema"),
        "tables": _keyed(tables, "schema", "name"),
        "columns": _keyed(_rows(conn, "snapshot/columns.sql"), "schema", "relation", "name"),
        "indexes": _keyed(_rows(conn, "snapshot/indexes.sql"), "schema", "name"),
        "constraints": _keyed(_rows(conn, "snapshot/constraints.sql"),
                              "schema", "owner_object", "name"),
        "functions": dict(sorted(
            (f"{okey(f['schema'], f['name'])}({f['arguments']})",
             {k: v for k, v in f.items() if k not in ("schema", "name", "arguments")})
            for f in functions)),
        "triggers": _keyed(_rows(conn, "snapshot/triggers.sql"), "schema", "table", "name"),
        "views": _keyed(_rows(conn, "snapshot/views.sql"), "schema", "name"),
        "sequences": _keyed(_rows(conn, "snapshot/sequences.sql"), "schema", "name"),
        "extensions": _keyed(_rows(conn, "snapshot/extensions.sql"), "name"),
        "enums": _keyed(_rows(conn, "snapshot/enums.sql"), "schema", "name"),
        "ledgers": read_ledgers(conn),
    }


def role_info(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    return _one(conn, "snapshot/role.sql")


def database_identity(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Database name, encoding, locale, server version and (if readable) system identifier."""
    d = _one(conn, "snapshot/database_settings.sql")
    d["system_identifier"] = None
    if d.pop("can_read_system_id"):
        with contextlib.suppress(psycopg.Error):
            d["system_identifier"] = _one(conn, "snapshot/system_identifier.sql")[
                "system_identifier"]
    return d


def data_tables(inventory: dict[str, Any]) -> list[tuple[str, str]]:
    """(schema, name) of the tables holding rows of their own (not partitioned parents)."""
    out = []
    for k, t in inventory["tables"].items():
        if t["kind"] == "r":
            out.append(split2(k))
    return out


def count_rows(conn: psycopg.Connection[Any], tables: list[tuple[str, str]],
               on_table: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Exact ``count(*)`` of each table, keyed ``qualified(schema, name)``."""
    template = sql_template("snapshot/count_rows.sql")
    out: dict[str, int] = {}
    for schema, name in tables:
        row = conn.execute(template.format(table=sql.Identifier(schema, name))).fetchone()
        assert row is not None
        out[qualified(schema, name)] = int(row[0])
        if on_table is not None:
            on_table(qualified(schema, name), out[qualified(schema, name)])
    return out


def rls_summary(conn: psycopg.Connection[Any], role: dict[str, Any]) -> dict[str, Any]:
    """Which tables have RLS, and from which of them RLS could hide rows for this role."""
    rows = _rows(conn, "snapshot/rls_visibility.sql")
    hidden = [qualified(r["schema"], r["name"]) for r in rows if r["could_hide_rows"]]
    return {"rls_enabled_tables": [qualified(r["schema"], r["name"]) for r in rows],
            "rls_could_hide_rows": bool(hidden),
            "tables_rls_could_hide": hidden,
            "note": (f"row-level security could hide rows of {len(hidden)} table(s) from role "
                     f"{role['role']}: counts may be lower than the real ones; count as the owner "
                     "or a superuser") if hidden else None}


@dataclass
class SnapshotSession:
    """An open REPEATABLE READ transaction whose snapshot was exported as ``snapshot_id``."""

    conn: psycopg.Connection[Any]
    snapshot_id: str
    taken_at: Any
    txid_snapshot: str
    inventory: dict[str, Any] = field(default_factory=dict)
    table_bytes: dict[str, int] = field(default_factory=dict)
    table_stats: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def tables(self) -> list[tuple[str, str]]:
        return data_tables(self.inventory)

    def collect(self, on_table: Callable[[str, int], None] | None = None) -> dict[str, Any]:
        """Counts and inventory in this snapshot: the dict ``take_snapshot`` returns."""
        role = role_info(self.conn)
        counts = count_rows(self.conn, self.tables(), on_table)
        return {
            "key_format": KEY_FORMAT,
            "snapshot_id": self.snapshot_id,
            "txid_snapshot": self.txid_snapshot,
            "taken_at": self.taken_at.isoformat() if hasattr(self.taken_at, "isoformat")
            else str(self.taken_at),
            "isolation": "repeatable read",
            "database": database_identity(self.conn),
            "counted_as": role,
            "rls": rls_summary(self.conn, role),
            "row_counts": counts,
            "total_rows": sum(counts.values()),
            "table_bytes": self.table_bytes,
            "inventory": self.inventory,
            # pg_stat_user_tables' write counters at the snapshot: "rows written since the
            # backup" for the rollback decision is the counters now minus these.
            "table_stats": self.table_stats,
        }


def read_table_stats(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Cumulative write counters of every user table and when the statistics were reset."""
    rows = _rows(conn, "verify/table_stats.sql")
    reset = rows[0]["stats_reset"] if rows else None
    taken = rows[0]["taken_at"] if rows else dt.datetime.now(dt.UTC)
    return {"taken_at": taken.isoformat(),
            "stats_reset": reset.isoformat() if reset else None,
            "tables": {qualified(r["schema"], r["name"]): {"ins": int(r["n_tup_ins"]),
                                                           "upd": int(r["n_tup_upd"]),
                                                           "del": int(r["n_tup_del"]),
                                                           "relid": int(r["relid"])}
                       for r in rows}}


def writes_between(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Rows inserted, updated and deleted between two ``read_table_stats`` readings.

    ``{"unavailable": why}`` when the statistics were reset in between (the counters restart
    from zero, so a difference would under-count). Counters are approximate: they include
    rolled-back writes and reach the view up to a second late.
    """
    if before.get("stats_reset") != now.get("stats_reset"):
        return {"unavailable": "the statistics were reset since"}
    ins = upd = dele = 0
    per: list[dict[str, Any]] = []
    uncounted: list[str] = []
    for key, c in now["tables"].items():
        b = before.get("tables", {}).get(key, {"ins": 0, "upd": 0, "del": 0})
        recreated = b.get("relid") is not None and b.get("relid") != c.get("relid")
        if recreated or any(c[k] < b.get(k, 0) for k in ("ins", "upd", "del")):
            # Re-created under the same name, or counters restarted (a crash restart or a
            # failover does not move stats_reset): no difference of this table is honest.
            uncounted.append(key)
            continue
        d = {k: c[k] - b.get(k, 0) for k in ("ins", "upd", "del")}
        if any(d.values()):
            per.append({"table": key, **d})
        ins, upd, dele = ins + d["ins"], upd + d["upd"], dele + d["del"]
    out: dict[str, Any] = {"inserted": ins, "updated": upd, "deleted": dele, "tables": per}
    if uncounted:
        out["uncounted"] = uncounted
    return out


def describe_writes(w: dict[str, Any]) -> str:
    """``writes_between``'s result in words ("unknown: why" when it has no number)."""
    if "unavailable" in w:
        return f"unknown: {w['unavailable']}"
    text = (f"about {w['inserted']:,} inserted, {w['updated']:,} updated, {w['deleted']:,} "
            "deleted")
    if w.get("uncounted"):
        text += (f", not counting {', '.join(w['uncounted'][:5])}"
                 + (f" and {len(w['uncounted']) - 5} more" if len(w["uncounted"]) > 5 else "")
                 + " (re-created, or counters restarted)")
    return text


@contextlib.contextmanager
def exported_snapshot(conn: psycopg.Connection[Any], *, lock_timeout_ms: int = 10000,
                      ) -> Iterator[SnapshotSession]:
    """Open REPEATABLE READ READ ONLY, export the snapshot, lock every table ACCESS SHARE.

    ``conn`` must be in autocommit mode and idle; it stays in the transaction until the block
    ends (then rolled back: nothing was written). Lock waits are bounded by ``lock_timeout_ms``:
    a DDL holding a table makes this fail with ``OperationFailed`` naming the table, instead of
    queueing. Use the session's ``snapshot_id`` for ``pg_dump --snapshot`` while inside.
    """
    if not conn.autocommit:
        raise ValueError("exported_snapshot needs an autocommit connection")
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("snapshot/export_snapshot.sql"))
            snap = cur.fetchone()
        assert snap is not None
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
            sql.Literal(f"{int(lock_timeout_ms)}ms")))
        session = SnapshotSession(conn, snap["snapshot_id"], snap["taken_at"],
                                  snap["txid_snapshot"])
        # The write counters first: statistics read in a transaction are fixed at their first
        # read, and counting rows afterwards takes minutes on a big database.
        session.table_stats = read_table_stats(conn)
        session.inventory = schema_inventory(conn)
        lock = sql_template("snapshot/lock_table.sql")
        for schema, name in session.tables():
            try:
                conn.execute(lock.format(table=sql.Identifier(schema, name)))
            except psycopg.errors.LockNotAvailable:
                raise OperationFailed(
                    f"table {qualified(schema, name)} is locked by another session (DDL?) "
                    f"for more than {lock_timeout_ms / 1000:g}s",
                    "wait for the DDL or migration to finish, then back up") from None
        session.table_bytes = {qualified(r["schema"], r["name"]): int(r["bytes"])
                               for r in _rows(conn, "snapshot/table_sizes.sql")}
        yield session
    finally:
        with contextlib.suppress(psycopg.Error):
            if not conn.closed:
                conn.execute("ROLLBACK")


def take_snapshot(conn: psycopg.Connection[Any],
                  on_table: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Row counts and schema inventory in one REPEATABLE READ transaction (no dump)."""
    with exported_snapshot(conn) as s:
        return s.collect(on_table)
