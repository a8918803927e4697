"""Live observability of the target: one JSON-able sample at a time, and guarded actions.

``Monitor(target).sample()`` returns one ``Sample`` (``nchat_tui.monitor.model``; its
``to_json()`` is the JSON of ``nchat-tui monitor --json``) with the database size (measured between
samples by ``refresh_size()``, at most every 30 s), the top tables by size,
connections, slow queries (pg_stat_statements, with deltas since the previous sample), the
lock blocking tree, progress of vacuum/index builds/copy, the cache hit ratio and
transactions per second over the interval, replication, and ``sample_ms`` (our own cost).

What it must never do: wait on a lock held by the migration it watches, or hang. It uses its
own autocommit, read-only connection (``application_name`` ``nchat-tui monitor``) with a
short ``statement_timeout`` and ``lock_timeout``; table sizes come from catalog page counts
for any table with a granted or pending ACCESS EXCLUSIVE lock; ``pg_blocking_pids`` runs once
per sample on waiting sessions only. A panel whose query fails keeps its last data and is
listed under ``stale`` with since-when and why; ``sample()`` itself never raises.

Guarded actions (cancel, terminate, EXPLAIN) run on a separate short-lived connection, refuse
the tool's own sessions (``OWN_SESSIONS``), ask a second confirmation for superuser and
replication sessions, and are journaled when a journal is given. ``Monitor`` is both seams of
``nchat_tui.monitor.seams`` (``Sampler`` and ``BackendActions``). No Textual here.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import psycopg
from psycopg import errors as pgerr
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from nchat_tui.errors import BadInput, NchatError, OperationFailed, Refused
from nchat_tui.monitor.hoststats import HostStats
from nchat_tui.monitor.model import (
    Access,
    ActionResult,
    AppGroup,
    CacheHit,
    Connections,
    DatabaseEntry,
    ExplainResult,
    Host,
    IdleInTransaction,
    LockEntry,
    LockNode,
    LockRow,
    Locks,
    LockWait,
    OldestXact,
    Outdated,
    Progress,
    Replica,
    Replication,
    Sample,
    Session,
    Slot,
    SlowQueries,
    StaleInfo,
    Statement,
    Table,
    TableLock,
    Xact,
    rounded,
)
from nchat_tui.monitor.querytext import QueryText, describe
from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.scrub import scrub_rows, scrub_sql
from nchat_tui.pg.target import Target, classify_connect_error

APPLICATION_NAME = "nchat-tui monitor"
ACTION_APPLICATION_NAME = "nchat-tui monitor action"

#: Sessions carried in a sample (the oldest transactions first); the rest are counted only.
SESSIONS_SHOWN = 500

#: Panels of a sample, in the order they are queried.
PANELS = ("database", "connections", "locks", "tables", "slow_queries", "progress",
          "replication")
#: Panels every sample queries: the summary, the sessions and the lock tree need them.
ALWAYS = frozenset({"database", "connections", "locks"})

#: Progress views and the server version that introduced each.
PROGRESS_VIEWS = {
    "pg_stat_progress_vacuum": ("monitor/progress_vacuum.sql", 90600),
    "pg_stat_progress_create_index": ("monitor/progress_create_index.sql", 120000),
    "pg_stat_progress_cluster": ("monitor/progress_cluster.sql", 120000),
    "pg_stat_progress_analyze": ("monitor/progress_analyze.sql", 130000),
    "pg_stat_progress_copy": ("monitor/progress_copy.sql", 140000),
}

#: pg_stat_statements columns by meaning; the first name the view has wins (1.8 renamed the
#: timing columns, 1.11 renamed blk_read_time).
PGSS_COLUMNS = {
    "total": ("total_exec_time", "total_time"),
    "mean": ("mean_exec_time", "mean_time"),
    "max": ("max_exec_time", "max_time"),
    "read_time": ("shared_blk_read_time", "blk_read_time"),
}

PGSS_FIX_PRELOAD = ("add pg_stat_statements to shared_preload_libraries (ALTER SYSTEM SET "
                    "shared_preload_libraries = 'pg_stat_statements'), restart PostgreSQL, then "
                    "CREATE EXTENSION pg_stat_statements in this database")
PGSS_FIX_CREATE = "CREATE EXTENSION pg_stat_statements; (as a superuser, in this database)"
PGSS_FIX_PRIV = "GRANT pg_read_all_stats TO {role}; (or pg_monitor)"
PGSS_FIX_UPDATE = "ALTER EXTENSION pg_stat_statements UPDATE;"
#: How long the pg_stat_statements status and column names are trusted without a re-check.
PGSS_RECHECK_S = 60.0


def _pgss_failure(exc: BaseException, role: str) -> tuple[str, str, str]:
    """The failure state of a pg_stat_statements query error: (state, why, the fix)."""
    if isinstance(exc, pgerr.ObjectNotInPrerequisiteState):
        return "not_preloaded", _one_line(exc), PGSS_FIX_PRELOAD
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return "no_privilege", _one_line(exc), PGSS_FIX_PRIV.format(role=role)
    if isinstance(exc, pgerr.UndefinedColumn):
        return "outdated", _one_line(exc), PGSS_FIX_UPDATE
    return "not_created", _one_line(exc), PGSS_FIX_CREATE


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """One result row as the JSON carries it, in place: ``_jsonable`` of a dict, with the
    common flat values (text, numbers, None) handled without a call each (a sample converts a
    few hundred values, once a second)."""
    for k, v in row.items():
        t = type(v)
        if t is float:
            row[k] = round(v, 3)
        elif not (t is str or t is int or t is bool or v is None):
            row[k] = _jsonable(v)
    return row


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


class SessionRegistry:
    """Backend pids that belong to this tool (migration runner, backup, the monitor itself).

    Guarded actions refuse them: the operator must never cancel the migration from the
    dashboard by mistake. Thread-safe: workers add and remove their pids.
    """

    def __init__(self) -> None:
        self._pids: dict[int, str] = {}
        self._lock = threading.Lock()

    def add(self, pid: int, purpose: str = "nchat-tui") -> None:
        with self._lock:
            self._pids[int(pid)] = purpose

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.pop(int(pid), None)

    def __contains__(self, pid: object) -> bool:
        with self._lock:
            return pid in self._pids

    def purpose(self, pid: int) -> str | None:
        with self._lock:
            return self._pids.get(int(pid))

    def snapshot(self) -> dict[int, str]:
        with self._lock:
            return dict(self._pids)


#: The process-wide registry the app adds its own sessions' pids to.
OWN_SESSIONS = SessionRegistry()


T = TypeVar("T")


@dataclass
class _PanelState:
    data: Any = None
    """The panel's last answer (typed by the query that produced it)."""
    ok_at: str | None = None
    stale_since: str | None = None
    reason: str | None = None


@dataclass
class _PgssPlan:
    """The statement query built for this server's pg_stat_statements, and when."""

    query: sql.Composed
    versions: tuple[str | None, str | None, Outdated | None]
    """(installed, default, outdated): carried into every answer."""
    columns: dict[str, str]
    checked: float


