"""The ways back after a migration, and taking one without ever dropping data first.

- ``rollback_options``: the facts for the operator's choice. Down migrations (which files have
  a down file, what each drops, and how many rows of data in the new tables and columns would
  be lost); restore from the verified backup (its age, the rows a restore would lose: net rows
  added since the before-snapshot, and rows written since the stats baseline recorded at
  verification, from ``pg_stat_user_tables`` deltas); application-only when the schema did not
  change (the v0.8 case). ``record_choice`` journals the pick with its facts.
- ``restore_swap``: restore the backup into ``<db>_restore_<ts>`` (the backup engine's
  ``restore_into``, which compares row counts with the manifest), compare its schema inventory
  with the manifest's, then, after the operator typed the database name: refuse new
  connections to ``<db>``, list and terminate the remaining ones, and in ONE transaction rename
  ``<db>`` to ``<db>_before_rollback_<ts>`` and the restored copy to ``<db>`` (so ``<db>`` never
  stops existing: only a connection attempt caught mid-login by the rename's commit is told
  "database does not exist / it seems to have just been dropped or renamed", a PostgreSQL race a
  retry resolves), then allow connections again. A failure before the swap leaves production
  untouched (the copy is dropped); a failure during it is undone. The old database is kept
  until ``drop_old_database`` (confirmed by typing its name).
- ``down_rollback``: the migration runner's down path, then the schema inventory compared with
  the before-snapshot's.

Everything that renames or drops runs from a maintenance connection to the ``postgres``
database, never connected to ``<db>`` itself. No textual here.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.errors import BadInput, NchatError, OperationFailed, Refused
from nchat_tui.resources import sql_text
from nchat_tui.target import Target

MAX_NAME = 63
TERMINATE_WAIT_S = 15.0
ConfirmName = Callable[[str, list[dict[str, Any]]], str]
"""(database name, sessions connected to it) -> what the operator typed."""
ProgressFn = Callable[[str, float | None], None]


def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d_%H%M%S")


def derived_name(db: str, suffix: str) -> str:
    """``<db><suffix>`` within PostgreSQL's 63-byte name limit (the db part is shortened)."""
    room = MAX_NAME - len(suffix.encode())
    base = db
    while len(base.encode()) > room:
        base = base[:-1]
    return base + suffix


def admin_connect(target: Target, purpose: str = "nchat-tui rollback") -> psycopg.Connection[Any]:
    """A connection to the ``postgres`` maintenance database: never to the target database."""
    if target.database == "postgres":
        raise Refused("the target database is 'postgres' itself: a rename swap needs a "
                      "maintenance database other than the one being swapped")
    return target.connect(purpose, dbname="postgres")


def _journal(target: Target, journal: Any) -> Any:
    if journal is not None:
        return journal
    from nchat_tui.journal import Journal

    return Journal.for_target(target.state_dir, target.masked())


# ---------------------------------------------------------------------------------------------
# the decision facts
# ---------------------------------------------------------------------------------------------
@dataclass
class DownFacts:
    available: bool
    files: list[dict[str, Any]] = field(default_factory=list)
    """Per applied file, newest first: name, down file, what it drops, rows lost."""
    missing_down: list[str] = field(default_factory=list)
    rows_lost: int = 0
    values_lost: int = 0
    unmeasured: list[str] = field(default_factory=list)
    """What the down files may destroy that cannot be counted beforehand: DELETE/TRUNCATE of
    existing tables, DO blocks and dynamic SQL."""
    note: str = ""

    @property
    def loses_data(self) -> bool:
        """True when the down files destroy rows or values, or might (unmeasured)."""
        return bool(self.rows_lost or self.values_lost or self.unmeasured)


