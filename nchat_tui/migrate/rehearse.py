"""The dry run: the pending migrations applied to a restored copy, timed, then reverted.

Restores the latest verified backup into a NEW scratch database on the same server (through the
backup engine's ``restore_into``, which never touches an existing database), runs the same
runner there (per-statement timings and lock waits), checks that the objects the plan creates
exist, runs the down migrations and checks that the schema inventory is back to the restored
one, and always drops the scratch database it created (unless asked to keep it). The report
names the slowest statements and estimates the production run from the rehearsal's timings
scaled by the database's growth since the backup. It never changes the target database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from nchat_tui.backup.engine import KEPT_MARK, _set_comment, latest_verified_backup, restore_into
from nchat_tui.errors import NchatError, Refused
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.migrate.plan import build_plan
from nchat_tui.migrate.runner import RunCallbacks, RunEvent, Runner, RunOptions, RunResult, select_files
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.snapshot import schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.state.failpoints import failpoint
from nchat_tui.state.journal import Journal

# Objects the runner itself adds when a database had no ledger yet: not a migration's doing.
LEDGER_OBJECTS = ("np_common", "nself_ops")


@dataclass
class SlowStatement:
    file: str
    statement: int
    line: int
    summary: str
    duration_ms: float
    lock_wait_ms: float


@dataclass
class RehearsalResult:
    status: str
    """ok, failed (a migration failed), mismatch (the downs did not restore the schema)."""
    backup: str
    scratch_database: str
    dropped: bool = False
    restore_s: float | None = None
    up: dict[str, Any] | None = None
    down: dict[str, Any] | None = None
    up_s: float | None = None
    down_s: float | None = None
    lock_wait_s: float = 0.0
    missing_objects: list[str] = field(default_factory=list)
    inventory_differences: list[str] = field(default_factory=list)
    slowest: list[SlowStatement] = field(default_factory=list)
    size_ratio: float | None = None
    estimate_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exit_code"] = self.exit_code
        return d


def _scratch_name(db: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in db)[:36] or "db"
    return f"{base}_rehearse_{stamp}"


def _diff(before: dict[str, Any], after: dict[str, Any], ignore_ledger_objects: bool) -> list[str]:
    out: list[str] = []
    for cat in sorted(set(before) | set(after)):
        if cat == "ledgers":
            continue
        b, a = before.get(cat) or {}, after.get(cat) or {}
        for key in sorted(set(b) | set(a)):
            if ignore_ledger_objects and key.split(".", 1)[0] in LEDGER_OBJECTS:
                continue
            if key not in a:
                out.append(f"{cat} {key}: gone after the downs")
            elif key not in b:
                out.append(f"{cat} {key}: left behind by the downs")
            elif cat != "sequences" and a[key] != b[key]:
                changed = sorted(k for k in set(a[key]) | set(b[key])
                                 if a[key].get(k) != b[key].get(k))
                out.append(f"{cat} {key}: changed ({', '.join(changed)})")
    return out


def _objects_missing(conn: psycopg.Connection[Any], creates: list[str],
                     columns: list[str]) -> list[str]:
    missing: list[str] = []
    for name in creates:
        row = conn.execute(sql_text("runner/object_exists.sql"), {"name": name}).fetchone()
        if not (row and row[0]):
            missing.append(name)
    for col in columns:
        rel, _, attname = col.rpartition(".")
        row = conn.execute(sql_text("runner/added_column_exists.sql"),
                           {"relation": rel, "column": attname.strip('"')}).fetchone()
        if not (row and row[0]):
            missing.append(col)
    return missing


def _drop_database(target: Target, name: str) -> None:
    with target.connect("nchat-tui rehearse (cleanup)") as conn:
        if conn.info.server_version >= 130000:
            conn.execute(sql_template("backup/drop_scratch_database.sql").format(
                name=sql.Identifier(name)))
        else:
            conn.execute(sql_text("rehearse/terminate_sessions.sql"), {"database": name})
            conn.execute(sql_template("rehearse/drop_database.sql").format(
                name=sql.Identifier(name)))


def rehearse(target: Target, *, journal: Journal | None = None,
             on_event: Callable[[RunEvent], None] | None = None,
             lock_timeout_s: float = 5.0, statement_timeout_s: float | None = None,
             confirm_as_written: tuple[str, ...] = (), keep: bool = False,
             slowest: int = 5) -> RehearsalResult:
    """Rehearse the pending migrations of ``target`` on a restored scratch copy."""
    mdir = target.migrations_dir
    if mdir is None or not mdir.is_dir():
        raise Refused("no migrations directory to rehearse: give --migrations DIR or "
                      "--backend-dir DIR")
    with target.connect("nchat-tui rehearse") as conn:
        b = latest_verified_backup(target, conn)
        if b is None:
            raise Refused(f"no verified backup of {target.database} to rehearse on",
                          "run `nchat-tui backup` first")
        prod_size = conn.execute(sql_text("backup/database_size.sql")).fetchone()
        disc = discover(mdir)
        ledger = detect_ledger(conn)
        todo = select_files(disc, ledger, RunOptions())
        plan = build_plan(conn, todo, ledger)
    scratch = _scratch_name(target.database)
    res = RehearsalResult(status="ok", backup=str(b.path), scratch_database=scratch)
    ev = on_event or (lambda _e: None)
    if journal is not None:
        journal.append("rehearse_started", backup=str(b.path), scratch_database=scratch,
                       files=[f.name for f in todo])
    st = target.with_database(scratch)
    created = False
    try:
        t0 = time.monotonic()
        ev(RunEvent("restore_started", message=f"restoring {b.path} into {scratch}"))
        restore_into(target, b.path, scratch, journal=journal, purpose="rehearsal copy")
        created = True  # restore_into drops its own database when it fails
        res.restore_s = round(time.monotonic() - t0, 3)
        failpoint("rehearse.after_restore")
        with st.connect("nchat-tui rehearse") as sc:
            before = schema_inventory(sc)
            scratch_size = sc.execute(sql_text("backup/database_size.sql")).fetchone()
            sled = detect_ledger(sc)
            pending_here = select_files(disc, sled, RunOptions())
        if [f.name for f in pending_here] != [f.name for f in todo]:
            res.notes.append("the backup's ledger differs from the live one: rehearsing "
                             f"{', '.join(f.name for f in pending_here) or 'nothing'}")
        had_ledger = bool(sled.kinds)
        opts = RunOptions(migrations_dir=mdir, gate=False, lock_timeout_s=lock_timeout_s,
                          statement_timeout_s=statement_timeout_s, retries=0,
                          confirm_as_written=confirm_as_written,
                          applied_by="nchat-tui rehearse")
        t0 = time.monotonic()
        up: RunResult = Runner(st, opts, RunCallbacks(on_event=ev)).run()
        failpoint("rehearse.after_up")
        res.up_s = round(time.monotonic() - t0, 3)
        res.up = up.to_dict()
        stmts = [(fo.file, so) for fo in up.files for so in fo.statements
                 if so.duration_ms is not None]
        res.lock_wait_s = round(sum(so.lock_wait_ms for _, so in stmts) / 1000, 3)
        res.slowest = [SlowStatement(f, so.index, so.line, so.summary, so.duration_ms or 0.0,
                                     so.lock_wait_ms)
                       for f, so in sorted(stmts, key=lambda x: -(x[1].duration_ms or 0))
                       [:slowest]]
        if up.status != "ok" and up.status != "nothing_to_do":
            res.status = "failed"
            res.notes.append("the migration failed on the rehearsal copy: it would fail in "
                             "production too")
            return res
        created_names = [n for fp in plan.files for s in fp.statements for n in s.creates]
        dropped = {t.name for fp in plan.files for s in fp.statements if s.kind == "DropStmt"
                   for t in s.targets}
        columns = [c for fp in plan.files for s in fp.statements for c in s.added_columns]
        with st.connect("nchat-tui rehearse") as sc:
            res.missing_objects = _objects_missing(
                sc, [n for n in created_names if n not in dropped], columns)
        if res.missing_objects:
            res.status = "failed"
        if pending_here and all(f.down_path for f in pending_here):
            down_opts = RunOptions(**{**opts.__dict__, "direction": "down",
                                      "to_version": str(pending_here[0].version - 1)})
            t0 = time.monotonic()
            down = Runner(st, down_opts, RunCallbacks(on_event=ev)).run()
            res.down_s = round(time.monotonic() - t0, 3)
            res.down = down.to_dict()
            if down.status not in ("ok", "nothing_to_do"):
                res.status = "failed"
                res.notes.append("a down migration failed on the rehearsal copy")
            else:
                with st.connect("nchat-tui rehearse") as sc:
                    after = schema_inventory(sc)
                res.inventory_differences = _diff(before, after, not had_ledger)
                if res.inventory_differences and res.status == "ok":
                    res.status = "mismatch"
        elif pending_here:
            res.notes.append("not every pending file has a down file: the downs were not "
                             "rehearsed")
        if prod_size and scratch_size and scratch_size[0]:
            res.size_ratio = round(prod_size[0] / scratch_size[0], 3)
            res.estimate_s = round((res.up_s or 0) * max(1.0, res.size_ratio), 3)
        res.notes.append("the estimate scales the rehearsal's time by the database's growth "
                         "since the backup; production adds lock waits behind live traffic, "
                         "which a scratch copy has none of")
        return res
    except NchatError as exc:
        res.status = "failed"
        res.notes.append(exc.one_line())
        raise
    finally:
        if created and not keep:
            try:
                _drop_database(target, scratch)
                res.dropped = True
            except (psycopg.Error, NchatError) as exc:
                res.notes.append(f"the scratch database {scratch} could not be dropped "
                                 f"({exc}): nchat-tui backups --remove-leftovers drops it later")
        elif created and keep:
            with contextlib.suppress(psycopg.Error, NchatError):
                _set_comment(target, scratch, f"{KEPT_MARK} rehearsal copy of "
                                              f"{target.database}, kept on request")
        if journal is not None:
            journal.append("rehearse_finished", status=res.status, scratch_database=scratch,
                           dropped=res.dropped, up_s=res.up_s, down_s=res.down_s,
                           estimate_s=res.estimate_s,
                           slowest=[asdict(s) for s in res.slowest],
                           inventory_differences=res.inventory_differences[:50],
                           missing_objects=res.missing_objects)
