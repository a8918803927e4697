"""Post-migration maintenance: VACUUM ANALYZE of the new and changed tables, REFRESH of the
materialized views, and the releases' optional cleanup jobs (seed 004's, in its release folder),
each confirmed and journaled.

- ``maintenance_plan``: which tables are new or changed since the before-snapshot, which
  materialized views exist and whether each can be refreshed CONCURRENTLY (a valid, plain
  unique index and a populated view), and the cleanup jobs with the rows each would delete.
- ``vacuum_analyze``: one ``VACUUM (ANALYZE)`` per table on a worker connection, its progress
  polled from ``pg_stat_progress_vacuum`` (and ``pg_stat_progress_analyze``) on a second
  connection; cancel sends ``pg_cancel_backend`` to the worker.
- ``refresh_matviews`` and ``run_cleanup``: the same pattern; a cleanup job counts first and
  deletes only when ``confirm`` says yes.

``confirm`` callbacks decide per item (None means "yes": the CLI passes None only with
``--yes``). Progress goes to ``progress(text, fraction)``. Every run is journaled
(``maintenance_*`` events). No textual here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.errors import BadInput
from nchat_tui.pg.guard import connect_guarded, describe_lock_wait, guarded
from nchat_tui.pg.objkeys import key as okey
from nchat_tui.pg.objkeys import parent, split_key
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.relnames import AmbiguousTable, UnknownTable, resolve_tables
from nchat_tui.pg.snapshot import schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.releases import registry
from nchat_tui.state.journal import Journal
from nchat_tui.verify.engine import diff_inventory, load_before

POLL_S = 0.2
PLAN_STATEMENT_TIMEOUT_S = 120.0
ProgressFn = Callable[[str, float | None], None]
Confirm = Callable[[str, dict[str, Any]], bool]
"""(what, facts) -> go ahead?"""

def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


def _journal(target: Target, journal: Any) -> Any:
    if journal is not None:
        return journal

    return Journal.for_target(target.state_dir, target.masked())


@dataclass
class MaintenancePlan:
    new_tables: list[str]
    changed_tables: list[str]
    matviews: list[dict[str, Any]]
    cleanup: list[dict[str, Any]]
    before_source: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return self.new_tables + [t for t in self.changed_tables if t not in self.new_tables]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tables"] = self.tables
        return d


def cleanup_counts(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Each release's cleanup job (seed 004's: ``releases/v0_4_0``) with the rows it would
    delete now (absent tables: skipped)."""
    out = []
    for job, spec in registry.cleanup_jobs().items():
        schema, table = spec["table"].split(".", 1)
        present = _rows(conn, "verify/column_exists.sql",
                        {"schema": schema, "table": table, "column": spec["column"]})[0]["present"]
        item: dict[str, Any] = {"job": job, "title": spec["title"], "table": spec["table"]}
        if not present:
            item.update(rows=None, note=f"table not there ({spec['release']} not applied)")
        else:
            item["rows"] = int(_rows(conn, spec["count"])[0]["rows"])
        out.append(item)
    return out


def maintenance_plan(target: Target, against: Any = None) -> MaintenancePlan:
    """New and changed tables since the before-snapshot, materialized views, cleanup jobs."""
    notes: list[str] = []
    with guarded(target, "nchat-tui maintenance", "the maintenance plan",
                 statement_timeout=PLAN_STATEMENT_TIMEOUT_S) as conn:
        after = schema_inventory(conn)
        source: str | None
        try:
            before, source = load_before(target, against, conn)
        except BadInput as exc:
            before, source = None, None
            notes.append(f"no before-snapshot ({exc.message}): every table is listed")
        mv = _rows(conn, "maintenance/matviews.sql")
        cleanup = cleanup_counts(conn)
    tables = {k for k, t in after["tables"].items() if t.get("kind") == "r"}
    if before is None:
        new, changed = sorted(tables), []
    else:
        d = diff_inventory(before["inventory"], after)
        # New materialized views are vacuumed and analyzed too: the planner needs their stats.
        new = sorted([k for k in d.get("tables", {}).get("added", {}) if k in tables]
                     + [k for k, v in d.get("views", {}).get("added", {}).items()
                        if v.get("kind") == "m"])
        touched: set[str] = set()
        for cat in ("columns", "indexes", "constraints", "triggers"):
            part = d.get(cat) or {}
            for change in ("added", "removed", "changed"):
                for key, obj in part.get(change, {}).items():
                    if cat == "indexes":
                        tbl = (obj or {}).get("table") if change != "changed" else \
                            (after["indexes"].get(key) or {}).get("table")
                        owner = okey(split_key(key)[0], tbl) if tbl else None
                    else:
                        owner = parent(key)
                    if owner and owner in tables and owner not in new:
                        touched.add(owner)
        changed = sorted(touched)
    matviews = [{"view": okey(m["schema"], m["name"]), "schema": m["schema"], "name": m["name"],
                 "populated": m["populated"],
                 "unique_index": m["unique_index"],
                 "concurrently": bool(m["unique_index"] and m["populated"])} for m in mv]
    return MaintenancePlan(new, changed, matviews, cleanup, source, notes)