@dataclass
class RestoreFacts:
    available: bool
    backup: str | None = None
    manifest: str | None = None
    taken_at: str | None = None
    age_s: float | None = None
    net_rows_added: int | None = None
    """Rows present now that the snapshot did not hold (new tables included): a restore loses
    at least these."""
    per_table: list[dict[str, Any]] = field(default_factory=list)
    written_since_baseline: dict[str, Any] | None = None
    """Writes since the post-migration verification recorded its counters (if it did)."""
    writes_since_backup: dict[str, Any] | None = None
    """Inserted/updated/deleted since the backup's snapshot, from the counters it recorded."""
    written_since_backup: str = ""
    note: str = ""


@dataclass
class RollbackFacts:
    database: str
    schema_changed: bool
    schema_changes: int
    applied: list[str]
    down: DownFacts
    restore: RestoreFacts
    app_only: dict[str, Any]
    recommended: str
    gathered_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _down_facts(conn: psycopg.Connection[Any], files: list[Any],
                columns: dict[str, Any]) -> DownFacts:
    from nchat_tui.ddl_effects import analyse_files
    from nchat_tui.plan import analyse_sql

    facts = DownFacts(available=bool(files))
    tcount = sql.SQL(sql_text("snapshot/count_rows.sql"))
    ccount = sql.SQL(sql_text("rollback/count_not_null.sql"))
    conn.execute("SET statement_timeout = '120s'")
    for f in reversed(files):
        if f.down_path is None:
            facts.missing_down.append(f.name)
            facts.available = False
            continue
        eff = analyse_files([(f.down_path.name, f.down_text() or "")])
        item: dict[str, Any] = {"file": f.name, "down_file": f.down_path.name,
                                "drops": {c: sorted(v) for c, v in eff.drops.items() if v},
                                "tables": [], "columns": []}
        for key in sorted(eff.drops["tables"]):
            schema, _, name = key.partition(".")
            try:
                row = conn.execute(tcount.format(table=sql.Identifier(schema, name))).fetchone()
                n = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                n = 0
            item["tables"].append({"table": key, "rows": n})
            facts.rows_lost += n
        for key in sorted(eff.drops["columns"]):
            schema, table, column = key.split(".", 2)
            # A value equal to the column's default (is_encrypted = false on every old row) is
            # not data anyone wrote: only values that differ from it would be lost.
            default = (columns.get(key) or {}).get("default")
            pred = sql.SQL("{c} IS NOT NULL").format(c=sql.Identifier(column))
            if default:
                pred = sql.SQL("{c} IS NOT NULL AND {c} IS DISTINCT FROM ({d})").format(
                    c=sql.Identifier(column), d=sql.SQL(default))  # catalog text (pg_get_expr)
            try:
                row = conn.execute(ccount.format(table=sql.Identifier(schema, table),
                                                 predicate=pred)).fetchone()
                n = int(row[0]) if row else 0
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                n = 0
            item["columns"].append({"column": key, "values": n})
            facts.values_lost += n
        if eff.opaque:
            item["opaque"] = eff.opaque
            # A rename moves data, it destroys none; DO blocks and dynamic SQL may do anything.
            facts.unmeasured += [f"{f.down_path.name} line {o.get('line')}: {o.get('why') or 'opaque'}"
                                 for o in eff.opaque if o.get("statement") != "RENAME"]
        if eff.parse_errors:
            item["parse_errors"] = eff.parse_errors
            facts.unmeasured += [f"{f.down_path.name}: not parseable, its effect is unknown "
                                 f"({e.get('error')})" for e in eff.parse_errors]
        try:
            item["txn_mode"] = analyse_sql(f.down_text() or "").txn_mode
        except Exception:  # the runner analyses again and refuses what it cannot run
            item["txn_mode"] = "unparseable"
        deleting = sorted(t for t in eff.deletes_rows if t not in eff.drops["tables"])
        if deleting:  # a dropped table's rows are counted above
            item["deletes_rows"] = deleting
            facts.unmeasured += [f"{f.down_path.name}: deletes rows of {t}" for t in deleting]
        facts.files.append(item)
    conn.execute("RESET statement_timeout")
    if facts.missing_down:
        facts.note = "no down file for " + ", ".join(facts.missing_down)
    return facts


