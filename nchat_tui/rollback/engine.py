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

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import psycopg
from pglast import ast
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.backup.engine import manifest_path_for, read_manifest, restore_into
from nchat_tui.errors import BadInput, NchatError, OperationFailed, Refused
from nchat_tui.migrate.ddl_effects import analyse_files
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.plan import analyse_sql
from nchat_tui.migrate.plpgsql import lone_expression
from nchat_tui.migrate.runner import Runner, RunOptions
from nchat_tui.pg.guard import guarded
from nchat_tui.pg.inventory_compare import compare_restored
from nchat_tui.pg.objkeys import key as okey
from nchat_tui.pg.objkeys import split2, split_key, upgrade_snapshot_keys
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.snapshot import (
    data_tables,
    describe_writes,
    read_table_stats,
    schema_inventory,
    writes_between,
)
from nchat_tui.pg.target import Target
from nchat_tui.rollback.downplan import check_after_down, plan_down
from nchat_tui.state.failpoints import failpoint
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.recovery import clear_intent, intent_journal, pid_alive, quote_ident, write_intent
from nchat_tui.verify.engine import (
    LEDGER_TABLES,
    diff_inventory,
    diff_is_empty,
    load_before,
    stats_baseline_path,
)

MAX_NAME = 63
SWAP_APP_NAME = "nchat-tui rollback swap"
FACTS_STATEMENT_TIMEOUT_S = 300.0
"""A backstop for the facts' session: counts set their own (120 s) and RESET back to this."""
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

    return Journal.for_target(target.state_dir, target.masked())


# ---------------------------------------------------------------------------------------------
# the decision facts
# ---------------------------------------------------------------------------------------------
class TableRows(TypedDict):
    """A table a down file drops, with the rows it holds now."""

    table: str
    rows: int


class ColumnValues(TypedDict):
    """A column a down file drops, with the values in it that differ from its default."""

    column: str
    values: int


class DownFile(TypedDict):
    """What one applied file's down file destroys (JSON as it is: ``rollback --json``)."""

    file: str
    down_file: str
    drops: dict[str, list[str]]
    """Object kind -> the objects it drops."""
    tables: list[TableRows]
    columns: list[ColumnValues]
    opaque: NotRequired[list[dict[str, Any]]]
    """Statements whose effect cannot be read (DO blocks, dynamic SQL, renames)."""
    parse_errors: NotRequired[list[dict[str, Any]]]
    txn_mode: NotRequired[str]
    deletes_rows: NotRequired[list[str]]
    """Tables it deletes rows of without dropping them."""


class TableGrowth(TypedDict):
    """A table holding more rows now than the backup's snapshot: a restore loses them."""

    table: str
    now: int
    in_backup: int | None
    """None when the backup has no such table."""
    added_since: int
    new_table: bool


@dataclass
class DownFacts:
    available: bool
    files: list[DownFile] = field(default_factory=list)
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
    per_table: list[TableGrowth] = field(default_factory=list)
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


def _constant_default(expr: str | None) -> str | None:
    """The text a column default that is a constant (``false``, ``0``, ``'active'::text``,
    ``'pending'::status``) has as the type's output (``format('%s', v)``: ``f`` for false),
    else None: an expression with a function call is not data anyone wrote, and evaluating it
    would run it. A value the output writes differently (``0`` in a numeric(5,2) is ``0.00``)
    is counted as written: the facts then overstate the loss, never understate it."""
    if not expr:
        return None
    node = lone_expression(expr)
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    if isinstance(val, ast.Boolean):
        return "t" if val.boolval else "f"
    for attr in ("ival", "fval", "sval", "bsval"):
        if hasattr(val, attr):
            return str(getattr(val, attr))
    return None


