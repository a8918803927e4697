"""Guided troubleshooting: the seeds' problem cases as decision trees of live checks.

A tree (``TREES``) is data: steps, each naming a check and the step to go to when the check
finds a problem or not. A check looks at the live target and returns a ``Finding``: a status,
a one-line summary, the evidence it saw, and the action it proposes (in words, as SQL to
review, and for maintenance as a ``Fix`` that ``run_fix`` executes after confirmation, with
progress). The trees cover connection errors, missing data, slow performance and the five
v0.4.0 cases of seed 004.

What it must never do: change the database on its own. Checks read (a read-only connection
with short timeouts); only ``run_fix`` writes, and only when ``confirmed=True``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.errors import BadInput, ConnectError, NchatError, OperationFailed, Refused
from nchat_tui.monitor.sampler import OWN_SESSIONS, Monitor
from nchat_tui.pg.guard import connect_guarded, describe_lock_wait
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.relnames import AmbiguousTable, UnknownTable, resolve_tables
from nchat_tui.pg.scrub import scrub_rows
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import run_captured
from nchat_tui.state.journal import Journal

APPLICATION_NAME = "nchat-tui troubleshoot"
FIX_APPLICATION_NAME = "nchat-tui troubleshoot fix"
STATUSES = ("ok", "problem", "warning", "info", "error", "skipped")
GIB = 1024 ** 3
FIX_LOCK_MODES = {"analyze": "ShareUpdateExclusiveLock", "vacuum": "ShareUpdateExclusiveLock",
                  "reindex": "ShareUpdateExclusiveLock", "create_index": "ShareUpdateExclusiveLock"}
"""The lock each fix waits for on its table (all CONCURRENTLY-style: reads and writes go on)."""


@dataclass
class Fix:
    """A maintenance action a finding proposes; ``run_fix`` runs it after confirmation."""

    kind: str
    """``analyze``, ``vacuum``, ``reindex`` or ``create_index``."""
    schema: str
    table: str
    index: str | None = None
    columns: list[str] = field(default_factory=list)

    def statement(self) -> sql.Composed:
        tbl = sql.Identifier(self.schema, self.table)
        if self.kind == "analyze":
            return sql.SQL("ANALYZE {}").format(tbl)
        if self.kind == "vacuum":
            return sql.SQL("VACUUM (ANALYZE) {}").format(tbl)
        if self.kind == "reindex" and self.index:
            return sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(
                sql.Identifier(self.schema, self.index))
        if self.kind == "create_index" and self.columns:
            name = f"{self.table}_{'_'.join(self.columns)}_idx"[:63]
            return sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(name), tbl, sql.SQL(", ").join(map(sql.Identifier, self.columns)))
        raise BadInput(f"unknown fix {self.kind!r}")

    def text(self) -> str:
        return self.statement().as_string(None)


@dataclass
class Finding:
    """What one check saw."""

    check: str
    status: str
    """One of ``STATUSES``: ``problem`` means this check found a cause."""
    summary: str
    evidence: Any = None
    action: str | None = None
    """What the operator should do, in words."""
    action_sql: str | None = None
    """SQL to review and run by hand (never run by the tool)."""
    fixes: list[Fix] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fixes"] = [{**asdict(f), "sql": f.text()} for f in self.fixes]
        return d


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    check: str
    on_problem: str | None
    """Next step when the check finds a problem (None: the walk ends here)."""
    on_ok: str | None
    """Next step otherwise."""


@dataclass(frozen=True)
class Tree:
    name: str
    title: str
    description: str
    steps: tuple[Step, ...]

    @property
    def first(self) -> str:
        return self.steps[0].id

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


def _chain(*steps: tuple[str, str, str]) -> tuple[Step, ...]:
    """Steps that all run in order whatever each finds (a checklist-shaped tree)."""
    out = []
    for i, (sid, title, check) in enumerate(steps):
        nxt = steps[i + 1][0] if i + 1 < len(steps) else None
        out.append(Step(sid, title, check, on_problem=nxt, on_ok=nxt))
    return tuple(out)


TREES: dict[str, Tree] = {
    "connection": Tree(
        "connection", "Cannot connect",
        "pg_isready first; when nothing answers, name the cause (DNS, refused port); when the "
        "server answers, try a real login and name why it fails (password, role, database, "
        "pg_hba.conf, no free connection slots).",
        (
            Step("isready", "Is the server answering? (pg_isready)", "pg_isready",
                 on_problem="dns", on_ok="login"),
            Step("dns", "Does the host name resolve?", "dns", on_problem=None, on_ok="port"),
            Step("port", "Does anything listen on the port?", "port", on_problem=None,
                 on_ok="login"),
            Step("login", "Can we log in to the database?", "login", on_problem=None,
                 on_ok="slots"),
            Step("slots", "Are connection slots left?", "connection_slots", on_problem=None,
                 on_ok=None),
        )),
    "missing-data": Tree(
        "missing-data", "Data looks missing",
        "Counts against the before-snapshot, then the usual innocent causes (soft-deleted "
        "rows, row-level security, a writer that has not committed, rolled-back "
        "transactions), then the restore option.",
        _chain(
            ("counts", "Row counts against the before-snapshot", "row_counts"),
            ("soft_deleted", "Rows marked deleted, not deleted", "soft_deleted"),
            ("rls", "Row-level security filtering this role", "rls"),
            ("idle_writers", "Writers idle in an open transaction", "idle_writers"),
            ("rollbacks", "Rolled-back transactions", "rollbacks"),
            ("restore", "The restore option", "restore_option"),
        )),
    "slow": Tree(
        "slow", "Everything is slow",
        "Lock waits first (a DDL statement queueing the app behind it), then what sessions "
        "wait on, which statements got slower, then the planner and storage causes: tables "
        "never analyzed, foreign keys without an index, dead tuples, invalid indexes.",
        _chain(
            ("locks", "Sessions waiting for locks", "locks"),
            ("waits", "What active sessions wait on", "wait_events"),
            ("statements", "Statements that are slow now", "slow_statements"),
            ("analyze", "Tables never analyzed", "never_analyzed"),
            ("fk_index", "Foreign keys without an index", "fk_without_index"),
            ("dead", "Dead tuples and bloat", "dead_tuples"),
            ("invalid", "Invalid indexes", "invalid_indexes"),
        )),
    "v040": Tree(
        "v040", "v0.4.0 migration problems (seed 004)",
        "The five troubleshooting cases of the v0.4.0 guide, checked before or after a failed "
        "run: orphaned identity keys, duplicate device ids, disk space, statement timeout, "
        "permission denied.",
        _chain(
            ("orphans", "Issue 1: orphaned identity keys (foreign key error)",
             "orphaned_identity_keys"),
            ("duplicates", "Issue 2: duplicate device ids (materialized view unique index)",
             "duplicate_device_ids"),
            ("disk", "Issue 3: disk space", "disk_space"),
            ("timeout", "Issue 4: statement timeout", "statement_timeout"),
            ("permissions", "Issue 5: permission denied", "permissions"),
        )),
}


# -- the context checks run in ----------------------------------------------------------------
@dataclass
class CheckContext:
    """What checks need: the target, an optional before-snapshot, and a lazy connection."""

    target: Target
    before: dict[str, int] | None = None
    """Exact row counts taken before the change: ``{"schema.table": rows}``."""
    min_free_bytes: int | None = None
    """Free disk space the disk check requires (default: max(1 GiB, a quarter of the db))."""
    delta_s: float = 1.0
    """How long the slow-statement check watches pg_stat_statements."""
    statement_timeout_ms: int = 30000
    _conn: psycopg.Connection[Any] | None = None

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            # lock and statement timeouts from the guard (a lock wait names its holder)
            conn = connect_guarded(self.target, APPLICATION_NAME,
                                   statement_timeout=self.statement_timeout_ms / 1000)
            conn.execute("SET default_transaction_read_only = on")
            conn.execute("SET jit = off")  # compiling catalog queries costs more than running
            OWN_SESSIONS.add(conn.info.backend_pid, APPLICATION_NAME)
            self._conn = conn
        return self._conn

    def rows(self, name: str, params: dict[str, Any] | None = None,
             **fmt: sql.Composable) -> list[dict[str, Any]]:
        name = f"checks/{name}.sql"
        if fmt and params:
            # psycopg reads a "%s" inside a quoted name as a placeholder when parameters
            # are passed: a query that takes names never takes parameters too
            raise ValueError(f"{name}: identifiers and parameters in one query")
        query: sql.Composed | str = sql_template(name).format(**fmt) if fmt else sql_text(name)
        with self.conn().cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return scrub_rows(cur.fetchall())  # other sessions' SQL: secrets masked here

    def relation(self, key: str) -> tuple[str, str] | None:
        """(schema, name) of the table a key names (``public.t``, ``"a.b".c``), else None."""
        try:
            return resolve_tables(self.conn(), [key])[key]
        except (UnknownTable, AmbiguousTable):
            return None

    def exists(self, key: str) -> bool:
        return self.relation(key) is not None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                OWN_SESSIONS.discard(self._conn.info.backend_pid)
                self._conn.close()
            self._conn = None


CheckFn = Callable[[CheckContext], Finding]
CHECKS: dict[str, CheckFn] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        return fn
    return deco


def run_check(name: str, ctx: CheckContext) -> Finding:
    """Run one check; a failure of the check itself becomes an ``error`` finding."""
    try:
        return CHECKS[name](ctx)
    except ConnectError as exc:
        return Finding(name, "error", f"cannot connect: {exc.message}", {"kind": exc.kind},
                       action=exc.hint)
    except NchatError as exc:
        return Finding(name, "error", exc.message, action=exc.hint)
    except psycopg.errors.LockNotAvailable:
        where = ctx._conn if ctx._conn is not None else None
        what = f"the check {name}"
        summary = (describe_lock_wait(where, what) if where is not None
                   else f"{what}: gave up waiting for a lock")
        return Finding(name, "error", summary, {"sqlstate": "55P03"},
                       action="wait for that session to finish (or end it from the monitor), "
                              "then walk the tree again")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Finding(name, "error", f"the check's query failed: {first}",
                       {"sqlstate": getattr(exc, "sqlstate", None)})


def walk(tree_name: str, ctx: CheckContext,
         on_finding: Callable[[Step, Finding], None] | None = None) -> list[Finding]:
    """Walk one tree from its first step, following each finding's branch."""
    tree = TREES[tree_name]
    findings: list[Finding] = []
    step_id: str | None = tree.first
    seen: set[str] = set()
    while step_id is not None and step_id not in seen:
        seen.add(step_id)
        step = tree.step(step_id)
        f = run_check(step.check, ctx)
        findings.append(f)
        if on_finding is not None:
            on_finding(step, f)
        step_id = step.on_problem if f.status in ("problem", "error") else step.on_ok
    return findings