def _dump_of_manifest(manifest_path: str) -> str | None:
    """The dump a backup manifest describes (its ``file``), looked up beside the manifest only:
    restoring the manifest itself is what pg_restore refused."""
    from nchat_tui.backup import read_manifest

    m = read_manifest(Path(manifest_path)) or {}
    name = Path(str(m.get("file") or "")).name
    dump = Path(manifest_path).parent / name
    return str(dump) if name and dump.exists() else None


def _restore_facts(conn: psycopg.Connection[Any], target: Target, before: dict[str, Any],
                   source: str) -> RestoreFacts:
    from nchat_tui.snapshot import describe_writes, read_table_stats, writes_between
    from nchat_tui.verify import stats_baseline_path

    rf = RestoreFacts(available=True, manifest=source, taken_at=before.get("taken_at"))
    if source.endswith(".json"):
        rf.backup = _dump_of_manifest(source)
    if rf.taken_at:
        taken = dt.datetime.fromisoformat(rf.taken_at)
        rf.age_s = round((dt.datetime.now(dt.UTC) - taken).total_seconds(), 1)
    tcount = sql.SQL(sql_text("snapshot/count_rows.sql"))
    from nchat_tui.snapshot import data_tables, schema_inventory

    inv = schema_inventory(conn)
    snap_counts: dict[str, int] = before.get("row_counts") or {}
    total = 0
    conn.execute("SET statement_timeout = '120s'")
    from nchat_tui.verify import LEDGER_TABLES

    for schema, name in data_tables(inv):
        key = f"{schema}.{name}"
        if key in LEDGER_TABLES:  # the migration's own ledger rows: a restore should drop them
            continue
        row = conn.execute(tcount.format(table=sql.Identifier(schema, name))).fetchone()
        now_n = int(row[0]) if row else 0
        was = snap_counts.get(key)
        added = now_n - (was or 0)
        if added > 0:
            total += added
            rf.per_table.append({"table": key, "now": now_n, "in_backup": was,
                                 "added_since": added, "new_table": was is None})
    conn.execute("RESET statement_timeout")
    rf.net_rows_added = total
    now_stats = read_table_stats(conn)
    table_stats = before.get("table_stats")
    if isinstance(table_stats, dict) and table_stats.get("tables") is not None:
        w = writes_between(table_stats, now_stats)
        rf.writes_since_backup = w
        rf.written_since_backup = describe_writes(w) + (
            "" if "unavailable" in w else " (pg_stat_user_tables counters since the backup's "
            "snapshot; the migration's own writes included)")
    else:
        rf.written_since_backup = ("unknown: this backup's manifest records no write counters "
                                   "(older nchat-tui); the net row change is shown")
    # The verification's baseline (after the migration): what the app wrote since then.
    p = stats_baseline_path(target)
    baseline: dict[str, Any] | None = None
    if p.is_file():
        import json

        try:
            baseline = json.loads(p.read_text())
        except ValueError:
            baseline = None
    if baseline is not None and isinstance(baseline.get("tables"), dict):
        rf.written_since_baseline = {"since": baseline.get("taken_at"),
                                     "label": baseline.get("label", "verification"),
                                     **writes_between(baseline, now_stats)}
    return rf