@dataclass
class Monitor:
    """Samples one database. ``target`` is a Target, a conninfo string, or a params dict.

    Concurrent ``sample()`` calls (the compact panel and the dashboard share one Monitor)
    are serialised by a lock; each poller re-arms its timer after a sample, so they never pile
    up.
    """

    target: Target | str | dict[str, str]
    top: int = 10
    statement_timeout_ms: int = 1500
    lock_timeout_ms: int = 200
    connect_timeout_s: int = 3
    journal: Journal | None = None
    registry: SessionRegistry = field(default_factory=lambda: OWN_SESSIONS)
    slow_limit: int = 20
    size_every_s: float = 30.0
    """pg_database_size() stats every file (about 200 ms with 10,000 tables), so a sample
    measures the size only when none is known yet; ``refresh_size()``, which pollers call
    between samples, measures it again once it is this many seconds old (0: every call)."""

    _conn: psycopg.Connection[Any] | None = field(default=None, init=False, repr=False)
    _caps: dict[str, Any] = field(default_factory=dict, init=False)
    _progress_sql: sql.Composed | None = field(default=None, init=False, repr=False)
    _panels: dict[str, _PanelState] = field(default_factory=dict, init=False)
    _prev_db: dict[str, Any] | None = field(default=None, init=False)
    """The last database counters read (a row of database.sql with its ``databases``)."""
    _prev_at: float | None = field(default=None, init=False)
    _lock_waiters: int | None = field(default=None, init=False, repr=False)
    """Sessions of the server waiting for a lock, by this sample's activity read (None: not
    read this sample, or the read failed)."""
    _prev_pgss: dict[tuple[Any, ...], tuple[int, float]] = field(default_factory=dict,
                                                                 init=False)
    _last_connect_error: str | None = field(default=None, init=False)
    _pgss_plan: _PgssPlan | None = field(default=None, init=False, repr=False)
    _size: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _size_at: float | None = field(default=None, init=False, repr=False)
    _sample_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    host_stats: bool = True
    """Read per-backend CPU/memory/IO and the system line when on the database host."""
    host: HostStats = field(default_factory=HostStats, init=False, repr=False)
    _qtext: dict[int, QueryText] = field(default_factory=dict, init=False, repr=False)
    _relnames: dict[tuple[str, int], tuple[float, str]] = field(default_factory=dict, init=False,
                                                                repr=False)
    _prefetch: threading.Thread | None = field(default=None, init=False, repr=False)
    _want: set[str] | None = field(default=None, init=False, repr=False)
    _pgss_at: float | None = field(default=None, init=False, repr=False)
    _prefetched: Sample | None = field(default=None, init=False, repr=False)

    # -- connection -------------------------------------------------------------------------
    def masked(self) -> str:
        if isinstance(self.target, Target):
            return self.target.masked()
        params = self._params()
        return (f"{params.get('user', '?')}@{params.get('host', 'local socket')}:"
                f"{params.get('port', '5432')}/{params.get('dbname', '?')}")

    def _params(self) -> dict[str, str]:
        if isinstance(self.target, Target):
            return dict(self.target.params)
        if isinstance(self.target, dict):
            return {k: str(v) for k, v in self.target.items()}
        return {k: str(v) for k, v in conninfo_to_dict(self.target).items() if v is not None}

    def _open(self, application_name: str, dbname: str | None = None,
              connect_timeout_s: int | None = None) -> psycopg.Connection[Any]:
        timeout = connect_timeout_s or self.connect_timeout_s
        if isinstance(self.target, Target):
            conn = self.target.connect(application_name=application_name,
                                       connect_timeout=timeout, dbname=dbname)
        else:
            params = {**self._params(), "application_name": application_name}
            params.setdefault("connect_timeout", str(timeout))
            if dbname:
                params["dbname"] = dbname
            try:
                conn = psycopg.connect(make_conninfo(**params), autocommit=True)
            except psycopg.OperationalError as exc:
                raise classify_connect_error(exc, self.masked()) from None
        # Read-only by default and never waiting long: set once per connection, in one round
        # trip (each round trip is felt in the time to first data). JIT compiling a catalog
        # query costs more than running it (80 ms with 10,000 tables).
        conn.execute(sql.SQL("; ").join([
            sql.SQL("SET default_transaction_read_only = on"),
            sql.SQL("SET statement_timeout = {}").format(
                sql.Literal(f"{int(self.statement_timeout_ms)}ms")),
            sql.SQL("SET lock_timeout = {}").format(
                sql.Literal(f"{int(self.lock_timeout_ms)}ms")),
            sql.SQL("SET jit = off")]))
        return conn

    def connect(self) -> psycopg.Connection[Any]:
        """The monitor's own connection, opened (and re-opened after a loss) on demand."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        conn = self._open(APPLICATION_NAME)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("monitor/capabilities.sql"))
            caps = dict(cur.fetchone() or {})
        views = set(caps.pop("progress_views", None) or ())
        self._caps = caps
        self._conn = conn
        self.registry.add(int(caps["backend_pid"]), APPLICATION_NAME)
        if self.host_stats:
            self.host.check(conn)
        parts = [sql.SQL(sql_text(path).rstrip().rstrip(";"))
                 for view, (path, _v) in PROGRESS_VIEWS.items() if view in views]
        self._progress_sql = sql.SQL("\nUNION ALL\n").join(parts) if parts else None
        return conn

    def _connect_or_none(self) -> psycopg.Connection[Any] | None:
        """The connection, or None with the reason kept for the panels it leaves stale."""
        try:
            conn = self.connect()
        except (NchatError, psycopg.Error) as exc:
            self._last_connect_error = (exc.one_line() if isinstance(exc, NchatError)
                                        else _one_line(exc))
            return None
        self._last_connect_error = None
        return conn

    def close(self) -> None:
        if self._conn is not None:
            pid = self._caps.get("backend_pid")
            if pid is not None:
                self.registry.discard(int(pid))
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend_pid(self) -> int | None:
        pid = self._caps.get("backend_pid")
        return int(pid) if pid is not None else None

    # -- access -----------------------------------------------------------------------------
    def access(self) -> Access:
        """What this role may see: ``full``, or ``degraded`` with a label and the fix."""
        c = self._caps
        if not c:
            return Access(level="unknown")
        full = bool(c.get("superuser") or c.get("pg_monitor") or c.get("pg_read_all_stats"))
        out = Access(role=c.get("role"), superuser=bool(c.get("superuser")),
                     pg_monitor=bool(c.get("pg_monitor")),
                     pg_read_all_stats=bool(c.get("pg_read_all_stats")),
                     pg_signal_backend=bool(c.get("pg_signal_backend")),
                     level="full" if full else "degraded")
        if not full:
            out.label = (f"degraded view: role {c.get('role')} is neither superuser nor a "
                         "member of pg_monitor; other roles' sessions, queries, waits and "
                         "progress are hidden")
            out.fix = f"GRANT pg_monitor TO {c.get('role')};"
        return out

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, panels: Iterable[str] | None = None) -> Sample:
        """One sample (see the module docstring). Never raises for database errors.

        ``panels``: the optional panels to query this time (tables, slow_queries, progress,
        replication; None: all). The others carry their last data, unchanged, so a screen
        that shows one tab pays for that tab only; one never asked for carries no data, and
        its ``panels_at`` entry is None. After ``prefetch()``, the first call returns the
        sample it took."""
        pre = self._prefetch
        if pre is not None:
            pre.join()
            self._prefetch = None
            got, self._prefetched = self._prefetched, None
            if got is not None:
                return got
        with self._sample_lock:
            self._want = None if panels is None else set(ALWAYS) | set(panels)
            try:
                return self._sample()
            finally:
                self._want = None

    def prefetch(self, panels: Iterable[str] | None = None) -> None:
        """Connect and take the first sample in a thread now, while the caller starts its
        screen; the first ``sample()`` returns it. First data then costs max(start-up,
        connect + sample) instead of their sum."""
        if self._prefetch is not None:
            return

        def run() -> None:
            with self._sample_lock:
                self._want = None if panels is None else set(ALWAYS) | set(panels)
                try:
                    self._prefetched = self._sample()
                finally:
                    self._want = None

        self._prefetch = threading.Thread(target=run, name="monitor-prefetch", daemon=True)
        self._prefetch.start()

    def _sample(self) -> Sample:
        started = time.perf_counter()
        mono = time.monotonic()
        ts = now_iso()
        conn = self._connect_or_none()
        interval = None if self._prev_at is None else mono - self._prev_at

        db = self._run_panel("database", conn, self._q_database)
        self._lock_waiters = None  # set by a fresh read of the activity
        activity = self._run_panel("connections", conn, self._q_activity)
        locks = self._run_panel("locks", conn, lambda c: self._q_locks(c, activity))
        tables = self._run_panel("tables", conn, self._q_tables)
        slow = self._run_panel("slow_queries", conn, lambda c: self._q_slow(c, interval))
        progress = self._run_panel("progress", conn, self._q_progress)
        repl = self._run_panel("replication", conn, self._q_replication)

        connections = self._connections(activity, db)
        host = self._host(connections)
        hit, tps, tps_here, tps_by, xact = self._rates(
            db, interval, fresh=("database" not in self._stale_names()))
        out = Sample(
            ts=ts, target=self.masked(),
            interval_s=round(interval, 3) if interval is not None else None,
            database=self._caps.get("database"),
            server_version=self._caps.get("server_version"),
            server_version_num=self._caps.get("server_version_num"),
            backend_pid=self.backend_pid,  # our own sampling session
            access=self.access(),
            database_size=db.get("database_size") if db else None,
            database_size_at=db.get("database_size_at") if db else None,
            tables=tables if tables is not None else [],
            connections=connections, host=host,
            slow_queries=slow if slow is not None else SlowQueries(
                state="no_data", unavailable="no sample yet"),
            locks=locks if locks is not None else Locks.none_yet(),
            progress=progress if progress is not None else [],
            cache_hit_ratio=hit, tps=tps, tps_this_database=tps_here, tps_by_database=tps_by,
            xact=xact,
            databases=self._databases(db, activity, tps_by),
            replication=repl,
            # when each panel last answered: a sample may carry a panel it did not query
            panels_at={name: st.ok_at for name, st in self._panels.items() if name in PANELS},
            stale={name: StaleInfo(since=st.stale_since, reason=st.reason, last_ok=st.ok_at,
                                   has_data=st.data is not None)
                   for name, st in self._panels.items() if st.stale_since},
            error=self._last_connect_error if conn is None else None,
            sample_ms=0.0)
        self._prev_at = mono
        out.sample_ms = round((time.perf_counter() - started) * 1000, 1)
        return out

    def _stale_names(self) -> set[str]:
        return {n for n, st in self._panels.items() if st.stale_since}

    def _run_panel(self, name: str, conn: psycopg.Connection[Any] | None,
                   fn: Callable[[psycopg.Connection[Any]], T]) -> T | None:
        st = self._panels.setdefault(name, _PanelState())
        if self._want is not None and name in PANELS and name not in self._want:
            data: T | None = st.data  # not asked for this time: the last data, as it was
            return data
        if conn is None or conn.closed or conn.broken:
            reason = (f"no connection: {self._last_connect_error}" if self._last_connect_error
                      else "no connection: lost during this sample")
            st.stale_since = st.stale_since or now_iso()
            st.reason = reason
            data = st.data
            return data
        try:
            # a panel's answer is built once, as the JSON will carry it (rounded, times as
            # text), here: the samples that do not query it carry it unchanged, and walking
            # it again on every sample cost more than the queries themselves
            fresh = fn(conn)
        except psycopg.Error as exc:
            st.stale_since = st.stale_since or now_iso()
            st.reason = _one_line(exc)
            if conn.broken or (isinstance(exc, psycopg.OperationalError) and conn.closed):
                self.close()
            data = st.data
            return data
        st.data = fresh
        st.ok_at = now_iso()
        st.stale_since = None
        st.reason = None
        return fresh

    # -- panels -----------------------------------------------------------------------------
    @staticmethod
    def _fetch(conn: psycopg.Connection[Any], query: str | sql.SQL | sql.Composed,
               params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return scrub_rows(cur.fetchall())  # other sessions' SQL: secrets masked here

    def _rows(self, conn: psycopg.Connection[Any], query: str | sql.SQL | sql.Composed,
              params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``_fetch``, each row as the JSON carries it (floats rounded, times as text)."""
        return [_json_row(r) for r in self._fetch(conn, query, params)]

    def _q_database(self, conn: psycopg.Connection[Any]) -> dict[str, Any]:
        rows = self._rows(conn, sql_text("monitor/database.sql"))
        current = next((r for r in rows if r.get("is_current")), rows[0] if rows else {})
        db = dict(current)
        db["databases"] = rows
        if self._size is None:  # the first sample: the operator needs a size at once
            self._run_panel("database_size", conn, self._q_size)
        size = self._size or {}
        db["database_size"] = size.get("database_size")
        db["database_size_at"] = size.get("measured_at")
        return db

    def _q_size(self, conn: psycopg.Connection[Any]) -> dict[str, Any]:
        rows = self._rows(conn, sql_text("monitor/database_size.sql"))
        self._size = dict(rows[0]) if rows else {}
        self._size_at = time.monotonic()
        return self._size

    def size_due(self) -> bool:
        """Whether the database size is missing or at least ``size_every_s`` old."""
        return (self._size_at is None
                or time.monotonic() - self._size_at >= self.size_every_s)

    def refresh_size(self, force: bool = False) -> bool:
        """Measure the database size again when it is due (or ``force``); True if it ran.

        Pollers call this after delivering a sample, so the per-file walk of
        pg_database_size() never delays the figures the operator is waiting for; the next
        sample carries the new size and its ``database_size_at``. A failure marks the
        ``database_size`` panel stale (the old size stays) and never raises.
        """
        with self._sample_lock:
            if not (force or self.size_due()):
                return False
            self._run_panel("database_size", self._connect_or_none(), self._q_size)
            return True

    def _q_activity(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        """The rows of activity.sql; each sample makes its own ``Session`` objects of them.
        Notes how many sessions of the server wait for a lock (``_lock_waiters``)."""
        rows = self._rows(conn, sql_text("monitor/activity.sql"))
        waiters = [r.pop("lock_waiters_server", None) for r in rows]
        self._lock_waiters = waiters[0] if waiters and waiters[0] is not None else None
        return rows

    def _q_tables(self, conn: psycopg.Connection[Any]) -> list[Table]:
        params = {"limit": int(self.top), "candidates": max(50, 5 * int(self.top)),
                  "catalog_only": False}
        try:
            rows = self._rows(conn, sql_text("monitor/table_sizes.sql"), params)
        except (pgerr.LockNotAvailable, pgerr.QueryCanceled):
            # An ACCESS EXCLUSIVE request arrived between our pg_locks read and the size
            # call: answer from the catalog rather than wait.
            rows = self._rows(conn, sql_text("monitor/table_sizes.sql"),
                              {**params, "catalog_only": True})
        out = []
        for r in rows:
            holders = sorted(r.pop("lock_holders") or [])
            waiters = sorted(r.pop("lock_waiters") or [])
            lock = (TableLock(mode="AccessExclusiveLock", held_by=holders, waiting=waiters)
                    if r["locked"] else None)
            out.append(Table(**r, qualified_name=f"{r['schema']}.{r['name']}", lock=lock))
        return out

    def _q_locks(self, conn: psycopg.Connection[Any],
                 activity: list[dict[str, Any]] | None) -> Locks:
        if self._lock_waiters == 0:
            # this sample's read of pg_stat_activity saw no session of the server waiting
            # for a lock: locks.sql, which starts from those sessions, would return nothing
            rows: list[dict[str, Any]] = []
        else:
            rows = self._rows(conn, sql_text("monitor/locks.sql"))
        self._name_other_relations(rows)
        return build_lock_tree(rows, activity or [], self.registry)

    RELNAME_TTL_S = 300.0
    """How long a relation name resolved in another database is trusted (oids are stable;
    a rename shows after this)."""

    def _name_other_relations(self, rows: list[dict[str, Any]]) -> None:
        """Name the relations of lock rows that belong to other databases of the server.

        Our connection can only read its own database's catalog, so each other database
        with a lock wait gets one short connection (cached names, at most every
        RELNAME_TTL_S); where it cannot connect, the relation is named by its database.
        """
        ours = self._caps.get("database")
        now = time.monotonic()
        need: dict[str, set[int]] = {}
        for r in rows:
            oid, dbname = r.get("relation_oid"), r.get("relation_database")
            if r.get("relation") is not None or oid is None or not dbname or dbname == ours:
                continue
            hit = self._relnames.get((dbname, int(oid)))
            if hit is not None and now - hit[0] < self.RELNAME_TTL_S:
                r["relation"] = hit[1]
            else:
                need.setdefault(dbname, set()).add(int(oid))
        for dbname, oids in need.items():
            names: dict[int, str] = {}
            why = ""
            try:
                conn = self._open(APPLICATION_NAME, dbname=dbname, connect_timeout_s=2)
            except (NchatError, psycopg.Error) as exc:
                why = exc.one_line() if isinstance(exc, NchatError) else _one_line(exc)
            else:
                self.registry.add(int(conn.info.backend_pid), APPLICATION_NAME)
                try:
                    for oid, name in conn.execute(sql_text("monitor/relation_names.sql"),
                                                  {"oids": sorted(oids)}).fetchall():
                        names[int(oid)] = f"{name} (database {dbname})"
                except psycopg.Error as exc:
                    why = _one_line(exc)
                finally:
                    self._release(conn)
            for oid in oids:
                name = names.get(oid) or f"relation {oid} in database {dbname}"
                # an unresolved name is retried sooner than a resolved one
                self._relnames[(dbname, oid)] = (now if oid in names
                                                 else now - self.RELNAME_TTL_S + 30, name)
            for r in rows:
                if r.get("relation") is None and r.get("relation_database") == dbname \
                        and r.get("relation_oid") is not None:
                    r["relation"] = self._relnames[(dbname, int(r["relation_oid"]))][1]
                    if why and int(r["relation_oid"]) not in names:
                        r["relation_unresolved"] = why

    def _q_progress(self, conn: psycopg.Connection[Any]) -> list[Progress]:
        if self._progress_sql is None:
            return []
        out = []
        for r in self._rows(conn, self._progress_sql):
            total = r.get("total")
            out.append(Progress(**r, percent=(round(100.0 * (r["done"] or 0) / total, 1)
                                              if total else None)))
        return out

    def progress(self, pid: int | None = None) -> list[Progress]:
        """Running vacuum/analyze/index builds/copy now (of one backend when ``pid``)."""
        rows = self._q_progress(self.connect())
        return [r for r in rows if pid is None or r.pid == pid]

    def _q_replication(self, conn: psycopg.Connection[Any]) -> Replication:
        rows = self._rows(conn, sql_text("monitor/replication.sql"))
        r = rows[0] if rows else {}
        replicas = [Replica(**x) for x in r.get("replicas") or []]
        lags = [x.lag_bytes for x in replicas if x.lag_bytes is not None]
        replay = [x.replay_lag_s for x in replicas if x.replay_lag_s is not None]
        return Replication(in_recovery=bool(r.get("in_recovery")),
                           replay_delay_s=r.get("replay_delay_s"), replicas=replicas,
                           slots=[Slot(**x) for x in r.get("slots") or []],
                           max_lag_bytes=max(lags) if lags else None,
                           max_replay_lag_s=max(replay) if replay else None)

    def pgss_status(self, conn: psycopg.Connection[Any]) -> dict[str, Any]:
        """Where pg_stat_statements stands here: usable, or which of its failure states."""
        st = self._fetch(conn, sql_text("monitor/pgss_status.sql"))[0]
        role = self._caps.get("role", "your_role")
        preload = st.get("preload")
        preloaded = None if preload is None else "pg_stat_statements" in preload
        out: dict[str, Any] = {"installed_version": st.get("installed_version"),
                               "default_version": st.get("default_version"),
                               "schema": st.get("schema"), "preloaded": preloaded,
                               "columns": st.get("columns") or []}
        if preloaded is False:
            out.update(state="not_preloaded",
                       unavailable="pg_stat_statements is not in shared_preload_libraries",
                       fix=PGSS_FIX_PRELOAD)
        elif st.get("installed_version") is None:
            out.update(state="not_created",
                       unavailable="the pg_stat_statements extension is not created in "
                                   "this database",
                       fix=PGSS_FIX_CREATE)
        elif st.get("can_select") is False:
            out.update(state="no_privilege",
                       unavailable=f"role {role} may not read pg_stat_statements",
                       fix=PGSS_FIX_PRIV.format(role=role))
        else:
            out["state"] = "ok"
        inst, default = st.get("installed_version"), st.get("default_version")
        if inst and default and _version_tuple(inst) < _version_tuple(default):
            out["outdated"] = {"installed": inst, "default": default, "fix": PGSS_FIX_UPDATE}
        return out

    def _pgss_query(self, conn: psycopg.Connection[Any]) -> _PgssPlan | SlowQueries:
        """The status check, and when usable the statement query built for this version
        (else why not, as the panel's answer)."""
        status = self.pgss_status(conn)
        outdated = (Outdated(**status["outdated"]) if "outdated" in status else None)
        versions = (status["installed_version"], status["default_version"], outdated)
        if status["state"] != "ok":
            return SlowQueries(state=status["state"], installed_version=versions[0],
                               default_version=versions[1], outdated=outdated,
                               unavailable=status["unavailable"], fix=status["fix"])
        cols = set(status["columns"])
        names: dict[str, sql.Composable] = {}
        found_names: dict[str, str] = {}
        for meaning, candidates in PGSS_COLUMNS.items():
            found = next((c for c in candidates if c in cols), None)
            if found is None:
                return SlowQueries(
                    state="outdated", installed_version=versions[0],
                    default_version=versions[1], outdated=outdated,
                    unavailable=f"pg_stat_statements {status['installed_version']} has "
                                f"none of the columns {', '.join(candidates)}",
                    fix=PGSS_FIX_UPDATE)
            names[meaning] = sql.Identifier(found)
            found_names[meaning] = found
        query = sql.SQL(sql_text("monitor/slow_queries.sql")).format(
            view=sql.Identifier(status["schema"], "pg_stat_statements"), **names)
        return _PgssPlan(query=query, versions=versions, columns=found_names,
                         checked=time.monotonic())

    def _q_slow(self, conn: psycopg.Connection[Any], interval: float | None) -> SlowQueries:
        # One round trip in the steady state: the status check and the version's column
        # names are cached while the statement query keeps working (re-checked every
        # PGSS_RECHECK_S, and at once on any error of the statement query).
        plan = self._pgss_plan
        fresh = False
        if plan is None or time.monotonic() - plan.checked > PGSS_RECHECK_S:
            built = self._pgss_query(conn)
            if isinstance(built, SlowQueries):
                self._pgss_plan = None
                return built
            plan = self._pgss_plan = built
            fresh = True
        installed, default, outdated = plan.versions
        monitoring = [q for q, t in self._qtext.items() if t.monitoring]
        try:
            rows = self._fetch(conn, plan.query, {"limit": int(self.slow_limit),
                                                  "monitoring": monitoring,
                                                  "known": list(self._qtext)})
        except (pgerr.ObjectNotInPrerequisiteState, pgerr.InsufficientPrivilege,
                pgerr.UndefinedColumn, pgerr.UndefinedTable, pgerr.InvalidSchemaName) as exc:
            self._pgss_plan = None
            if not fresh:  # the extension changed under us: look again, once
                return self._q_slow(conn, interval)
            state, why, fix = _pgss_failure(exc, self._caps.get("role", "your_role"))
            return SlowQueries(state=state, installed_version=installed,
                               default_version=default, outdated=outdated, unavailable=why,
                               fix=fix)
        prev = self._prev_pgss
        cur: dict[tuple[Any, ...], tuple[int, float]] = {}
        hidden = 0
        if len(self._qtext) > 20000:  # pg_stat_statements.max is 5000 by default
            self._qtext.clear()
        for r in rows:
            qid = int(r["queryid"])
            full = r.pop("full_query")
            info = self._qtext.get(qid)
            if info is None or full is not None:
                # the whole text is read once per statement and shown (without its header
                # comment): the same secret scrubbing as every other query text
                info = self._qtext[qid] = describe(
                    scrub_sql(full) if full is not None else r["query"])
            key = (r["queryid"], r["user"], r["database"])
            cur[key] = (int(r["calls"]), float(r["total_ms"]))
            if r["query"] == "<insufficient privilege>":
                hidden += 1
            else:
                r["query"] = info.body[:300]
            r["comment"] = info.comment
            r["monitoring"] = info.monitoring
            r["source"] = info.source
            dc: int | None = None
            dt_ms: float | None = None
            if key in prev and prev[key][0] <= r["calls"]:
                dc = int(r["calls"]) - prev[key][0]
                dt_ms = float(r["total_ms"]) - prev[key][1]
            elif prev:
                dc, dt_ms = int(r["calls"]), float(r["total_ms"])  # new since last, or reset
            r["calls_delta"] = dc
            r["total_ms_delta"] = dt_ms
            r["mean_ms_delta"] = (dt_ms / dc) if dc and dt_ms is not None else None
            r["queryid"] = str(r["queryid"])
        self._prev_pgss = cur
        now = time.monotonic()
        interval = None if self._pgss_at is None else round(now - self._pgss_at, 3)
        self._pgss_at = now
        # ranked on the figures as read, then typed as the JSON carries them (rounded)
        typed = {id(r): Statement(**_jsonable(r)) for r in rows}

        def stmts(picked: list[dict[str, Any]]) -> list[Statement]:
            return [typed[id(r)] for r in picked]

        theirs = [r for r in rows if not r["monitoring"]]
        ours = [r for r in rows if r["monitoring"]]
        by_total = sorted(theirs, key=lambda r: (r["total_ms_delta"] or 0, r["total_ms"]),
                          reverse=True)[: self.slow_limit]
        by_mean = sorted(theirs, key=lambda r: r["mean_ms"], reverse=True)[: self.slow_limit]
        limited = None
        if hidden:
            limited = (f"{hidden} statements of other roles show <insufficient "
                       f"privilege>: GRANT pg_read_all_stats TO {self._caps.get('role')};")
        return SlowQueries(
            state="ok", installed_version=installed, default_version=default,
            outdated=outdated, columns=dict(plan.columns), deltas=bool(prev),
            interval_s=interval, top_by_total=stmts(by_total), top_by_mean=stmts(by_mean),
            # every statement picked, in a stable order (cumulative time): a table of them
            # does not reshuffle with each interval's deltas
            statements=stmts(sorted(theirs, key=lambda r: (-r["total_ms"], r["queryid"]))),
            monitoring=stmts(sorted(ours, key=lambda r: (-r["total_ms"], r["queryid"]))),
            limited=limited)

    # -- derived ----------------------------------------------------------------------------
    def _connections(self, activity: list[dict[str, Any]] | None,
                     db: dict[str, Any] | None) -> Connections | None:
        if activity is None:
            return None
        return summarize_connections(activity, db or {}, self._caps.get("database"),
                                     self.registry, self.access().level == "degraded",
                                     self_pid=self.backend_pid)

    def _rates(self, db: dict[str, Any] | None, interval: float | None, fresh: bool
               ) -> tuple[CacheHit, float | None, float | None, dict[str, float], Xact | None]:
        """Cache hits and transactions per second of the whole server, per database and of
        this one; this database's counters. As the JSON carries them (rounded)."""
        hit = CacheHit(interval=None, cumulative=None)
        if not db:
            return hit, None, None, {}, None
        rows = db.get("databases") or [db]
        blks_hit = sum(int(r.get("blks_hit") or 0) for r in rows)
        read = sum(int(r.get("blks_read") or 0) for r in rows)
        hit.cumulative = rounded(blks_hit / (blks_hit + read)) if blks_hit + read else None
        xact = Xact(commit=db.get("xact_commit"), rollback=db.get("xact_rollback"),
                    deadlocks=db.get("deadlocks"), temp_bytes=db.get("temp_bytes"))
        total: float | None = None
        here: float | None = None
        tps: dict[str, float] = {}
        prev = self._prev_db
        if fresh and prev and interval and interval > 0:
            before = {r.get("datname"): r for r in prev.get("databases") or [prev]}
            dh = dr = 0
            for r in rows:
                p = before.get(r.get("datname"))
                if p is None or p.get("stats_reset") != r.get("stats_reset"):
                    continue  # a new database, or its counters were reset
                dh += int(r.get("blks_hit") or 0) - int(p.get("blks_hit") or 0)
                dr += int(r.get("blks_read") or 0) - int(p.get("blks_read") or 0)
                dx = (int(r.get("xact_commit") or 0) + int(r.get("xact_rollback") or 0)
                      - int(p.get("xact_commit") or 0) - int(p.get("xact_rollback") or 0))
                tps[str(r.get("datname"))] = max(dx, 0) / interval
            hit.interval = rounded(dh / (dh + dr)) if dh + dr > 0 else None
            total = rounded(sum(tps.values()))
            here = rounded(tps.get(str(db.get("datname"))))
            tps = {k: round(v, 3) for k, v in tps.items()}
        if fresh:
            self._prev_db = dict(db)
        return hit, total, here, tps, xact

    def _databases(self, db: dict[str, Any] | None, activity: list[dict[str, Any]] | None,
                   tps_by_database: dict[str, float]) -> list[DatabaseEntry]:
        """Every database of the server: sessions by state, lock waits and tps."""
        ours = self._caps.get("database")
        per: dict[str, DatabaseEntry] = {}

        def entry(name: str) -> DatabaseEntry:
            e = per.get(name)
            if e is None:
                e = per[name] = DatabaseEntry(name=name, current=name == ours, sessions=0,
                                              active=0, idle_in_transaction=0, lock_waits=0,
                                              waiting=0, tps=None)
            return e

        for r in (db or {}).get("databases") or []:
            entry(str(r["datname"])).tps = tps_by_database.get(str(r["datname"]))
        for a in activity or []:
            if a.get("backend_type") != "client backend" or not a.get("database"):
                continue
            e = entry(str(a["database"]))
            e.sessions += 1
            state = a.get("state") or ""
            e.active += state == "active"
            e.idle_in_transaction += state.startswith("idle in transaction")
            e.waiting += bool(a.get("wait_event_type")) and state == "active"
            e.lock_waits += a.get("wait_event_type") == "Lock"
        return sorted(per.values(), key=lambda e: (not e.current, -e.sessions, e.name))

    def _host(self, connections: Connections | None) -> Host:
        """Per-backend CPU/memory/IO into each session, and the system line, on the host."""
        sessions = connections.sessions if connections is not None else []
        if not (self.host_stats and self.host.local):
            return Host(local=False, reason=self.host.reason if self.host_stats
                        else "host figures switched off")
        stats = self.host.backends([x.pid for x in sessions])
        for sess in sessions:
            fig = stats.get(sess.pid)
            if fig is not None:
                sess.cpu_pct, sess.rss_bytes = fig.cpu_pct, fig.rss_bytes
                sess.read_bps, sess.write_bps = fig.read_bps, fig.write_bps
        return Host(local=True, reason=self.host.reason, system=self.host.system())

    # -- guarded actions --------------------------------------------------------------------
    def _journal(self, event: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.append(event, target=self.masked(), **fields)

    def _action_conn(self) -> psycopg.Connection[Any]:
        conn = self._open(ACTION_APPLICATION_NAME)
        self.registry.add(int(conn.info.backend_pid), ACTION_APPLICATION_NAME)
        return conn

    def _release(self, conn: psycopg.Connection[Any]) -> None:
        self.registry.discard(int(conn.info.backend_pid))
        conn.close()

    def _check_signal(self, conn: psycopg.Connection[Any], action: str, pid: int,
                      confirm_privileged: bool) -> dict[str, Any]:
        if pid in self.registry or pid == conn.info.backend_pid:
            why = self.registry.purpose(pid) or "this action's own connection"
            self._journal("monitor_action_refused", action=action, pid=pid,
                          reason=f"own session ({why})")
            raise Refused(f"pid {pid} is one of nchat-tui's own sessions ({why})",
                          "cancel it from the step that owns it, not from the monitor")
        rows = self._fetch(conn, sql.SQL(
            "SELECT a.pid, a.usename AS user, a.application_name AS application, "
            "a.backend_type, a.state, left(a.query, 200) AS query, "
            "coalesce(r.rolsuper, false) AS superuser, "
            "coalesce(r.rolreplication, false) AS replication "
            "FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid "
            "WHERE a.pid = %(pid)s"), {"pid": pid})
        if not rows:
            raise OperationFailed(f"no backend with pid {pid}", "it may have ended already")
        info = rows[0]
        app = str(info.get("application") or "")
        if app == "nchat-tui" or app.startswith("nchat-tui "):
            # Our runner, backups (pg_dump/pg_restore run with PGAPPNAME=nchat-tui) and checks
            # open connections the registry cannot see (child processes): never signal them
            # from the monitor, whichever nchat-tui process they belong to.
            self._journal("monitor_action_refused", action=action, pid=pid,
                          reason=f"own session ({app})")
            raise Refused(f"pid {pid} is one of nchat-tui's own sessions ({app})",
                          "cancel it from the step that owns it, not from the monitor")
        if info["backend_type"] not in ("client backend", "walsender", "autovacuum worker"):
            raise Refused(f"pid {pid} is a {info['backend_type']}, not a session",
                          "only client, replication and autovacuum backends can be signalled")
        privileged = bool(info["superuser"] or info["replication"]
                          or info["backend_type"] == "walsender")
        if privileged and not confirm_privileged:
            kind = ("replication" if info["backend_type"] == "walsender"
                    else "superuser" if info["superuser"] else "replication-role")
            self._journal("monitor_action_refused", action=action, pid=pid,
                          reason=f"{kind} session needs a second confirmation")
            raise Refused(f"pid {pid} is a {kind} session ({info['user']}, "
                          f"{info['application'] or 'no application name'})",
                          "confirm a second time to signal it")
        return info

    def cancel_backend(self, pid: int, *, confirm_privileged: bool = False) -> ActionResult:
        """Cancel the running statement of ``pid`` (pg_cancel_backend). Journaled."""
        return self._signal("cancel", "pg_cancel_backend", pid, confirm_privileged)

    def terminate_backend(self, pid: int, typed_pid: str, *,
                          confirm_privileged: bool = False) -> ActionResult:
        """End the session ``pid`` (pg_terminate_backend); ``typed_pid`` must repeat it."""
        if str(typed_pid).strip() != str(pid):
            self._journal("monitor_action_refused", action="terminate", pid=pid,
                          reason="typed pid did not match")
            raise Refused(f"typed {typed_pid!r} does not match pid {pid}",
                          "type the pid exactly to terminate its session")
        return self._signal("terminate", "pg_terminate_backend", pid, confirm_privileged)

    def _signal(self, action: str, func: str, pid: int,
                confirm_privileged: bool) -> ActionResult:
        pid = int(pid)
        if pid in self.registry:
            why = self.registry.purpose(pid)
            self._journal("monitor_action_refused", action=action, pid=pid,
                          reason=f"own session ({why})")
            raise Refused(f"pid {pid} is one of nchat-tui's own sessions ({why})",
                          "cancel it from the step that owns it, not from the monitor")
        conn = self._action_conn()
        try:
            info = self._check_signal(conn, action, pid, confirm_privileged)
            try:
                row = conn.execute(sql_text("runner/signal_backend.sql"), {
                    "pid": pid, "terminate": func == "pg_terminate_backend"}).fetchone()
            except pgerr.InsufficientPrivilege as exc:
                self._journal("monitor_action_failed", action=action, pid=pid,
                              reason=_one_line(exc))
                raise Refused(_one_line(exc), "needs pg_signal_backend or the session's own "
                              "role; superusers' sessions need a superuser") from None
            ok = bool(row and row[0])
            result = ActionResult(action=action, pid=pid, ok=ok, user=info["user"],
                                  application=info["application"], query=info["query"])
            self._journal("monitor_action", **result.to_json())
            return result
        finally:
            self._release(conn)

    def explain(self, query: str, *, analyze: bool = False,
                timeout_ms: int = 5000) -> ExplainResult:
        """A safe EXPLAIN of ``query``; see ``plan_explain`` for what is allowed."""
        version = int(self._caps.get("server_version_num") or 0)
        if not version:
            self.connect()
            version = int(self._caps.get("server_version_num") or 0)
        mode, prefix = plan_explain(query, analyze=analyze, server_version_num=version)
        conn = self._action_conn()
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(f"{int(timeout_ms)}ms")))
                conn.execute("SET LOCAL transaction_read_only = on")
                try:
                    rows = conn.execute(sql.SQL(prefix + " ") + sql.SQL(query.strip().rstrip(";"))
                                        ).fetchall()
                except psycopg.Error as exc:
                    self._journal("monitor_explain_failed", mode=mode, query=query[:300],
                                  reason=_one_line(exc))
                    raise OperationFailed(f"EXPLAIN failed: {_one_line(exc)}") from None
            plan = [r[0] for r in rows]
            self._journal("monitor_explain", mode=mode, query=query[:300])
            return ExplainResult(mode=mode, plan=plan, rolled_back=True)
        finally:
            self._release(conn)


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def plan_explain(query: str, *, analyze: bool, server_version_num: int) -> tuple[str, str]:
    """Decide how to EXPLAIN ``query`` safely: returns (mode, EXPLAIN prefix) or raises.

    One statement only. Statements with ``$n`` parameters (as pg_stat_statements shows
    them) get ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+ and are refused before.
    ``analyze`` is allowed only for a plain SELECT without parameters, locking clauses,
    SELECT INTO or data-modifying CTEs; it runs in a read-only transaction that is rolled
    back, under a statement timeout.
    """
    import pglast  # noqa: PLC0415 - the SQL parser weighs ~4 MiB, a run may never EXPLAIN

    try:
        stmts = pglast.parse_sql(query)
    except pglast.parser.ParseError as exc:
        raise BadInput(f"cannot parse the statement: {exc}") from None
    if len(stmts) != 1:
        raise BadInput(f"EXPLAIN takes one statement, got {len(stmts)}")
    has_params = any(t.name == "PARAM" for t in pglast.parser.scan(query))
    stmt = stmts[0].stmt
    if analyze:
        if has_params:
            raise Refused("EXPLAIN ANALYZE needs literal values, the statement has $n "
                          "parameters", "use a plain EXPLAIN (a generic plan on PG16+)")
        if not _is_plain_select(stmt):
            raise Refused("EXPLAIN ANALYZE runs only a plain SELECT",
                          "use a plain EXPLAIN: it does not execute the statement")
        return "analyze", "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)"
    if has_params:
        if server_version_num < 160000:
            raise Refused("a statement with $n parameters can be explained only on "
                          "PostgreSQL 16+ (EXPLAIN (GENERIC_PLAN))",
                          "replace the parameters with literal values")
        return "generic_plan", "EXPLAIN (GENERIC_PLAN, FORMAT TEXT)"
    return "plan", "EXPLAIN (FORMAT TEXT)"