def _down_facts(conn: psycopg.Connection[Any], files: list[Any],
                columns: dict[str, Any]) -> DownFacts:
    facts = DownFacts(available=bool(files))
    tcount = sql_template("snapshot/count_rows.sql")
    ccount = sql_template("rollback/count_not_null.sql")
    conn.execute("SET statement_timeout = '120s'")
    for f in reversed(files):
        if f.down_path is None:
            facts.missing_down.append(f.name)
            facts.available = False
            continue
        eff = analyse_files([(f.down_path.name, f.down_text() or "")])
        item: DownFile = {"file": f.name, "down_file": f.down_path.name,
                          "drops": {c: sorted(v) for c, v in eff.drops.items() if v},
                          "tables": [], "columns": []}
        for key in sorted(eff.drops["tables"]):
            schema, name = split2(key)
            try:
                row = conn.execute(tcount.format(table=sql.Identifier(schema, name))).fetchone()
                n = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                n = 0
            item["tables"].append({"table": key, "rows": n})
            facts.rows_lost += n
        for key in sorted(eff.drops["columns"]):
            schema, table, column = split_key(key)
            # A value equal to the column's default (is_encrypted = false on every old row) is
            # not data anyone wrote: only values that differ from it would be lost.
            default = _constant_default((columns.get(key) or {}).get("default"))
            pred = sql.SQL("{c} IS NOT NULL").format(c=sql.Identifier(column))
            if default is not None:
                # Compared as text through the type's output function and pg_catalog's <>:
                # the default's own text is never run (a default may call any function, and
                # nextval() would move a sequence), nor a cast or operator someone defined.
                pred = sql.SQL("{c} IS NOT NULL AND pg_catalog.format('%s', {c}) "
                               "OPERATOR(pg_catalog.<>) {d}").format(
                    c=sql.Identifier(column), d=sql.Literal(default))
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
    m = read_manifest(Path(manifest_path)) or {}
    name = Path(str(m.get("file") or "")).name
    dump = Path(manifest_path).parent / name
    return str(dump) if name and dump.exists() else None


def _restore_facts(conn: psycopg.Connection[Any], target: Target, before: dict[str, Any],
                   source: str) -> RestoreFacts:
    rf = RestoreFacts(available=True, manifest=source, taken_at=before.get("taken_at"))
    if source.endswith(".json"):
        rf.backup = _dump_of_manifest(source)
    if rf.taken_at:
        taken = dt.datetime.fromisoformat(rf.taken_at)
        rf.age_s = round((dt.datetime.now(dt.UTC) - taken).total_seconds(), 1)
    tcount = sql_template("snapshot/count_rows.sql")

    inv = schema_inventory(conn)
    snap_counts: dict[str, int] = before.get("row_counts") or {}
    total = 0
    conn.execute("SET statement_timeout = '120s'")

    for schema, name in data_tables(inv):
        key = okey(schema, name)
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
    with guarded(target, "nchat-tui rollback facts", "the rollback facts",
                 statement_timeout=FACTS_STATEMENT_TIMEOUT_S) as conn:
        # The way back is to the state before the files to revert were applied: the
        # before-snapshot of the run that applied them (a backup taken after the migration,
        # which the gate asks for, is no "before"), else the latest verified backup.
        plan, why_not = _down_plan(target, conn, None, against)
        if plan is not None and plan.before is not None:
            before, source = plan.before, plan.source
        else:
            before, source = load_before(target, against, conn)
        after = schema_inventory(conn)
        d = diff_inventory(before["inventory"], after)
        changes = sum(len(p["added"]) + len(p["removed"]) + len(p["changed"])
                      for p in d.values())
        files = _plan_files(plan)
        down = _down_facts(conn, files, after.get("columns") or {}) if files else DownFacts(
            available=False, note=(plan.nothing_to_do if plan is not None else why_not))
        if files and plan is not None:
            down.note = "; ".join(x for x in (down.note, plan.reason) if x)
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
    with guarded(target, "nchat-tui rollback facts", "the down files' facts",
                 statement_timeout=FACTS_STATEMENT_TIMEOUT_S) as conn:
        plan, why_not = _down_plan(target, conn, None, against)
        files = _plan_files(plan)
        if not files:
            return DownFacts(available=False, note=plan.nothing_to_do if plan else why_not)
        after = schema_inventory(conn)
        facts = _down_facts(conn, files, after.get("columns") or {})
        facts.note = "; ".join(x for x in (facts.note, plan.reason if plan else "") if x)
        return facts