def rollback_options(target: Target, against: dict[str, Any] | Path | str | None = None,
                     ) -> RollbackFacts:
    """Gather the facts for each way back (reads only)."""
    from nchat_tui.snapshot import schema_inventory
    from nchat_tui.verify import diff_inventory, diff_is_empty, find_applied, load_before

    with target.connect("nchat-tui rollback facts") as conn:
        before, source = load_before(target, against, conn)
        after = schema_inventory(conn)
        d = diff_inventory(before["inventory"], after)
        changes = sum(len(p["added"]) + len(p["removed"]) + len(p["changed"])
                      for p in d.values())
        appl = find_applied(conn, target.migrations_dir, before["inventory"], after)
        files = appl.files if appl else []
        down = _down_facts(conn, files, after.get("columns") or {}) if files else DownFacts(
            available=False, note="no migration applied since the backup" if appl else
            "no migrations directory: down files unknown")
        restore = _restore_facts(conn, target, before, source)
    changed = not diff_is_empty(d)
    app_only = {"available": not changed,
                "why": "the schema equals the before-snapshot: roll back the application only "
                       "(redeploy the previous release); the data stays" if not changed else
                       f"the schema changed since the backup ({changes} change(s))"}
    if not changed:
        rec = "application"
    elif down.available and not down.loses_data:
        rec = "down"
    else:
        rec = "restore"
    return RollbackFacts(target.database, changed, changes, [f.name for f in files], down,
                         restore, app_only, rec,
                         dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


def down_facts(target: Target, against: dict[str, Any] | Path | str | None = None) -> DownFacts:
    """Only the down path's facts (what each down file destroys now): reads only."""
    from nchat_tui.snapshot import schema_inventory
    from nchat_tui.verify import find_applied, load_before

    with target.connect("nchat-tui rollback facts") as conn:
        before, _ = load_before(target, against, conn)
        after = schema_inventory(conn)
        appl = find_applied(conn, target.migrations_dir, before["inventory"], after)
        files = appl.files if appl else []
        if not files:
            return DownFacts(available=False, note="no migration applied since the backup")
        return _down_facts(conn, files, after.get("columns") or {})


def record_choice(journal: Any, choice: str, facts: RollbackFacts, reason: str = "") -> None:
    """Journal the operator's pick together with the facts it was made on."""
    if choice not in ("down", "restore", "application", "none"):
        raise BadInput(f"unknown rollback choice {choice!r}")
    journal.append("rollback_decision", choice=choice, reason=reason or None,
                   recommended=facts.recommended, facts=facts.as_dict())


# ---------------------------------------------------------------------------------------------
# the safe restore swap
# ---------------------------------------------------------------------------------------------
@dataclass
class SwapResult:
    database: str
    old_database: str
    restored_from: str
    terminated: list[dict[str, Any]]
    restore_duration_s: float
    swap_duration_s: float
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _exists(admin: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    rows = _rows(admin, "rollback/database_info.sql", {"name": name})
    return rows[0] if rows else None


def _allow(admin: psycopg.Connection[Any], name: str, allow: bool) -> None:
    admin.execute(sql.SQL(sql_text("rollback/allow_connections.sql")).format(
        name=sql.Identifier(name), allow=sql.SQL("true" if allow else "false")))


def connections_to(admin: psycopg.Connection[Any], name: str) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
            for r in _rows(admin, "rollback/database_connections.sql", {"name": name})]


def _terminate_all(admin: psycopg.Connection[Any], name: str, wait_s: float,
                   cancel: threading.Event | None) -> list[dict[str, Any]]:
    """Terminate every session on ``name`` until none is left (or raise after ``wait_s``)."""
    ended: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while True:
        left = connections_to(admin, name)
        if not left:
            return ended
        if time.monotonic() > deadline:
            raise OperationFailed(
                f"{len(left)} session(s) still connected to {name} after {wait_s:g}s: "
                + ", ".join(f"pid {c['pid']} ({c['role']}, {c['application_name'] or '-'})"
                            for c in left[:5]),
                "they may belong to a superuser this role cannot signal")
        if cancel is not None and cancel.is_set():
            raise OperationFailed("cancelled by the operator before the rename")
        for c in left:
            row = _rows(admin, "rollback/terminate_backend.sql", {"pid": c["pid"], "name": name})
            if row and row[0]["terminated"] and c["pid"] not in {e["pid"] for e in ended}:
                ended.append(c)
        time.sleep(0.05)


def restore_swap(target: Target, backup: str | Path, *,
                 confirm_name: ConfirmName | str | None,
                 progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, journal: Any = None,
                 jobs: int = 2, terminate_wait_s: float = TERMINATE_WAIT_S,
                 keep_restored_on_refusal: bool = False) -> SwapResult:
    """Restore ``backup`` next to production, verify it, then swap names (see module doc).

    ``confirm_name`` receives the database name and the sessions connected to it and must
    return the name typed by the operator (or is that string already, for ``--yes``).
    """
    from nchat_tui.backup import manifest_path_for, read_manifest, restore_into
    from nchat_tui.snapshot import schema_inventory
    from nchat_tui.verify import diff_inventory, diff_is_empty

    say: ProgressFn = progress or (lambda _t, _f: None)
    j = _journal(target, journal)
    db = target.database
    path = Path(backup).expanduser().absolute()
    manifest = read_manifest(manifest_path_for(path))
    if manifest is None or not manifest.get("snapshot"):
        raise Refused(f"{path.name} has no manifest with a snapshot beside it: the restored copy "
                      "could not be verified", "use a backup taken by nchat-tui backup")
    if manifest.get("state") != "verified":
        raise Refused(f"{path.name} is {manifest.get('state')!r}, not a verified backup")
    mdb = (manifest["snapshot"].get("database") or {}).get("database") or manifest.get("database")
    if mdb and mdb != db:
        raise Refused(f"{path.name} is a backup of database {mdb!r}, not of {db!r}")
    ts = _stamp()
    restore_name = derived_name(db, f"_restore_{ts}")
    old_name = derived_name(db, f"_before_rollback_{ts}")
    with admin_connect(target) as admin:
        info = _exists(admin, db)
        if info is None:
            raise BadInput(f"database {db!r} does not exist")
        for n in (restore_name, old_name):
            if _exists(admin, n):
                raise Refused(f"database {n!r} already exists")
    j.append("rollback_restore_started", backup=str(path), database=db,
             restore_into=restore_name, keep_as=old_name)
    say(f"restoring {path.name} into {restore_name}", 0.0)

    def on_restore(ev: Any) -> None:
        frac = getattr(ev, "fraction", None)
        say(f"restore: {ev.line() if hasattr(ev, 'line') else ev}",
            None if frac is None else 0.8 * float(frac))

    t0 = time.monotonic()
    try:
        restore_into(target, path, restore_name, jobs=jobs, on_progress=on_restore,
                     cancel_event=cancel, journal=j)
    except BaseException as exc:
        j.append("rollback_aborted", stage="restore", database=db,
                 reason=exc.message if isinstance(exc, NchatError) else repr(exc),
                 production_untouched=True)
        raise
    restore_s = time.monotonic() - t0
    warnings: list[str] = []

    def drop_restored(reason: str) -> None:
        with admin_connect(target) as a:
            try:
                a.execute(sql.SQL(sql_text("rollback/drop_database.sql")).format(
                    name=sql.Identifier(restore_name)))
                j.append("rollback_restored_copy_dropped", database=restore_name, reason=reason)
            except psycopg.Error as exc:
                warnings.append(f"could not drop {restore_name}: {exc.diag.message_primary}")

    try:
        say("comparing the restored schema with the manifest's inventory", 0.82)
        with target.connect("nchat-tui rollback verify", dbname=restore_name) as rc:
            inv = schema_inventory(rc)
        d = diff_inventory(manifest["snapshot"]["inventory"], inv, include_ledgers=True)
        if not diff_is_empty(d):
            keys = {c: sorted(set(p["added"]) | set(p["removed"]) | set(p["changed"]))[:3]
                    for c, p in d.items()}
            raise OperationFailed(f"the restored copy {restore_name} differs from the backup's "
                                  "inventory: " + ", ".join(f"{c} {k}" for c, k in keys.items()))
        if cancel is not None and cancel.is_set():
            raise OperationFailed("cancelled by the operator before the swap")
        with admin_connect(target) as admin:
            sessions = connections_to(admin, db)
        typed = confirm_name if isinstance(confirm_name, str) else (
            confirm_name(db, sessions) if confirm_name else "")
        if typed != db:
            j.append("rollback_decision", choice="restore", answer="declined",
                     reason="the typed name did not match", database=db)
            raise Refused(f"not confirmed: the database name was not typed ({db!r})")
        j.append("rollback_decision", choice="restore", answer="confirmed", database=db,
                 sessions=len(sessions))
    except BaseException as exc:
        if not (keep_restored_on_refusal and isinstance(exc, Refused)):
            drop_restored("aborted before the swap")
        j.append("rollback_aborted", stage="before swap", database=db,
                 reason=exc.message if isinstance(exc, NchatError) else repr(exc),
                 production_untouched=True)
        raise

    say(f"swapping: {db} -> {old_name}, {restore_name} -> {db}", 0.9)
    t1 = time.monotonic()
    ended: list[dict[str, Any]] = []
    with admin_connect(target, "nchat-tui rollback swap") as admin:
        orig = _exists(admin, db) or {}
        _allow(admin, db, False)
        j.append("rollback_swap_started", database=db, connections_refused=True)
        try:
            listed = connections_to(admin, db)
            j.append("rollback_connections", database=db, sessions=listed)
            ended = _terminate_all(admin, db, terminate_wait_s, cancel)
            j.append("rollback_connections_terminated", database=db,
                     pids=[c["pid"] for c in ended])
            # Nobody may sit in the restored copy either, or its rename would fail.
            _allow(admin, restore_name, False)
            _terminate_all(admin, restore_name, terminate_wait_s, cancel)
            with admin.transaction():
                rename = sql.SQL(sql_text("rollback/rename_database.sql"))
                admin.execute(rename.format(old=sql.Identifier(db), new=sql.Identifier(old_name)))
                admin.execute(rename.format(old=sql.Identifier(restore_name),
                                            new=sql.Identifier(db)))
                new_info = _exists(admin, db) or {}
                if orig.get("owner") and new_info.get("owner") != orig["owner"]:
                    admin.execute(sql.SQL(sql_text("rollback/set_owner.sql")).format(
                        name=sql.Identifier(db), owner=sql.Identifier(orig["owner"])))
                _allow(admin, db, True)
                _allow(admin, old_name, True)
        except BaseException as exc:
            # The renames were one transaction: rolled back as a whole. Reopen production.
            try:
                with admin_connect(target, "nchat-tui rollback undo") as undo:
                    if _exists(undo, db) is not None:
                        _allow(undo, db, bool(orig.get("allow_connections", True)))
            except (psycopg.Error, NchatError) as undo_exc:
                j.append("rollback_swap_undo_failed", database=db, reason=str(undo_exc))
                raise OperationFailed(
                    f"the swap failed and {db} could not be reopened: {undo_exc}",
                    f"run: ALTER DATABASE {db} ALLOW_CONNECTIONS true") from exc
            j.append("rollback_swap_undone", database=db,
                     reason=exc.message if isinstance(exc, NchatError) else repr(exc))
            drop_restored("swap undone")
            raise
        if orig.get("settings"):
            warnings.append(f"{old_name} had per-database settings {orig['settings']}: a "
                            f"restore does not carry them; re-apply them to {db}")
        if orig.get("acl"):
            warnings.append(f"{old_name} had database privileges {orig['acl']}: re-grant them "
                            f"on {db} if needed")
        if orig.get("connection_limit", -1) != -1:
            warnings.append(f"{old_name} had CONNECTION LIMIT {orig['connection_limit']}")
    swap_s = time.monotonic() - t1
    res = SwapResult(db, old_name, str(path), ended, round(restore_s, 3), round(swap_s, 3),
                     warnings)
    j.append("rollback_swap_finished", **res.as_dict())
    say(f"done: {db} is the restored copy; the old database is kept as {old_name}", 1.0)
    return res


def drop_old_database(target: Target, name: str, confirm_name: Callable[[str], str] | str,
                      journal: Any = None) -> None:
    """Drop a database kept by a rollback (``<db>_before_rollback_<ts>``), once the operator
    typed its name. Refuses anything else, and never forces sessions off it."""
    if name == target.database or "_before_rollback_" not in name:
        raise Refused(f"{name!r} is not a database kept by a rollback "
                      "(<db>_before_rollback_<timestamp>)")
    typed = confirm_name if isinstance(confirm_name, str) else confirm_name(name)
    if typed != name:
        raise Refused(f"not confirmed: type the database name ({name!r}) to drop it")
    j = _journal(target, journal)
    with admin_connect(target) as admin:
        if _exists(admin, name) is None:
            raise BadInput(f"database {name!r} does not exist")
        left = connections_to(admin, name)
        if left:
            raise Refused(f"{len(left)} session(s) are connected to {name}: "
                          + ", ".join(f"pid {c['pid']}" for c in left[:5]))
        admin.execute(sql.SQL(sql_text("rollback/drop_database.sql")).format(
            name=sql.Identifier(name)))
    j.append("rollback_old_database_dropped", database=name)


# ---------------------------------------------------------------------------------------------
# the down rollback
# ---------------------------------------------------------------------------------------------
@dataclass
class DownResult:
    run: dict[str, Any]
    inventory_equal: bool
    differences: dict[str, Any]
    ledger_equal: bool
    to_version: str | None

    @property
    def ok(self) -> bool:
        return self.run.get("status") in ("ok", "nothing_to_do") and self.inventory_equal

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def down_rollback(target: Target, to_version: str | None = None,
                  against: dict[str, Any] | Path | str | None = None, *,
                  callbacks: Any = None, journal: Any = None,
                  options: dict[str, Any] | None = None) -> DownResult:
    """Run the down files back to ``to_version`` (default: the state the before-snapshot
    recorded), then compare the schema inventory with the before-snapshot's."""
    from nchat_tui.migrations import discover
    from nchat_tui.runner import Runner, RunOptions
    from nchat_tui.snapshot import schema_inventory
    from nchat_tui.verify import applied_before, diff_inventory, diff_is_empty, load_before

    j = _journal(target, journal)
    with target.connect("nchat-tui rollback") as conn:
        before, source = load_before(target, against, conn)
    if to_version is None:
        if target.migrations_dir is None:
            raise BadInput("no migrations directory: give --migrations DIR or --backend-dir DIR")
        files = discover(target.migrations_dir).files
        done = applied_before(files, before["inventory"].get("ledgers") or {})
        versions = [f for f in files if f.name in done]
        to_version = versions[-1].name if versions else "0"
    j.append("rollback_down_started", to_version=to_version, before_source=source)
    run = Runner(target, RunOptions(direction="down", to_version=to_version, **(options or {})),
                 callbacks, journal=j).run()
    with target.connect("nchat-tui rollback") as conn:
        after = schema_inventory(conn)
    d = diff_inventory(before["inventory"], after)
    led_before = before["inventory"].get("ledgers") or {}
    led_after = after.get("ledgers") or {}
    names_b = {r.get("name") for rows in led_before.values() for r in rows}
    names_a = {r.get("name") for rows in led_after.values() for r in rows}
    res = DownResult(run.to_dict(), diff_is_empty(d), d, names_b == names_a, to_version)
    j.append("rollback_down_finished", status=run.status, inventory_equal=res.inventory_equal,
             ledger_equal=res.ledger_equal,
             differences={c: {k: sorted(v[k]) for k in ("added", "removed", "changed")}
                          for c, v in d.items()})
    return res