def _is_plain_select(stmt: Any) -> bool:
    from pglast import ast  # noqa: PLC0415 - heavy SQL parser, as in plan_explain

    if not isinstance(stmt, ast.SelectStmt):
        return False
    if stmt.intoClause is not None or stmt.lockingClause:
        return False
    for side in (stmt.larg, stmt.rarg):
        if side is not None and not _is_plain_select(side):
            return False
    if stmt.withClause is not None:
        for cte in stmt.withClause.ctes or ():
            if not _is_plain_select(cte.ctequery):
                return False
    return True


# -- pure helpers (tested without a database) ------------------------------------------------
def build_lock_tree(rows: list[dict[str, Any]], activity: Iterable[dict[str, Any]],
                    registry: SessionRegistry | None = None) -> Locks:
    """Turn locks.sql rows (one per waiting pid) into a blocking tree.

    Each waiter hangs under the blocker that is itself waiting (the queue ahead of it) when
    there is one, else under its first blocker; ``queue`` counts every session waiting
    behind a node, transitively. Roots are blockers that wait for no lock. ``activity``: the
    rows of activity.sql (who each pid is).
    """
    act = {int(a["pid"]): a for a in activity}
    waiters = {int(r["pid"]): r for r in rows}
    held: dict[int, set[str]] = {}
    for r in rows:
        for pid_s, modes in (r.get("blocker_modes") or {}).items():
            held.setdefault(int(pid_s), set()).update(modes or [])
    parent: dict[int, int] = {}
    for pid, r in waiters.items():
        blockers = [int(b) for b in (r.get("blocked_by") or [])]
        waiting_blockers = [b for b in blockers if b in waiters]
        if waiting_blockers:
            parent[pid] = waiting_blockers[0]
        elif blockers:
            parent[pid] = blockers[0]
    # break cycles (a deadlock being detected): the waiter seen again becomes a root
    for pid in list(parent):
        seen = {pid}
        cur = parent.get(pid)
        while cur is not None:
            if cur in seen:
                parent.pop(cur, None)
                break
            seen.add(cur)
            cur = parent.get(cur)
    children: dict[int, list[int]] = {}
    for child, par in parent.items():
        children.setdefault(par, []).append(child)
    nodes = set(waiters) | set(parent.values())
    roots = sorted(p for p in nodes if p not in parent)

    def node(pid: int) -> LockNode:
        a = act.get(pid, {})
        w = waiters.get(pid)
        kids = [node(c) for c in sorted(children.get(pid, []),
                                        key=lambda c: -(waiters[c].get("wait_s") or 0))]
        return LockNode(
            pid=pid, user=a.get("user"), application=a.get("application"),
            state=a.get("state"), xact_age_s=a.get("xact_age_s"), query=a.get("query"),
            database=a.get("database"), waiting=w is not None,
            mode=w.get("mode") if w else None,
            locktype=w.get("locktype") if w else None,
            relation=w.get("relation") if w else None,
            wait_event=w.get("wait_event") if w else None,
            wait_s=w.get("wait_s") if w else None,
            blocked_by=[int(b) for b in (w.get("blocked_by") or [])] if w else [],
            held_modes=sorted(held.get(pid, set())),
            own=bool(registry is not None and pid in registry),
            queue=sum(1 + k.queue for k in kids),
            children=kids)

    tree = [node(r) for r in roots]
    flat: list[LockRow] = []

    def walk(n: LockNode, depth: int) -> None:
        flat.append(LockRow(
            pid=n.pid, user=n.user, application=n.application, state=n.state,
            xact_age_s=n.xact_age_s, query=n.query, database=n.database, waiting=n.waiting,
            mode=n.mode, locktype=n.locktype, relation=n.relation, wait_event=n.wait_event,
            wait_s=n.wait_s, blocked_by=n.blocked_by, held_modes=n.held_modes, own=n.own,
            queue=n.queue, depth=depth))
        for k in n.children:
            walk(k, depth + 1)

    for t in tree:
        walk(t, 0)
    waits = [float(r["wait_s"]) for r in rows if r.get("wait_s") is not None]
    longest = max(rows, key=lambda r: r.get("wait_s") or 0) if rows else None
    return Locks(
        waiting=len(waiters),
        longest_wait_s=max(waits) if waits else None,
        longest=(LockWait(pid=int(longest["pid"]), wait_s=longest.get("wait_s"),
                          mode=longest.get("mode"), relation=longest.get("relation"),
                          locktype=longest.get("locktype"),
                          wait_event=longest.get("wait_event"),
                          blocked_by=[int(b) for b in longest.get("blocked_by") or []])
                 if longest else None),
        tree=tree, rows=flat)