def _down_plan(target: Target, conn: psycopg.Connection[Any], to_version: str | None,
               against: dict[str, Any] | Path | str | None) -> tuple[Any, str]:
    """``downplan.plan_down``, or (None, why) when it cannot be made."""
    try:
        return plan_down(target, conn, to_version, against), ""
    except BadInput as exc:
        return None, exc.message


def _plan_files(plan: Any) -> list[Any]:
    """The MigrationFile objects a down plan reverts, in run order."""
    if plan is None or not plan.revert or plan.migrations_dir is None:
        return []

    by_name = {f.name: f for f in discover(plan.migrations_dir).files}
    return [by_name[n] for n in plan.revert if n in by_name]


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
    admin.execute(sql_template("rollback/allow_connections.sql").format(
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


def _compare_restored_copy(target: Target, name: str, manifest: dict[str, Any],
                           journal: Any) -> Any:
    """The restored copy ``name`` against the manifest's inventory, by meaning
    (``inventory_compare``); ``OperationFailed`` naming what really differs."""
    expected = upgrade_snapshot_keys(manifest["snapshot"])["inventory"]
    with target.connect("nchat-tui rollback verify", dbname=name) as rc:
        cmp = compare_restored(rc, expected)
    if cmp.same_meaning or cmp.not_compared:
        journal.append("rollback_restored_copy_compared", database=name, equal=cmp.equal,
                       same_meaning=[{k: v for k, v in m.items() if k != "restored"}
                                     for m in cmp.same_meaning][:50],
                       not_compared=cmp.not_compared[:50])
    if not cmp.equal:
        raise OperationFailed(f"the restored copy {name} differs from the backup's inventory: "
                              + cmp.describe(), "the dump does not restore what the backup "
                              "recorded: do not swap it in; test other backups with "
                              "nchat-tui verify-backup --test-restore")
    return cmp


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
    say: ProgressFn = progress or (lambda _t, _f: None)
    j = _journal(target, journal)
    db = target.database
    path = Path(backup).expanduser().absolute()
    manifest = _swap_manifest(path, db)
    ts = _stamp()
    restore_name = derived_name(db, f"_restore_{ts}")
    old_name = derived_name(db, f"_before_rollback_{ts}")
    _check_swap_names(target, db, restore_name, old_name)
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
                     cancel_event=cancel, journal=j, purpose="rollback restore copy")
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
                a.execute(sql_template("rollback/drop_database.sql").format(
                    name=sql.Identifier(restore_name)))
                j.append("rollback_restored_copy_dropped", database=restore_name, reason=reason)
            except psycopg.Error as exc:
                warnings.append(f"could not drop {restore_name}: {exc.diag.message_primary}")

    try:
        say("comparing the restored schema with the manifest's inventory", 0.82)
        warnings += _confirm_swap(target, db, restore_name, manifest, confirm_name, cancel, j)
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
    with admin_connect(target, SWAP_APP_NAME) as admin:
        orig = _exists(admin, db) or {}
        # The intent first (journal + marker, both fsync'd): a kill from here on is finished or
        # undone by the next start, never left refusing logins (see recovery.py).
        intent = {"database": db, "old_name": old_name, "restore_name": restore_name,
                  "allow_connections_before": bool(orig.get("allow_connections", True)),
                  "backup": str(path)}
        j.append("rollback_swap_intent", **intent, undo=_undo_sql(db))
        marker = write_intent(target, "swap", intent, j)
        failpoint("swap.after_intent")
        try:
            ended = _swap_names(admin, db, old_name, restore_name, orig, terminate_wait_s,
                                cancel, j)
        except BaseException as exc:
            # The renames were one transaction: rolled back as a whole. Reopen production.
            _reopen_after_failed_swap(target, db, restore_name, orig, j, exc)
            # Production is open again whatever else fails now (a full journal disk: the
            # marker then stays, and the next start records the outcome).
            with contextlib.suppress(NchatError):
                j.append("rollback_swap_undone", database=db,
                         reason=exc.message if isinstance(exc, NchatError) else repr(exc))
                clear_intent(marker)
                drop_restored("swap undone")
            raise
        warnings += _not_carried_over(orig, old_name, db)
    swap_s = time.monotonic() - t1
    res = SwapResult(db, old_name, str(path), ended, round(restore_s, 3), round(swap_s, 3),
                     warnings)
    j.append("rollback_swap_finished", **res.as_dict())
    clear_intent(marker)
    say(f"done: {db} is the restored copy; the old database is kept as {old_name}", 1.0)
    return res


def _swap_manifest(path: Path, db: str) -> dict[str, Any]:
    """The manifest of a verified backup of ``db`` (``Refused`` otherwise)."""
    manifest = read_manifest(manifest_path_for(path))
    if manifest is None or not manifest.get("snapshot"):
        raise Refused(f"{path.name} has no manifest with a snapshot beside it: the restored copy "
                      "could not be verified", "use a backup taken by nchat-tui backup")
    if manifest.get("state") != "verified":
        raise Refused(f"{path.name} is {manifest.get('state')!r}, not a verified backup")
    mdb = (manifest["snapshot"].get("database") or {}).get("database") or manifest.get("database")
    if mdb and mdb != db:
        raise Refused(f"{path.name} is a backup of database {mdb!r}, not of {db!r}")
    return manifest


def _check_swap_names(target: Target, db: str, restore_name: str, old_name: str) -> None:
    with admin_connect(target) as admin:
        info = _exists(admin, db)
        if info is None:
            raise BadInput(f"database {db!r} does not exist")
        for n in (restore_name, old_name):
            if _exists(admin, n):
                raise Refused(f"database {n!r} already exists")


def _confirm_swap(target: Target, db: str, restore_name: str, manifest: dict[str, Any],
                  confirm_name: ConfirmName | str | None, cancel: threading.Event | None,
                  j: Any) -> list[str]:
    """The restored copy compared by meaning, then the operator's typed name; returns the
    comparison's warnings."""
    cmp = _compare_restored_copy(target, restore_name, manifest, j)
    warnings: list[str] = list(cmp.warnings)
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
    return warnings


def _swap_names(admin: psycopg.Connection[Any], db: str, old_name: str, restore_name: str,
                orig: dict[str, Any], terminate_wait_s: float, cancel: threading.Event | None,
                j: Any) -> list[dict[str, Any]]:
    """Refuse and end the sessions, then both renames in one transaction. Returns the
    sessions ended on production."""
    _allow(admin, db, False)
    failpoint("swap.after_disallow")
    j.append("rollback_swap_started", database=db, connections_refused=True)
    listed = connections_to(admin, db)
    j.append("rollback_connections", database=db, sessions=listed)
    ended = _terminate_all(admin, db, terminate_wait_s, cancel)
    j.append("rollback_connections_terminated", database=db,
             pids=[c["pid"] for c in ended])
    failpoint("swap.after_terminate")
    # Nobody may sit in the restored copy either, or its rename would fail.
    _allow(admin, restore_name, False)
    _terminate_all(admin, restore_name, terminate_wait_s, cancel)
    with admin.transaction():
        rename = sql_template("rollback/rename_database.sql")
        admin.execute(rename.format(old=sql.Identifier(db), new=sql.Identifier(old_name)))
        failpoint("swap.between_renames")
        admin.execute(rename.format(old=sql.Identifier(restore_name),
                                    new=sql.Identifier(db)))
        new_info = _exists(admin, db) or {}
        if orig.get("owner") and new_info.get("owner") != orig["owner"]:
            admin.execute(sql_template("rollback/set_owner.sql").format(
                name=sql.Identifier(db), owner=sql.Identifier(orig["owner"])))
        # The copy was marked as ours while it was a scratch database: production is not.
        admin.execute(sql_template("backup/comment_scratch_database.sql").format(
            name=sql.Identifier(db), comment=sql.Literal(None)))
        _allow(admin, db, True)
        _allow(admin, old_name, True)
        failpoint("swap.before_commit")
    failpoint("swap.after_commit")
    return ended


def _reopen_after_failed_swap(target: Target, db: str, restore_name: str,
                              orig: dict[str, Any], j: Any, exc: BaseException) -> None:
    """Production (and the copy) accept connections again; ``OperationFailed`` if not."""
    try:
        with admin_connect(target, "nchat-tui rollback undo") as undo:
            if _exists(undo, db) is not None:
                _allow(undo, db, bool(orig.get("allow_connections", True)))
            if _exists(undo, restore_name) is not None:
                _allow(undo, restore_name, True)
    except (psycopg.Error, NchatError) as undo_exc:
        with contextlib.suppress(NchatError):
            j.append("rollback_swap_undo_failed", database=db, reason=str(undo_exc))
        raise OperationFailed(
            f"the swap failed and {db} could not be reopened: {undo_exc}",
            f"the next nchat-tui command retries; or run: {_undo_sql(db)}") from exc


def _not_carried_over(orig: dict[str, Any], old_name: str, db: str) -> list[str]:
    """What a restore does not carry from the old database to the new one."""
    warnings: list[str] = []
    if orig.get("settings"):
        warnings.append(f"{old_name} had per-database settings {orig['settings']}: a "
                        f"restore does not carry them; re-apply them to {db}")
    if orig.get("acl"):
        warnings.append(f"{old_name} had database privileges {orig['acl']}: re-grant them "
                        f"on {db} if needed")
    if orig.get("connection_limit", -1) != -1:
        warnings.append(f"{old_name} had CONNECTION LIMIT {orig['connection_limit']}")
    return warnings


def _undo_sql(db: str) -> str:
    return f"psql -d postgres -c 'ALTER DATABASE {quote_ident(db)} ALLOW_CONNECTIONS true'"


def _swap_sessions(admin: psycopg.Connection[Any]) -> list[int]:
    """Server sessions of a swap (``SWAP_APP_NAME``): a killed client's backend may take a
    moment to notice and roll its transaction back."""
    return [r["pid"] for r in _rows(admin, "rollback/sessions_by_application.sql",
                                    {"application_name": SWAP_APP_NAME})]


def recover_swap(target: Target, marker: Path, intent: dict[str, Any], journal: Any,
                 settle_s: float = 15.0) -> list[str]:
    """Finish or undo a restore swap whose process died (see ``recovery.py``): returns what
    was done. A swap whose process still runs is left alone."""
    db, old, rest = intent.get("database"), intent.get("old_name"), intent.get("restore_name")
    if not (isinstance(db, str) and isinstance(old, str) and isinstance(rest, str)):
        os.replace(marker, marker.with_suffix(".bad"))
        return [f"an unreadable swap marker {marker.name} was set aside (renamed *.bad)"]
    who = f"pid {intent.get('pid')}, started {intent.get('written_at')}"
    alive = pid_alive(intent.get("pid"), intent.get("host"), intent.get("pid_started"))
    if alive is not False:
        where = "is still running" if alive else f"ran on host {intent.get('host')}"
        return [f"a restore swap of {db} ({who}) {where}: not touched; if it refuses "
                f"connections for long, {_undo_sql(db)}"]
    journals = [journal]

    own = intent_journal(intent, target.state_dir)
    if own is not None and (journal is None or own.path != journal.path):
        journals.append(own)

    def record(event: str, **fields: Any) -> None:
        for jj in journals:
            if jj is not None:
                jj.append(event, **fields)

    with admin_connect(target, "nchat-tui rollback recovery") as a:
        deadline = time.monotonic() + settle_s
        while _swap_sessions(a) and time.monotonic() < deadline:
            time.sleep(0.1)  # the dead client's backend rolls its transaction back
        left = _swap_sessions(a)
        if left:
            raise OperationFailed(
                f"an interrupted restore swap of {db} ({who}) still has a server session "
                f"(pid {left[0]}): not touched",
                f"end it (SELECT pg_terminate_backend({left[0]})), then run the command again")
        i_db, i_old, i_rest = _exists(a, db), _exists(a, old), _exists(a, rest)
        exists = {db: i_db is not None, old: i_old is not None, rest: i_rest is not None}
        facts = {"database": db, "old_name": old, "restore_name": rest, "swap_pid":
                 intent.get("pid"), "exists": exists}
        if i_db is not None and i_old is not None and i_rest is None:
            # The renames committed (with ALLOW_CONNECTIONS true inside): the swap is done.
            for name, info in ((db, i_db), (old, i_old)):
                if not info.get("allow_connections"):
                    _allow(a, name, True)
            record("rollback_swap_recovered", outcome="completed", **facts)
            line = (f"an unfinished restore swap of {db} ({who}) had committed its renames: "
                    f"the swap is complete and connections are allowed; {db} is the restored "
                    f"copy, the old database is kept as {old} (drop it once sure: nchat-tui "
                    f"rollback --drop-old {old})")
        elif i_db is not None and i_old is None:
            reopened = False
            if not i_db.get("allow_connections") and intent.get("allow_connections_before",
                                                                 True):
                _allow(a, db, True)
                reopened = True
            if i_rest is not None and not i_rest.get("allow_connections"):
                _allow(a, rest, True)
            record("rollback_swap_recovered", outcome="undone", reopened=reopened, **facts)
            line = (f"an unfinished restore swap of {db} ({who}) was interrupted before its "
                    "renames committed: "
                    + ("connections allowed again" if reopened else
                       "it had not refused connections yet")
                    + f"; {db} is unchanged"
                    + (f"; the restored copy {rest} is kept (run rollback --backup again, or "
                       "drop it with nchat-tui backups --remove-leftovers)"
                       if i_rest is not None else ""))
        else:
            record("rollback_swap_recovery_failed", **facts)
            raise OperationFailed(
                f"an interrupted restore swap of {db} ({who}) left an unexpected state: "
                + ", ".join(f"{k} {'exists' if v else 'missing'}"
                            for k, v in exists.items()),
                f"look before acting; to give the old database its name back: ALTER DATABASE "
                f"{quote_ident(old)} RENAME TO {quote_ident(db)}; {_undo_sql(db)}")
    clear_intent(marker)
    return [line]


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
        j.append("rollback_old_database_drop_started", database=name)
        marker = write_intent(target, "drop_old", {"database": name}, j)
        failpoint("drop_old.after_intent")
        try:
            admin.execute(sql_template("rollback/drop_database.sql").format(
                name=sql.Identifier(name)))
        except psycopg.Error as exc:
            why = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
            j.append("rollback_old_database_drop_failed", database=name, reason=why)
            clear_intent(marker)
            raise OperationFailed(f"could not drop {name}: {why}; it is still kept") from None
        failpoint("drop_old.after_drop")
    j.append("rollback_old_database_dropped", database=name)
    clear_intent(marker)


def recover_drop_old(target: Target, marker: Path, intent: dict[str, Any],
                     journal: Any) -> list[str]:
    """Record how a drop of a kept database whose process died ended (it ran or not)."""
    name = intent.get("database")
    if not isinstance(name, str):
        os.replace(marker, marker.with_suffix(".bad"))
        return [f"an unreadable drop marker {marker.name} was set aside (renamed *.bad)"]
    alive = pid_alive(intent.get("pid"), intent.get("host"), intent.get("pid_started"))
    if alive is not False:
        return [f"a drop of {name} (pid {intent.get('pid')}) is still running: not touched"]
    with admin_connect(target, "nchat-tui rollback recovery") as a:
        exists = _exists(a, name) is not None
    if journal is not None:
        if exists:
            journal.append("rollback_old_database_drop_interrupted", database=name,
                           still_exists=True)
        else:
            journal.append("rollback_old_database_dropped", database=name, recovered=True)
    clear_intent(marker)
    if exists:
        return [f"an interrupted drop of {name} (pid {intent.get('pid')}) did not happen: the "
                f"database is still kept (drop it with nchat-tui rollback --drop-old {name})"]
    return [f"an interrupted drop of {name} (pid {intent.get('pid')}) had completed: "
            "recorded in the journal now"]


# ---------------------------------------------------------------------------------------------
# the down rollback
# ---------------------------------------------------------------------------------------------
@dataclass
class DownResult:
    run: dict[str, Any]
    inventory_equal: bool | None
    """None when nothing ran and nothing was compared."""
    differences: dict[str, Any]
    ledger_equal: bool | None
    to_version: str | None
    before_source: str = ""
    """The before-snapshot compared with (a manifest path)."""
    plan: dict[str, Any] = field(default_factory=dict)
    """How the files and the snapshot were chosen: the run read, the files reverted, the
    files that stay applied on top of the snapshot (``downplan.DownPlan``)."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.run.get("status") in ("ok", "nothing_to_do") \
            and self.inventory_equal is not False and self.ledger_equal is not False

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def down_rollback(target: Target, to_version: str | None = None,
                  against: dict[str, Any] | Path | str | None = None, *,
                  callbacks: Any = None, journal: Any = None,
                  options: dict[str, Any] | None = None) -> DownResult:
    """Run the down files, then compare the schema with the right before-snapshot.

    Which files and which snapshot (``downplan.plan_down``): without ``to_version``, the last
    up run whose files are still applied, compared with that run's before-snapshot (the
    session journals know its backup); with ``to_version``, every applied file after it,
    compared with the before-snapshot of the earliest run that applied one of them plus what
    the files that stay applied create; ``against`` gives the snapshot explicitly. Nothing
    runs when nothing is applied after the target, and the result says what was read."""
    j = _journal(target, journal)
    with target.connect("nchat-tui rollback") as conn:
        plan = plan_down(target, conn, to_version, against)
    if plan.to_version is None:
        # Nothing to revert; where a before-snapshot was chosen (``--against``), still compare
        # with it: after a down run that was killed before its comparison, this is the check
        # that did not happen.
        equal_n: bool | None = None
        d_n: dict[str, Any] = {}
        ledger_n: bool | None = None
        notes_n: list[str] = [plan.nothing_to_do]
        if plan.before is not None and plan.migrations_dir is not None:
            with target.connect("nchat-tui rollback") as conn:
                equal_n, d_n, ledger_n, more = check_after_down(plan, conn)
            notes_n += more
        j.append("rollback_down_nothing_to_do", reason=plan.nothing_to_do,
                 plan=plan.as_dict(), inventory_equal=equal_n, ledger_equal=ledger_n)
        return DownResult({"status": "nothing_to_do", "committed": [],
                           "message": plan.nothing_to_do}, equal_n, d_n, ledger_n, to_version,
                          plan.source, plan.as_dict(), notes_n)
    j.append("rollback_down_started", to_version=plan.to_version, before_source=plan.source,
             reverts=plan.revert, run_read=plan.run.run_id if plan.run else None,
             reason=plan.reason, expected_on_top=plan.extra)
    run = Runner(target, RunOptions(direction="down", to_version=plan.to_version,
                                    **(options or {})), callbacks, journal=j).run()
    failpoint("down.after_run")
    with target.connect("nchat-tui rollback") as conn:
        equal, d, ledger_ok, notes = check_after_down(plan, conn)
    res = DownResult(run.to_dict(), equal, d, ledger_ok, plan.to_version, plan.source,
                     plan.as_dict(), [plan.reason, *notes])
    j.append("rollback_down_finished", status=run.status, inventory_equal=res.inventory_equal,
             ledger_equal=res.ledger_equal, before_source=plan.source,
             differences={c: {k: sorted(v[k]) for k in ("added", "removed", "changed")}
                          for c, v in d.items()})
    return res