def normalize_snapshot(snap: Any) -> dict[str, int]:
    """Row counts from a before-snapshot: ``{"schema.table": n}``, or a snapshot dict with
    ``tables`` (a mapping of names to counts or to ``{"rows": n}``, or a list of entries with
    ``schema``/``name`` or ``table`` and ``rows``/``row_count``/``count``)."""
    if not isinstance(snap, dict):
        raise BadInput("a before-snapshot must be a JSON object")
    if isinstance(snap.get("snapshot"), dict):  # a backup manifest: its snapshot's counts
        snap = snap["snapshot"]
    if isinstance(snap.get("row_counts"), dict):
        snap = {"tables": snap["row_counts"]}
    tables = snap.get("tables", snap)
    out: dict[str, int] = {}

    def qual(name: str, schema: str | None = None) -> str:
        if schema:
            return f"{schema}.{name}"
        return name if "." in name else f"public.{name}"

    def count_of(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        if isinstance(v, dict):
            for k in ("rows", "row_count", "count", "exact_rows", "n"):
                if isinstance(v.get(k), int):
                    return int(v[k])
        return None

    if isinstance(tables, dict):
        for name, v in tables.items():
            n = count_of(v)
            if n is not None:
                sch = v.get("schema") if isinstance(v, dict) else None
                out[qual(str(name), sch)] = n
    elif isinstance(tables, list):
        for v in tables:
            if not isinstance(v, dict):
                continue
            name = v.get("qualified_name") or v.get("table") or v.get("name")
            n = count_of(v)
            if name and n is not None:
                out[qual(str(name), v.get("schema"))] = n
    if not out:
        raise BadInput("the before-snapshot holds no table row counts")
    return out


def load_snapshot(path: str | Path) -> dict[str, int]:
    try:
        return normalize_snapshot(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read the before-snapshot {path}: {exc}") from None


def _split(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.partition(".")
    return (schema, name) if name else ("public", schema)


# -- connection checks ------------------------------------------------------------------------
def _where(ctx: CheckContext) -> dict[str, str]:
    e = ctx.target.effective()
    return {"host": e["host"], "port": e["port"], "dbname": e["dbname"], "user": e["user"]}


@check("pg_isready")
def check_pg_isready(ctx: CheckContext) -> Finding:
    w = _where(ctx)
    cmd = ["pg_isready", "-t", "5", "-d", w["dbname"], "-U", w["user"], "-p", w["port"]]
    if w["host"] != "local socket":
        cmd += ["-h", w["host"]]
    if ctx.target.docker:
        cmd = ["docker", "exec", ctx.target.docker, "pg_isready", "-t", "5", "-U", w["user"],
               "-d", w["dbname"]]
    exe = shutil.which(cmd[0])
    if exe is None:
        return Finding("pg_isready", "skipped", f"{cmd[0]} is not installed here", w)
    proc = run_captured(cmd, ctx.target.subprocess_env(), timeout=20)
    meaning = {0: "accepting connections", 1: "rejecting connections (starting up or "
               "shutting down)", 2: "no response", 3: "no attempt made (bad parameters)"}
    ev = {**w, "exit_code": proc.returncode, "output": proc.stdout.strip() or proc.stderr.strip(),
          "meaning": meaning.get(proc.returncode, "unknown")}
    if proc.returncode == 0:
        return Finding("pg_isready", "ok", f"the server at {w['host']}:{w['port']} is accepting "
                       "connections", ev)
    if proc.returncode == 1:
        return Finding("pg_isready", "problem", "the server is up but rejecting connections "
                       "(starting up, shutting down or in recovery)", ev,
                       action="wait for it to finish starting; check the server log")
    return Finding("pg_isready", "problem", f"no answer from {w['host']}:{w['port']} "
                   f"({ev['meaning']})", ev, action="find out why: host name, port, server down")


@check("dns")
def check_dns(ctx: CheckContext) -> Finding:
    w = _where(ctx)
    host = w["host"]
    if host == "local socket" or host.startswith("/"):
        return Finding("dns", "ok", "a local socket: no name to resolve", w)
    try:
        infos = socket.getaddrinfo(host, int(w["port"]), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Finding("dns", "problem", f"the host name {host!r} does not resolve: {exc}", w,
                       action="check the host (POSTGRES_HOST / --dsn). POSTGRES_HOST=postgres "
                              "is a Docker network name; from the host use 127.0.0.1")
    addrs = sorted({str(i[4][0]) for i in infos})
    return Finding("dns", "ok", f"{host} resolves to {', '.join(addrs)}", {**w, "addresses": addrs})


@check("port")
def check_port(ctx: CheckContext) -> Finding:
    w = _where(ctx)
    host, port = w["host"], int(w["port"])
    if host == "local socket" or host.startswith("/"):
        dirs = [host] if host.startswith("/") else ["/var/run/postgresql", "/tmp"]
        for d in dirs:
            if Path(d, f".s.PGSQL.{port}").exists():
                return Finding("port", "ok", f"the socket {d}/.s.PGSQL.{port} exists", w)
        return Finding("port", "problem", f"no PostgreSQL socket for port {port} in "
                       f"{', '.join(dirs)}", w, action="is PostgreSQL running? (nself status / "
                       "docker ps); or give --dsn with host and port")
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except ConnectionRefusedError:
        return Finding("port", "problem", f"connection refused on {host}:{port}: nothing "
                       "listens there", w, action="start PostgreSQL (nself start) or fix "
                       "POSTGRES_PORT; nself publishes Postgres on 127.0.0.1:$POSTGRES_PORT")
    except OSError as exc:
        return Finding("port", "problem", f"{host}:{port} unreachable: {exc}", w,
                       action="check the network path and firewall")
    return Finding("port", "ok", f"{host}:{port} accepts TCP connections", w)


@check("login")
def check_login(ctx: CheckContext) -> Finding:
    w = _where(ctx)
    try:
        ctx.conn()
    except ConnectError as exc:
        return Finding("login", "problem", exc.message, {**w, "cause": exc.kind},
                       action=exc.hint)
    row = ctx.conn().execute(sql_text("checks/server_version_text.sql")).fetchone()
    return Finding("login", "ok", f"logged in as {w['user']} to {w['dbname']}",
                   {**w, "version": row[0] if row else None})


@check("connection_slots")
def check_connection_slots(ctx: CheckContext) -> Finding:
    r = ctx.rows("connection_slots")[0]
    free = r["max_connections"] - r["reserved"] - r["used"]
    ev = dict(r)
    if free <= max(2, r["max_connections"] // 20):
        return Finding("connection_slots", "problem",
                       f"{r['used']} of {r['max_connections']} connections used, {free} left "
                       f"for non-superusers", ev,
                       action="close idle sessions (monitor: sessions idle in transaction) or "
                              "lower the app's pool size; raise max_connections (restart)")
    return Finding("connection_slots", "ok", f"{r['used']} of {r['max_connections']} "
                   f"connections used, {free} free", ev)


# -- missing data -----------------------------------------------------------------------------
@check("row_counts")
def check_row_counts(ctx: CheckContext) -> Finding:
    role = ctx.conn().execute(sql_text("checks/counting_role.sql")).fetchone()
    who = {"counted_as": role[0] if role else None, "sees_all_rows": bool(role and role[1])}
    if not ctx.before:
        names = [t for t in ("public.nchat_users", "public.nchat_channels",
                             "public.nchat_messages") if ctx.exists(t)]
        counts = {}
        for t in names:
            counts[t] = ctx.rows("count_rows", table=sql.Identifier(*_split(t)))[0]["n"]
            # fixed, plain names: splitting these on their dot is exact
        return Finding("row_counts", "info", "no before-snapshot given: current counts only",
                       {**who, "counts": counts},
                       action="give the snapshot taken before the change (--before FILE) to "
                              "compare")
    missing_tables: list[str] = []
    fewer: list[str] = []
    same = 0
    details: list[dict[str, Any]] = []
    for t, before in sorted(ctx.before.items()):
        rel = ctx.relation(t)
        if rel is None:
            missing_tables.append(t)
            details.append({"table": t, "before": before, "now": None})
            continue
        now = ctx.rows("count_rows", table=sql.Identifier(*rel))[0]["n"]
        details.append({"table": t, "before": before, "now": now, "diff": now - before})
        if now < before:
            fewer.append(t)
        else:
            same += 1
    ev = {**who, "tables": [d for d in details if d["now"] is None or d["now"] < d["before"]],
          "unchanged_or_grown": same}
    if missing_tables or fewer:
        lost = sum(d["before"] - (d["now"] or 0) for d in details
                   if d["now"] is None or d["now"] < d["before"])
        parts = []
        if missing_tables:
            parts.append(f"{len(missing_tables)} table(s) gone ({', '.join(missing_tables[:3])})")
        if fewer:
            parts.append(f"{len(fewer)} table(s) with fewer rows ({', '.join(fewer[:3])})")
        return Finding("row_counts", "problem", "; ".join(parts) + f": {lost} row(s) fewer "
                       "than before", ev,
                       action="check the next steps (soft deletes, RLS, uncommitted writers) "
                              "before restoring")
    return Finding("row_counts", "ok", f"all {same} tables have at least their rows of "
                   "before", ev)


@check("soft_deleted")
def check_soft_deleted(ctx: CheckContext) -> Finding:
    cols = ctx.rows("soft_delete_columns")
    out = []
    for c in cols:
        col = sql.Identifier(c["column"])
        pred = col if c["is_boolean"] else sql.SQL("{} IS NOT NULL").format(col)
        r = ctx.rows("count_soft_deleted", table=sql.Identifier(c["schema"], c["table"]),
                     deleted=pred)[0]
        if r["deleted"]:
            out.append({"table": f"{c['schema']}.{c['table']}", "column": c["column"],
                        "deleted": r["deleted"], "total": r["total"]})
    if out:
        top = ", ".join(f"{x['table']} {x['deleted']} by {x['column']}" for x in out[:3])
        return Finding("soft_deleted", "problem", f"rows are marked deleted, not gone: {top}",
                       out, action="these rows still exist; the app hides them. Compare counts "
                       "without them before concluding data was lost")
    return Finding("soft_deleted", "ok", f"no soft-deleted rows in {len(cols)} soft-delete "
                   "column(s)", {"columns": len(cols)})


@check("rls")
def check_rls(ctx: CheckContext) -> Finding:
    rows = ctx.rows("rls_tables")
    filtered = [r for r in rows if r["filtered"]]
    if filtered:
        role = ctx.conn().execute(sql_text("checks/current_role.sql")).fetchone()
        return Finding("rls", "problem", f"row-level security filters {len(filtered)} table(s) "
                       f"for role {role[0] if role else '?'}: its counts are not the real ones",
                       filtered, action=f"count as the table owner ({filtered[0]['owner']}) or a "
                       "superuser")
    return Finding("rls", "ok", f"{len(rows)} table(s) with row-level security; none filters "
                   "this role", rows)


@check("idle_writers")
def check_idle_writers(ctx: CheckContext) -> Finding:
    rows = ctx.rows("idle_writers")
    if rows:
        r = rows[0]
        return Finding("idle_writers", "problem",
                       f"{len(rows)} session(s) wrote and did not commit: pid {r['pid']} "
                       f"({r['application'] or 'no name'}, {r['user']}) idle "
                       f"{r['idle_s']:.0f}s", rows,
                       action="their rows are invisible until they commit, and lost if they "
                              "roll back: find the client, or cancel/terminate from the monitor",
                       action_sql=f"SELECT pg_terminate_backend({r['pid']});")
    return Finding("idle_writers", "ok", "no session holds uncommitted writes")


@check("rollbacks")
def check_rollbacks(ctx: CheckContext) -> Finding:
    r = ctx.rows("rollbacks")[0]
    total = (r["commits"] or 0) + (r["rollbacks"] or 0)
    ratio = (r["rollbacks"] or 0) / total if total else 0.0
    ev = {**r, "rollback_ratio": round(ratio, 4)}
    if r["suspect_tables"]:
        t = r["suspect_tables"][0]
        return Finding("rollbacks", "problem", f"{r['rollbacks']} transactions rolled back; "
                       f"{t['table']} has more dead ({t['dead']}) than live ({t['live']}) rows: "
                       "inserts that were rolled back", ev,
                       action="the writes never committed: rerun them (check the app's and the "
                              "migration's logs for errors)")
    if ratio > 0.05:
        return Finding("rollbacks", "warning", f"{ratio:.0%} of transactions rolled back "
                       f"({r['rollbacks']} since {r['stats_reset'] or 'the stats began'})", ev,
                       action="check the application logs for failing writes")
    return Finding("rollbacks", "ok", f"{r['rollbacks']} rollbacks of {total} transactions", ev)


@check("restore_option")
def check_restore_option(ctx: CheckContext) -> Finding:
    d = ctx.target.backup_dir
    files: list[dict[str, Any]] = []
    if d.is_dir():
        for p in sorted(d.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
            if p.suffix in (".dump", ".sql", ".gz", ".backup") or p.is_dir():
                files.append({"path": str(p), "bytes": p.stat().st_size,
                              "modified": time.strftime("%Y-%m-%d %H:%M:%S",
                                                        time.localtime(p.stat().st_mtime))})
    if files:
        return Finding("restore_option", "info", f"{len(files)} backup(s) in {d}; newest "
                       f"{Path(files[0]['path']).name}", files[:10],
                       action="restore into a NEW database, verify it, then swap names "
                              "(never drop the current database first)")
    return Finding("restore_option", "warning", f"no backup found in {d}", {"backup_dir": str(d)},
                   action="take a backup now before changing anything else")


# -- slow performance -------------------------------------------------------------------------
@check("locks")
def check_locks(ctx: CheckContext) -> Finding:
    mon = Monitor(ctx.target)
    try:
        s = mon.sample()
    finally:
        mon.close()
    locks = s.locks
    lw = locks.longest
    if locks.waiting and lw is not None:
        roots = [n for n in locks.tree if not n.waiting]
        root = max(roots, key=lambda n: n.queue) if roots else None
        summary = (f"{locks.waiting} session(s) wait for locks; longest "
                   f"{lw.wait_s or 0:.1f}s for {lw.mode} on {lw.relation or 'a transaction'}")
        action = None
        action_sql = None
        if root:
            summary += (f"; pid {root.pid} ({root.application or 'no name'}, "
                        f"{root.state}) blocks {root.queue}")
            action = (f"end the blocker pid {root.pid} (monitor: cancel, or terminate if "
                      "idle in transaction), or cancel the waiting DDL and retry it with a "
                      "lock_timeout")
            action_sql = f"SELECT pg_cancel_backend({root.pid});"
        return Finding("locks", "problem", summary, [r.to_json() for r in locks.rows],
                       action=action, action_sql=action_sql)
    return Finding("locks", "ok", "no session waits for a lock")


@check("wait_events")
def check_wait_events(ctx: CheckContext) -> Finding:
    rows = ctx.rows("wait_events")
    waiting = [r for r in rows if r["wait_event_type"] not in ("CPU", "Client", "Activity")]
    if waiting:
        r = waiting[0]
        hint = {"Lock": "see the lock step", "LWLock": "internal contention: often too many "
                "active sessions", "IO": "disk reads/writes: check cache hit ratio and I/O",
                "IPC": "parallel query or replication sync waits", "BufferPin": "a cursor "
                "holds a page VACUUM needs"}.get(r["wait_event_type"], "")
        return Finding("wait_events", "problem", f"{r['sessions']} active session(s) wait on "
                       f"{r['wait_event_type']}:{r['wait_event']}", rows,
                       action=hint or "look up the wait event in the PostgreSQL docs")
    return Finding("wait_events", "ok", f"{sum(r['sessions'] for r in rows)} active "
                   "session(s), none waiting on locks, I/O or internals", rows)


@check("slow_statements")
def check_slow_statements(ctx: CheckContext) -> Finding:
    mon = Monitor(ctx.target, slow_limit=10)
    try:
        mon.sample()
        time.sleep(ctx.delta_s)
        s = mon.sample()
    finally:
        mon.close()
    sq = s.slow_queries
    if sq.unavailable:
        return Finding("slow_statements", "skipped", f"pg_stat_statements unavailable: "
                       f"{sq.unavailable}", sq.to_json(), action=sq.fix)
    active = [q for q in sq.top_by_total if q.calls_delta]
    ev = {"interval_s": s.interval_s, "active": [q.to_json() for q in active[:5]],
          "by_mean": [q.to_json() for q in sq.top_by_mean[:5]]}
    slow_now = [q for q in active if (q.mean_ms_delta or 0) > 100]
    if slow_now:
        q = slow_now[0]
        return Finding("slow_statements", "problem", f"{len(slow_now)} statement(s) ran with a "
                       f"mean over 100 ms in the last {ctx.delta_s:g}s; worst "
                       f"{q.mean_ms_delta or 0:.0f} ms: {' '.join(q.query.split())[:80]}", ev,
                       action="EXPLAIN it from the dashboard (safe EXPLAIN) and look for a "
                              "sequential scan on a large table or a missing index")
    top = sq.top_by_mean[0] if sq.top_by_mean else None
    return Finding("slow_statements", "ok", f"{len(active)} statement(s) ran in the last "
                   f"{ctx.delta_s:g}s, none with a mean over 100 ms"
                   + (f"; slowest overall {top.mean_ms:.0f} ms mean" if top else ""), ev)


@check("never_analyzed")
def check_never_analyzed(ctx: CheckContext) -> Finding:
    rows = ctx.rows("never_analyzed")
    if rows:
        fixes = [Fix("analyze", r["schema"], r["table"]) for r in rows[:20]]
        return Finding("never_analyzed", "problem", f"{len(rows)} table(s) with rows were never "
                       f"analyzed: {', '.join(r['table'] for r in rows[:3])}", rows,
                       action="ANALYZE them (the planner guesses without statistics)",
                       fixes=fixes)
    return Finding("never_analyzed", "ok", "every table with rows has statistics")


@check("fk_without_index")
def check_fk_without_index(ctx: CheckContext) -> Finding:
    rows = ctx.rows("fk_without_index")
    if rows:
        fixes = [Fix("create_index", r["schema"], r["table"], columns=list(r["columns"]))
                 for r in rows[:20]]
        names = ", ".join(f"{r['table']}({','.join(r['columns'])})" for r in rows[:3])
        return Finding("fk_without_index", "problem", f"{len(rows)} foreign key(s) without an "
                       f"index: {names}", rows,
                       action="create the index CONCURRENTLY (no write lock)", fixes=fixes)
    return Finding("fk_without_index", "ok", "every foreign key has an index")


@check("dead_tuples")
def check_dead_tuples(ctx: CheckContext) -> Finding:
    rows = ctx.rows("dead_tuples", {"min_dead": 1000, "ratio": 0.2})
    if rows:
        fixes = [Fix("vacuum", r["schema"], r["table"]) for r in rows[:20]]
        r = rows[0]
        return Finding("dead_tuples", "problem", f"{len(rows)} table(s) with many dead tuples; "
                       f"{r['schema']}.{r['table']} {r['dead_tuples']} dead / "
                       f"{r['live_tuples']} live", rows, action="VACUUM (ANALYZE) them",
                       fixes=fixes)
    return Finding("dead_tuples", "ok", "no table with more than 20% dead tuples")


@check("invalid_indexes")
def check_invalid_indexes(ctx: CheckContext) -> Finding:
    rows = ctx.rows("invalid_indexes")
    if rows:
        fixes = [Fix("reindex", r["schema"], r["table_name"], index=r["index"])
                 for r in rows[:20]]
        return Finding("invalid_indexes", "problem", f"{len(rows)} invalid index(es) (a failed "
                       f"concurrent build): {', '.join(r['index'] for r in rows[:3])}", rows,
                       action="REINDEX CONCURRENTLY them, or drop them and build again",
                       fixes=fixes)
    return Finding("invalid_indexes", "ok", "no invalid index")


# -- the five v0.4.0 cases --------------------------------------------------------------------
@check("orphaned_identity_keys")
def check_orphaned_identity_keys(ctx: CheckContext) -> Finding:
    if not ctx.exists("public.nchat_identity_keys"):
        return Finding("orphaned_identity_keys", "ok", "public.nchat_identity_keys does not "
                       "exist yet: the migration creates it empty, no orphans possible")
    if not ctx.exists("public.nchat_users"):
        return Finding("orphaned_identity_keys", "problem", "public.nchat_users does not "
                       "exist: every foreign key to it fails",
                       action="is this the nChat database? check the target")
    r = ctx.rows("orphaned_identity_keys")[0]
    if r["orphans"]:
        return Finding("orphaned_identity_keys", "problem", f"{r['orphans']} identity key(s) "
                       "belong to users that no longer exist: the foreign key to nchat_users "
                       "will fail", r,
                       action="back up, then delete the orphans (review first), then retry",
                       action_sql="DELETE FROM public.nchat_identity_keys k WHERE NOT EXISTS "
                                  "(SELECT 1 FROM public.nchat_users u WHERE u.id = k.user_id);")
    return Finding("orphaned_identity_keys", "ok", "every identity key has its user", r)


@check("duplicate_device_ids")
def check_duplicate_device_ids(ctx: CheckContext) -> Finding:
    if not ctx.exists("public.nchat_identity_keys"):
        return Finding("duplicate_device_ids", "ok", "public.nchat_identity_keys does not exist "
                       "yet: no duplicates possible")
    dups = ctx.rows("duplicate_device_ids")
    multi = (ctx.rows("multiple_active_prekeys") if ctx.exists("public.nchat_signed_prekeys")
             else [])
    ev = {"duplicate_device_ids": dups, "devices_with_several_active_prekeys": multi}
    if dups:
        return Finding("duplicate_device_ids", "problem", f"{len(dups)} device id(s) appear "
                       f"more than once (e.g. {dups[0]['device_id']!r} x{dups[0]['copies']}): "
                       "the unique index idx_prekey_bundles_device cannot be built", ev,
                       action="keep the newest row per device_id and delete the others, then "
                              "retry (an older draft table without the primary key allowed "
                              "them)",
                       action_sql="DELETE FROM public.nchat_identity_keys k USING "
                                  "public.nchat_identity_keys n WHERE k.device_id = n.device_id "
                                  "AND k.ctid < n.ctid;")
    if multi:
        return Finding("duplicate_device_ids", "problem", f"{len(multi)} device(s) have several "
                       "active signed prekeys: the view's join yields duplicate device ids and "
                       "its unique index fails (the guide's query misses this)", ev,
                       action="deactivate all but the newest active signed prekey per device",
                       action_sql="UPDATE public.nchat_signed_prekeys s SET is_active = false "
                                  "WHERE s.is_active AND EXISTS (SELECT 1 FROM "
                                  "public.nchat_signed_prekeys n WHERE n.device_id = s.device_id "
                                  "AND n.is_active AND n.rotation_date > s.rotation_date);")
    return Finding("duplicate_device_ids", "ok", "device ids are unique", ev)


def _free_bytes(ctx: CheckContext, data_directory: str | None) -> tuple[int | None, str]:
    """Free bytes where the data directory lives, and how we measured it."""
    if ctx.target.docker:
        proc = run_captured(["docker", "exec", ctx.target.docker, "df", "-Pk",
                             data_directory or "/var/lib/postgresql/data"], dict(os.environ),
                            timeout=20)
        if proc.returncode == 0:
            lines = proc.stdout.strip().splitlines()
            if len(lines) >= 2:
                return int(lines[-1].split()[3]) * 1024, f"df in container {ctx.target.docker}"
        return None, f"df in container {ctx.target.docker} failed: {proc.stderr.strip()}"
    host = ctx.target.effective()["host"]
    local = host in ("local socket", "localhost", "127.0.0.1", "::1") or host.startswith("/")
    if data_directory and local:
        with contextlib.suppress(OSError):
            return shutil.disk_usage(data_directory).free, f"disk_usage({data_directory})"
    if not data_directory:
        return None, "the data directory is hidden from this role (needs pg_read_all_settings)"
    return None, f"the server is remote ({host}): free space cannot be read from here"


@check("disk_space")
def check_disk_space(ctx: CheckContext) -> Finding:
    r = ctx.rows("disk_facts")[0]
    free, how = _free_bytes(ctx, r["data_directory"])
    need = ctx.min_free_bytes
    if need is None:
        need = max(GIB, int(r["database_size"]) // 4)
    ev = {"database_size": r["database_size"], "data_directory": r["data_directory"],
          "free_bytes": free, "measured_by": how, "required_bytes": need,
          "largest_table": r["largest_table"], "largest_index": r["largest_index"]}
    if free is None:
        return Finding("disk_space", "warning", f"free space unknown: {how}", ev,
                       action=f"check by hand that at least {need // (1024 ** 2)} MiB are free "
                              "on the server's data volume (df -h)")
    if free < need:
        return Finding("disk_space", "problem", f"only {free // (1024 ** 2)} MiB free, "
                       f"{need // (1024 ** 2)} MiB needed", ev,
                       action="free space on the data volume (old backups, docker system prune "
                              "for unused images only) or grow it, then retry")
    return Finding("disk_space", "ok", f"{free // (1024 ** 2)} MiB free, "
                   f"{need // (1024 ** 2)} MiB needed", ev)


def _ms(setting: str) -> int:
    """A time setting as PostgreSQL shows it ('0', '250ms', '30s', '10min', '1h') in ms."""
    s = setting.strip()
    units = {"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
    for u in ("ms", "min", "s", "h", "d"):
        if s.endswith(u):
            return int(float(s[: -len(u)]) * units[u])
    return int(s or 0)


#: Rough index build speed used to estimate the migration's longest statement.
INDEX_BUILD_BYTES_PER_S = 20 * 1024 ** 2
#: The nself Go CLI runs each migration file with statement_timeout=60s.
NSELF_GO_STATEMENT_TIMEOUT_S = 60


@check("statement_timeout")
def check_statement_timeout(ctx: CheckContext) -> Finding:
    r = ctx.rows("timeouts")[0]
    # what a fresh session of this role in this database gets (ours overrides it)
    effective = None
    for o in (r["overrides"] or []):
        for item in o["settings"]:
            k, _, v = item.partition("=")
            if k == "statement_timeout" and (effective is None or o["role"]):
                effective = v
    session_default = effective if effective is not None else "0"
    timeout_ms = _ms(session_default)
    msg_bytes = r["messages_bytes"] or 0
    estimate_s = max(5.0, msg_bytes / INDEX_BUILD_BYTES_PER_S)
    ev = {"statement_timeout_for_new_sessions": session_default, "overrides": r["overrides"],
          "nchat_messages_bytes": msg_bytes, "estimated_longest_statement_s": round(estimate_s),
          "nself_go_cli_statement_timeout_s": NSELF_GO_STATEMENT_TIMEOUT_S}
    if timeout_ms and timeout_ms / 1000 < estimate_s:
        return Finding("statement_timeout", "problem", f"statement_timeout is {session_default} "
                       f"for new sessions, but building the indexes on nchat_messages may take "
                       f"about {estimate_s:.0f}s", ev,
                       action="run the migration with a longer timeout for its session only "
                              "(nchat-tui sets it per session); do not change it server-wide",
                       action_sql="SET statement_timeout = '10min';  -- in the migration's "
                                  "session only")
    if estimate_s > NSELF_GO_STATEMENT_TIMEOUT_S:
        return Finding("statement_timeout", "warning", f"the nself Go CLI runs each file with "
                       f"statement_timeout=60s; the index builds may take about "
                       f"{estimate_s:.0f}s", ev,
                       action="run the migration from nchat-tui (no 60s cap) instead of nself "
                              "db migrate up")
    return Finding("statement_timeout", "ok", f"statement_timeout for new sessions is "
                   f"{session_default}; estimated longest statement {estimate_s:.0f}s", ev)


@check("permissions")
def check_permissions(ctx: CheckContext) -> Finding:
    rows = ctx.rows("migration_privileges")
    role = ctx.conn().execute(sql_text("checks/current_role.sql")).fetchone()
    me = role[0] if role else "?"
    if rows and rows[0]["superuser"]:
        return Finding("permissions", "ok", f"{me} is a superuser", rows)
    missing = []
    if rows and not rows[0]["can_create_in_public"]:
        missing.append("CREATE on schema public (PostgreSQL 15 no longer grants it to PUBLIC)")
    for r in rows:
        if r["exists"] and r["ok"] is False:
            missing.append(f"{'ownership of' if r['need'] == 'owner' else 'REFERENCES on'} "
                           f"public.{r['table']} (owner {r['owner']})")
    if missing:
        owners = sorted({r["owner"] for r in rows if r["exists"]})
        return Finding("permissions", "problem", f"role {me} cannot run the migration: missing "
                       + "; ".join(missing), rows,
                       action=f"connect as the tables' owner ({', '.join(owners) or 'postgres'})"
                              " (--dsn user=...). The guide's 'docker exec -u postgres' sets "
                              "the OS user, not the database role: psql -U decides")
    return Finding("permissions", "ok", f"{me} owns or may alter every table the migration "
                   "touches", rows)


# -- running a fix ----------------------------------------------------------------------------
def run_fix(target: Target, fix: Fix, *, confirmed: bool, journal: Journal | None = None,
            on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
            poll_s: float = 0.5, lock_timeout_ms: int = 5000) -> dict[str, Any]:
    """Run one maintenance fix on its own connection after confirmation, reporting progress
    (pg_stat_progress_* rows of its backend) through ``on_progress`` while it runs."""
    stmt = fix.text()
    if not confirmed:
        raise Refused(f"{stmt} needs confirmation", "confirm to run it")
    conn = connect_guarded(target, FIX_APPLICATION_NAME, lock_timeout=lock_timeout_ms / 1000)
    pid = conn.info.backend_pid
    OWN_SESSIONS.add(pid, FIX_APPLICATION_NAME)
    if journal is not None:
        journal.append("troubleshoot_fix_started", target=target.masked(), sql=stmt, pid=pid)
    outcome: dict[str, Any] = {}
    started = time.monotonic()

    def work() -> None:
        try:
            conn.execute(fix.statement())
            outcome["ok"] = True
        except psycopg.errors.LockNotAvailable:
            outcome["ok"] = False
            outcome["error"] = describe_lock_wait(
                conn, "the fix", mode=FIX_LOCK_MODES.get(fix.kind, "AccessExclusiveLock"),
                relation=(fix.schema, fix.table))
        except psycopg.Error as exc:
            outcome["ok"] = False
            outcome["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]

    t = threading.Thread(target=work, name="nchat-fix", daemon=True)
    t.start()
    mon = Monitor(target) if on_progress is not None else None
    try:
        while t.is_alive():
            t.join(poll_s)
            if mon is not None and on_progress is not None and t.is_alive():
                with contextlib.suppress(psycopg.Error, NchatError):
                    on_progress([p.to_json() for p in mon.progress(pid)])
    finally:
        if mon is not None:
            mon.close()
        OWN_SESSIONS.discard(pid)
        conn.close()
    result = {"sql": stmt, "ok": bool(outcome.get("ok")), "error": outcome.get("error"),
              "seconds": round(time.monotonic() - started, 3)}
    if journal is not None:
        journal.append("troubleshoot_fix_finished", target=target.masked(), **result)
    if not result["ok"]:
        raise OperationFailed(f"{stmt} failed: {result['error']}")
    return result


@contextlib.contextmanager
def context(target: Target, **kwargs: Any) -> Iterator[CheckContext]:
    ctx = CheckContext(target, **kwargs)
    try:
        yield ctx
    finally:
        ctx.close()