def _short_mode(mode: Any) -> str:
    return str(mode).removesuffix("Lock") if mode else ""


class WaitedLock(Protocol):
    """What a waiting session wants: a tree entry or the sample's longest wait."""

    @property
    def mode(self) -> str | None: ...
    @property
    def locktype(self) -> str | None: ...
    @property
    def relation(self) -> str | None: ...
    @property
    def wait_event(self) -> str | None: ...


def lock_wait_text(node: WaitedLock) -> str:
    """What a waiting session waits for, in words (never 'None'): ``wants AccessShare on
    nchat_messages``, ``waits for another transaction to end (a row it changed)``."""
    mode = _short_mode(node.mode)
    locktype = node.locktype
    rel = node.relation
    if locktype == "relation":
        return f"wants {mode or 'a lock'} on {rel or 'a relation'}"
    if locktype in ("tuple", "page"):
        return f"wants {mode or 'a lock'} on a row of {rel or 'a table'}"
    if locktype == "extend":
        return f"waits to extend {rel}" if rel else "waits to extend a relation"
    if locktype == "transactionid":
        return "waits for another transaction to end (a row it changed)"
    if locktype == "virtualxid":
        return "waits for older transactions to end"
    if locktype == "advisory":
        return f"wants an advisory lock ({mode or '?'})"
    if locktype:
        return f"wants {mode + ' ' if mode else ''}{locktype} lock".replace("  ", " ")
    event = node.wait_event
    return f"waits for a lock ({event})" if event else "waits for a lock"