@dataclass
class ItemResult:
    item: str
    status: str
    """done, skipped (not confirmed), cancelled, failed"""
    duration_s: float | None = None
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def _resolve(target: Target, keys: list[str]) -> dict[str, tuple[str, str] | str]:
    """(schema, name) of each table key, or why it names no single table."""
    out: dict[str, tuple[str, str] | str] = {}
    with guarded(target, "nchat-tui maintenance", "finding the tables",
                 statement_timeout=PLAN_STATEMENT_TIMEOUT_S) as conn:
        for k in keys:
            try:
                out[k] = resolve_tables(conn, [k])[k]
            except UnknownTable:
                out[k] = "no such table or view in this database"
            except AmbiguousTable:
                out[k] = "names more than one relation: write it quoted, e.g. \"a.b\".c"
    return out


def _run_watched(target: Target, statement: sql.Composed, *, label: str,
                 progress: ProgressFn, cancel: threading.Event | None,
                 watch: Callable[[psycopg.Connection[Any], int], str | None] | None,
                 mode: str, relation: tuple[str, str]) -> tuple[str, float, str]:
    """Run ``statement`` on a worker connection, polling ``watch`` on a second one. The worker
    waits at most the guard's lock timeout for ``mode`` on ``relation`` (VACUUM and REFRESH
    may then run for hours: no statement timeout); a lock wait that runs out names the holder."""
    worker = connect_guarded(target, f"nchat-tui maintenance: {label}")
    monitor = connect_guarded(target, "nchat-tui maintenance monitor", statement_timeout=10)
    pid = worker.info.backend_pid
    err: list[BaseException] = []
    locked = ""

    def work() -> None:
        try:
            worker.execute(statement)
        except BaseException as exc:  # reported by the caller
            err.append(exc)

    t0 = time.monotonic()
    th = threading.Thread(target=work, name=f"maintenance {label}", daemon=True)
    th.start()
    cancelled = False
    try:
        while th.is_alive():
            if cancel is not None and cancel.is_set() and not cancelled:
                _rows(monitor, "maintenance/cancel_backend.sql", {"pid": pid})
                cancelled = True
            if watch is not None:
                text = watch(monitor, pid)
                if text:
                    progress(f"{label}: {text}", None)
            th.join(POLL_S)
        th.join()
        if err and isinstance(err[0], psycopg.errors.LockNotAvailable):
            locked = describe_lock_wait(monitor, label, mode=mode, relation=relation)
    finally:
        th.join()
        worker.close()
        monitor.close()
    took = time.monotonic() - t0
    if err:
        exc = err[0]
        if isinstance(exc, psycopg.errors.QueryCanceled) and cancelled:
            return "cancelled", took, "cancelled by the operator"
        if locked:
            return "failed", took, locked
        msg = exc.diag.message_primary if isinstance(exc, psycopg.Error) else repr(exc)
        return "failed", took, str(msg)
    return "done", took, ""


def _vacuum_watch(monitor: psycopg.Connection[Any], pid: int) -> str | None:
    v = _rows(monitor, "maintenance/vacuum_progress.sql", {"pid": pid})
    if v:
        r = v[0]
        total = r["heap_blks_total"] or 0
        pct = f" {100 * r['heap_blks_scanned'] / total:.0f}%" if total else ""
        return (f"{r['phase']}{pct} ({r['heap_blks_scanned']}/{total} blocks scanned, "
                f"{r['index_vacuum_count']} index pass(es))")
    a = _rows(monitor, "maintenance/analyze_progress.sql", {"pid": pid})
    if a:
        r = a[0]
        total = r["sample_blks_total"] or 0
        return f"analyze: {r['phase']} ({r['sample_blks_scanned']}/{total} sample blocks)"
    return None


def vacuum_analyze(target: Target, tables: list[str], *, confirm: Confirm | None = None,
                   progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                   journal: Any = None) -> list[ItemResult]:
    """``VACUUM (ANALYZE)`` each table, confirmed one by one, with live progress."""
    say: ProgressFn = progress or (lambda _t, _f: None)
    j = _journal(target, journal)
    out: list[ItemResult] = []
    names = _resolve(target, tables) if tables else {}
    for n, key in enumerate(tables):
        if cancel is not None and cancel.is_set():
            out.append(ItemResult(key, "cancelled", detail="cancelled before it started"))
            continue
        if confirm is not None and not confirm(f"VACUUM (ANALYZE) {key}", {"table": key}):
            out.append(ItemResult(key, "skipped", detail="not confirmed"))
            j.append("maintenance_decision", job="vacuum", table=key, answer="no")
            continue
        rel = names[key]
        if isinstance(rel, str):
            out.append(ItemResult(key, "failed", detail=rel))
            j.append("maintenance_vacuum", table=key, status="failed", detail=rel)
            continue
        say(f"VACUUM (ANALYZE) {key}", n / max(len(tables), 1))
        stmt = sql_template("maintenance/vacuum_analyze.sql").format(table=sql.Identifier(*rel))
        status, took, detail = _run_watched(target, stmt, label=f"vacuum {key}", progress=say,
                                            cancel=cancel, watch=_vacuum_watch,
                                            mode="ShareUpdateExclusiveLock", relation=rel)
        res = ItemResult(key, status, round(took, 3), detail)
        out.append(res)
        j.append("maintenance_vacuum", table=key, status=status, duration_s=res.duration_s,
                 detail=detail or None)
    say("vacuum done", 1.0)
    return out