def lock_held_text(node: LockEntry) -> str:
    """What a blocking session holds, in words (never 'holds holds')."""
    modes = [_short_mode(m) for m in node.held_modes]
    return f"holds {', '.join(modes)}" if modes else "blocks (what it holds is not visible)"


def summarize_connections(activity: list[dict[str, Any]], db: dict[str, Any],
                          database: str | None, registry: SessionRegistry | None = None,
                          degraded: bool = False, self_pid: int | None = None) -> Connections:
    """Connections of the whole server by state, application and user, against
    max_connections; ``*_this_database`` and each session's ``database`` give the view of one.
    ``activity``: the rows of activity.sql; each becomes a new ``Session`` of this sample.

    Our own sampling session counts as a connection but never as the oldest transaction.
    """
    clients = [a for a in activity if a.get("backend_type") == "client backend"]
    here = [a for a in clients if a.get("database") == database]

    def states(rows: list[dict[str, Any]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in rows:
            state = a.get("state") or "hidden"
            out[state] = out.get(state, 0) + 1
        return dict(sorted(out.items()))

    by_state = states(clients)
    groups: dict[tuple[str, str], AppGroup] = {}
    for a in clients:
        key = (a.get("application") or "", a.get("user") or "")
        g = groups.get(key)
        if g is None:
            g = groups[key] = AppGroup(application=key[0], user=key[1], count=0, states={})
        g.count += 1
        st = a.get("state") or "hidden"
        g.states[st] = g.states.get(st, 0) + 1
    in_xact = [a for a in clients
               if a.get("xact_age_s") is not None and a.get("pid") != self_pid]
    oldest = max(in_xact, key=lambda a: float(a["xact_age_s"])) if in_xact else None
    idle_x = sorted((a for a in clients
                     if (a.get("state") or "").startswith("idle in transaction")),
                    key=lambda a: -(a.get("state_age_s") or 0))
    waits: dict[str, int] = {}
    for a in clients:
        if a.get("wait_event_type") and a.get("state") == "active":
            waits[a["wait_event_type"]] = waits.get(a["wait_event_type"], 0) + 1
    by_database: dict[str, int] = {}
    for a in clients:
        by_database[a.get("database") or "?"] = by_database.get(a.get("database") or "?", 0) + 1
    max_conn = db.get("max_connections")
    reserved = db.get("superuser_reserved_connections") or 0
    sessions = [Session(**a, own=bool(registry is not None and int(a["pid"]) in registry))
                for a in clients[:SESSIONS_SHOWN]]
    return Connections(
        total=len(clients),
        this_database=len(here),
        max_connections=max_conn,
        reserved=reserved,
        available=(max_conn - reserved - len(clients)) if max_conn else None,
        used_ratio=rounded(len(clients) / max_conn) if max_conn else None,
        by_state=by_state,
        by_state_this_database=states(here),
        by_database=dict(sorted(by_database.items(), key=lambda kv: (-kv[1], kv[0]))),
        waits=dict(sorted(waits.items())),
        by_application=sorted(groups.values(), key=lambda g: (-g.count, g.application)),
        oldest_xact=(OldestXact(pid=oldest["pid"], database=oldest.get("database"),
                                xact_age_s=oldest.get("xact_age_s"), state=oldest.get("state"),
                                application=oldest.get("application"), user=oldest.get("user"),
                                query=oldest.get("query"))
                     if oldest else None),
        idle_in_transaction=[IdleInTransaction(
            pid=a["pid"], database=a.get("database"), state_age_s=a.get("state_age_s"),
            xact_age_s=a.get("xact_age_s"), application=a.get("application"),
            user=a.get("user"), has_xid=bool(a.get("has_xid")), query=a.get("query"))
            for a in idle_x],
        replication_senders=len([a for a in activity if a.get("backend_type") == "walsender"]),
        sessions=sessions,
        hidden=by_state.get("hidden", 0) if degraded else None)


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions to show: ``db:`` ``user:`` ``app:`` ``state:`` (substrings, any case),
    ``min:`` (seconds since the query started; ``5``, ``2.5s``, ``3m``), and free words that
    must appear in the application, user, database or query."""

    database: str | None = None
    user: str | None = None
    application: str | None = None
    state: str | None = None
    min_duration_s: float | None = None
    words: tuple[str, ...] = ()

    FIELDS: ClassVar[dict[str, str]] = {
        "db": "database", "database": "database", "user": "user", "u": "user",
        "app": "application", "application": "application", "a": "application",
        "state": "state", "s": "state", "min": "min_duration_s", "duration": "min_duration_s",
    }

    @classmethod
    def parse(cls, text: str) -> SessionFilter:
        """Read the filter an operator typed; a bad ``min:`` value raises BadInput."""
        values: dict[str, Any] = {}
        words: list[str] = []
        for token in text.split():
            key, sep, value = token.partition(":")
            field_name = cls.FIELDS.get(key.lower()) if sep else None
            if field_name is None:
                words.append(token.lower())
                continue
            if field_name == "min_duration_s":
                values[field_name] = _seconds(value)
            elif value:
                values[field_name] = value.lower()
        return cls(**values, words=tuple(words))

    def __bool__(self) -> bool:
        return any((self.database, self.user, self.application, self.state,
                    self.min_duration_s is not None, self.words))

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("db", self.database), ("user", self.user),
                                         ("app", self.application), ("state", self.state))
                 if v]
        if self.min_duration_s is not None:
            parts.append(f"running >= {self.min_duration_s:g}s")
        parts += [f"'{w}'" for w in self.words]
        return ", ".join(parts)

    def match(self, session: Session) -> bool:
        def has(value: Any, wanted: str | None) -> bool:
            return wanted is None or wanted in str(value or "").lower()

        if not (has(session.database, self.database)
                and has(session.user, self.user)
                and has(session.application, self.application)
                and has(session.state or "hidden", self.state)):
            return False
        if self.min_duration_s is not None:
            age = session.query_age_s
            if age is None or session.state == "idle" or float(age) < self.min_duration_s:
                return False
        if self.words:
            hay = " ".join(str(v or "") for v in (session.application, session.user,
                                                  session.database, session.query)).lower()
            if not all(w in hay for w in self.words):
                return False
        return True


def _seconds(value: str) -> float:
    v = value.strip().lower()
    mult = 1.0
    if v.endswith("ms"):
        v, mult = v[:-2], 0.001
    elif v[-1:] in ("s", "m", "h"):
        v, mult = v[:-1], {"s": 1.0, "m": 60.0, "h": 3600.0}[v[-1]]
    try:
        return float(v) * mult
    except ValueError:
        raise BadInput(f"min:{value} is not a duration (try min:5, min:2.5s, min:3m)") from None


if TYPE_CHECKING:
    from nchat_tui.monitor.seams import BackendActions, Sampler
    from nchat_tui.state.journal import Journal  # a monitor opened alone has none to load

    def _is_both_seams(monitor: Monitor) -> tuple[Sampler, BackendActions]:
        """mypy's proof that ``Monitor`` implements both seams of the screens."""
        return monitor, monitor