def refresh_matviews(target: Target, views: list[dict[str, Any]], *,
                     confirm: Confirm | None = None, progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None,
                     journal: Any = None) -> list[ItemResult]:
    """REFRESH each materialized view (CONCURRENTLY when ``concurrently`` is set)."""
    say: ProgressFn = progress or (lambda _t, _f: None)
    j = _journal(target, journal)
    out: list[ItemResult] = []
    for n, v in enumerate(views):
        key = v["view"]
        how = "CONCURRENTLY " if v.get("concurrently") else ""
        if cancel is not None and cancel.is_set():
            out.append(ItemResult(key, "cancelled", detail="cancelled before it started"))
            continue
        if confirm is not None and not confirm(f"REFRESH MATERIALIZED VIEW {how}{key}", v):
            out.append(ItemResult(key, "skipped", detail="not confirmed"))
            j.append("maintenance_decision", job="refresh", view=key, answer="no")
            continue
        rel = ((v["schema"], v["name"]) if v.get("schema") is not None and v.get("name")
               else _resolve(target, [key])[key])
        if isinstance(rel, str):
            out.append(ItemResult(key, "failed", detail=rel))
            j.append("maintenance_refresh", view=key, status="failed", detail=rel)
            continue
        say(f"REFRESH MATERIALIZED VIEW {how}{key}", n / max(len(views), 1))
        stmt = sql_template("maintenance/refresh_matview.sql").format(
            concurrently=sql.SQL("CONCURRENTLY" if how else ""), view=sql.Identifier(*rel))
        status, took, detail = _run_watched(
            target, stmt, label=f"refresh {key}", progress=say, cancel=cancel, watch=None,
            mode="ExclusiveLock" if how else "AccessExclusiveLock", relation=rel)
        res = ItemResult(key, status, round(took, 3), detail,
                         {"concurrently": bool(how), "unique_index": v.get("unique_index")})
        out.append(res)
        j.append("maintenance_refresh", view=key, concurrently=bool(how), status=status,
                 duration_s=res.duration_s, detail=detail or None)
    say("refresh done", 1.0)
    return out


def run_cleanup(target: Target, jobs: list[str] | None = None, *,
                confirm: Confirm | None = None, progress: ProgressFn | None = None,
                journal: Any = None) -> list[ItemResult]:
    """Count each cleanup job's rows, show them through ``confirm``, delete only on yes."""
    say: ProgressFn = progress or (lambda _t, _f: None)
    j = _journal(target, journal)
    known = registry.cleanup_jobs()
    wanted = jobs or list(known)
    for name in wanted:
        if name not in known:
            raise BadInput(f"unknown cleanup job {name!r} (known: {', '.join(known)})")
    out: list[ItemResult] = []
    # the DELETE may run long on a big log: a lock wait is bounded, the statement is not
    with guarded(target, "nchat-tui maintenance cleanup", "the cleanup") as conn:
        counts = {c["job"]: c for c in cleanup_counts(conn)}
        for name in wanted:
            c = counts[name]
            spec = known[name]
            if c["rows"] is None:
                out.append(ItemResult(name, "skipped", detail=c.get("note", "")))
                continue
            j.append("maintenance_cleanup_counted", job=name, rows=c["rows"], table=c["table"])
            if c["rows"] == 0:
                out.append(ItemResult(name, "skipped", detail="nothing to delete", evidence=c))
                continue
            if confirm is not None and not confirm(f"{spec['title']}: {c['rows']} row(s)", c):
                out.append(ItemResult(name, "skipped", detail="not confirmed", evidence=c))
                j.append("maintenance_decision", job=name, rows=c["rows"], answer="no")
                continue
            say(f"cleanup {name}: deleting {c['rows']} row(s)", None)
            t0 = time.monotonic()
            with conn.transaction():
                cur = conn.execute(sql_text(spec["delete"]))
                deleted = cur.rowcount
            res = ItemResult(name, "done", round(time.monotonic() - t0, 3),
                             f"deleted {deleted} row(s) ({c['rows']} counted before)",
                             {"counted": c["rows"], "deleted": deleted})
            out.append(res)
            j.append("maintenance_cleanup", job=name, counted=c["rows"], deleted=deleted,
                     duration_s=res.duration_s)
    return out
