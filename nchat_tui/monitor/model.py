"""What one monitor sample holds, as types: the seam between the sampler and its readers.

``Monitor.sample()`` returns a ``Sample``; the dashboard, the compact panel, the text
rendering of ``nchat-tui monitor`` and the troubleshooting checks read its attributes, so a
renamed field fails mypy instead of showing "-" on screen. ``Sample.to_json()`` is the JSON of
``monitor --json`` and ``--once --json``, key for key as before these types existed (the keys
are pinned by ``tests/test_monitor.py``): fields are declared in the order of those keys, and a
field listed in a class's ``OMIT_NONE`` is left out of the JSON while it is None.

The values are what the JSON carries (floats rounded to 3 decimals, times as ISO strings), so
a screen shows what a script reads. The sampler builds a sample and never changes it after
handing it out; a panel that was not queried is carried from one sample to the next as the
same objects. Pure data: no database, no Textual.
"""

from __future__ import annotations

import types
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_HINTS: dict[type, dict[str, Any]] = {}


def plain(value: Any) -> Any:
    """A value with every record in it turned into its JSON dict (lists and dicts walked)."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _load(hint: Any, value: Any) -> Any:
    """``value`` (JSON) as the type ``hint`` declares: records built, lists and maps walked."""
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _load(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = get_args(hint)
        return [_load(item, v) for v in value]
    if origin is dict:
        _key, item = get_args(hint)
        return {k: _load(item, v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value)
    return value


class Record:
    """A typed part of a sample with its JSON form."""

    __slots__ = ()
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the JSON while they are None (keys the JSON only has sometimes)."""

    def to_json(self) -> dict[str, Any]:
        cls = type(self)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(self))  # type: ignore[arg-type]
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is None and name in self.OMIT_NONE:
                continue
            out[name] = plain(value)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """The record a JSON object of ``to_json()`` describes (a saved sample, a test's
        frozen one). Strict: a key the record does not have, or a required one missing,
        raises ``ValueError``, so JSON of another shape is never read as this record."""
        return _build(cls, data)


def _build(cls: type[Any], data: dict[str, Any]) -> Any:
    """``Record.from_json`` itself (the slotted dataclasses cannot call ``super()``)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    extra = sorted(set(data) - set(known))
    omitted = {n: None for n in cls.OMIT_NONE if n not in data}  # left out while None
    missing = sorted(n for n, f in known.items() if n not in data and n not in omitted
                     and f.default is MISSING and f.default_factory is MISSING)
    if extra or missing:
        raise ValueError(f"not a {cls.__name__}: "
                         + "; ".join([*(f"unknown key {k!r}" for k in extra),
                                      *(f"key {k!r} missing" for k in missing)]))
    return cls(**omitted, **{k: _load(hints[k], v) for k, v in data.items()})


def rounded(value: float | None) -> float | None:
    """A float as the JSON carries it (3 decimals); None stays None."""
    return round(value, 3) if isinstance(value, float) else value


# -- who we are ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Access(Record):
    """What the monitoring role may see: ``full``, ``degraded`` (with a label and the fix), or
    ``unknown`` before the first connection."""

    level: str
    role: str | None = None
    superuser: bool = False
    pg_monitor: bool = False
    pg_read_all_stats: bool = False
    pg_signal_backend: bool = False
    label: str | None = None
    """Why the view is degraded, in words (degraded only)."""
    fix: str | None = None
    """The GRANT that gives the full view (degraded only)."""

    def to_json(self) -> dict[str, Any]:
        if self.level == "unknown":
            return {"level": self.level}
        out: dict[str, Any] = {"role": self.role, "superuser": self.superuser,
                               "pg_monitor": self.pg_monitor,
                               "pg_read_all_stats": self.pg_read_all_stats,
                               "pg_signal_backend": self.pg_signal_backend, "level": self.level}
        if self.label is not None:
            out["label"] = self.label
        if self.fix is not None:
            out["fix"] = self.fix
        return out


# -- sessions ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Session(Record):
    """One client (or replication) backend of the server: a row of ``monitor/activity.sql``,
    whether it is one of ours, and its process figures when we run on the database host."""

    pid: int
    database: str | None
    user: str | None
    application: str | None
    client_addr: str | None
    backend_type: str | None
    hidden: bool
    """Another role's session whose details this role may not read."""
    state: str | None
    """``active``, ``idle``, ``idle in transaction``...; None when hidden."""
    wait_event_type: str | None
    wait_event: str | None
    backend_age_s: float | None
    xact_age_s: float | None
    query_age_s: float | None
    state_age_s: float | None
    has_xid: bool
    leader_pid: int | None
    superuser: bool | None
    query: str | None
    """The statement text (cut to 300 characters, secrets masked)."""
    own: bool = False
    """One of nchat-tui's own sessions (the guarded actions refuse it)."""
    cpu_pct: float | None = None
    rss_bytes: int | None = None
    read_bps: float | None = None
    write_bps: float | None = None


@dataclass(slots=True)
class BackendFigures:
    """A backend's process figures on the database host (psutil)."""

    cpu_pct: float | None = None
    rss_bytes: int | None = None
    read_bps: float | None = None
    write_bps: float | None = None


@dataclass(slots=True)
class AppGroup(Record):
    """Client sessions of one application and user, by state."""

    application: str
    user: str
    count: int
    states: dict[str, int]


@dataclass(slots=True)
class OldestXact(Record):
    pid: int
    database: str | None
    xact_age_s: float | None
    state: str | None
    application: str | None
    user: str | None
    query: str | None


@dataclass(slots=True)
class IdleInTransaction(Record):
    pid: int
    database: str | None
    state_age_s: float | None
    xact_age_s: float | None
    application: str | None
    user: str | None
    has_xid: bool
    query: str | None


@dataclass(slots=True)
class Connections(Record):
    """The client sessions of the whole server, counted, and each of them (the oldest
    transactions first, at most ``SESSIONS_SHOWN``); ``*_this_database`` is the view of one."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"hidden"})

    total: int
    this_database: int
    max_connections: int | None
    reserved: int
    available: int | None
    used_ratio: float | None
    by_state: dict[str, int]
    by_state_this_database: dict[str, int]
    by_database: dict[str, int]
    waits: dict[str, int]
    """Active sessions by wait event type."""
    by_application: list[AppGroup]
    oldest_xact: OldestXact | None
    idle_in_transaction: list[IdleInTransaction]
    replication_senders: int
    sessions: list[Session]
    hidden: int | None = None
    """Sessions whose state this role may not see (degraded view only)."""


@dataclass(slots=True)
class SystemLine(Record):
    """The database host's load, memory and disk IO."""

    load: list[float]
    cpus: int | None
    mem_total: int
    mem_available: int
    mem_used_pct: float
    disk_read_bps: float | None
    disk_write_bps: float | None


@dataclass(slots=True)
class Host(Record):
    """Whether we run on the database host (then the process figures and the system line)."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"system"})

    local: bool
    reason: str
    system: SystemLine | None = None


# -- tables --------------------------------------------------------------------------------------
@dataclass(slots=True)
class TableLock(Record):
    """The ACCESS EXCLUSIVE lock on a table: who holds it and who queues on the table."""

    mode: str
    held_by: list[int]
    waiting: list[int]


@dataclass(slots=True)
class Table(Record):
    """A row of ``monitor/table_sizes.sql``: one of the largest (or a locked) tables."""

    oid: int
    schema: str
    name: str
    kind: str
    size_source: str
    """``exact``, or ``catalog`` (page counts) for a table under an ACCESS EXCLUSIVE lock."""
    total_bytes: int
    heap_bytes: int
    index_bytes: int
    toast_bytes: int
    row_estimate: int | None
    live_tuples: int | None
    dead_tuples: int | None
    mod_since_analyze: int | None
    last_vacuum: str | None
    last_analyze: str | None
    locked: bool
    qualified_name: str
    lock: TableLock | None


# -- statements ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Statement(Record):
    """A pg_stat_statements entry of this database, with its deltas since the last sample."""

    queryid: str
    database: str | None
    user: str | None
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    read_ms: float
    query: str
    """The text without its leading comment (secrets masked), at most 300 characters."""
    comment: str | None
    """The first line of its leading comment."""
    monitoring: bool
    """A monitoring statement (ours, pg_activity's...): kept out of the slow queries."""
    source: str | None
    """Who runs it, when the text says (``nchat-tui activity.sql``, ``pg_activity``...)."""
    calls_delta: int | None
    total_ms_delta: float | None
    mean_ms_delta: float | None


@dataclass(slots=True)
class Outdated(Record):
    installed: str
    default: str
    fix: str


@dataclass(slots=True)
class SlowQueries(Record):
    """pg_stat_statements: the statements when ``state`` is ``ok``; otherwise why not
    (``unavailable``) and the ``fix``. ``no_data`` before the first answer."""

    state: str
    installed_version: str | None = None
    default_version: str | None = None
    outdated: Outdated | None = None
    unavailable: str | None = None
    fix: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    """pg_stat_statements' column read for each meaning (total, mean, max, read_time)."""
    deltas: bool = False
    """Whether the ``*_delta`` figures are since a previous sample."""
    interval_s: float | None = None
    top_by_total: list[Statement] = field(default_factory=list)
    top_by_mean: list[Statement] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    """Every statement picked, by cumulative time (a stable order)."""
    monitoring: list[Statement] = field(default_factory=list)
    limited: str | None = None
    """How many statements of other roles this role may not read, and the GRANT."""

    def to_json(self) -> dict[str, Any]:
        if self.state == "no_data":
            return {"unavailable": self.unavailable, "state": self.state, "fix": self.fix}
        out: dict[str, Any] = {"installed_version": self.installed_version,
                               "default_version": self.default_version}
        if self.outdated is not None:
            out["outdated"] = self.outdated.to_json()
        out["state"] = self.state
        if self.state != "ok":
            out["unavailable"] = self.unavailable
            out["fix"] = self.fix
            return out
        out.update(columns=dict(self.columns), deltas=self.deltas, interval_s=self.interval_s,
                   top_by_total=plain(self.top_by_total), top_by_mean=plain(self.top_by_mean),
                   statements=plain(self.statements), monitoring=plain(self.monitoring))
        if self.limited is not None:
            out["limited"] = self.limited
        return out


# -- locks ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class LockWait(Record):
    """The longest lock wait of the sample."""

    pid: int
    wait_s: float | None
    mode: str | None
    relation: str | None
    locktype: str | None
    wait_event: str | None
    blocked_by: list[int]


@dataclass(slots=True)
class LockEntry(Record):
    """A session in the blocking tree: a waiter (``waiting``), a blocker, or both."""

    pid: int
    user: str | None
    application: str | None
    state: str | None
    xact_age_s: float | None
    query: str | None
    database: str | None
    waiting: bool
    mode: str | None
    """The mode it waits for (waiters only)."""
    locktype: str | None
    relation: str | None
    wait_event: str | None
    wait_s: float | None
    blocked_by: list[int]
    held_modes: list[str]
    """The modes it holds on the target its waiters want."""
    own: bool
    queue: int
    """How many sessions wait behind it, transitively."""


@dataclass(slots=True)
class LockNode(LockEntry):
    """A node of the tree, with the sessions that wait behind it."""

    children: list[LockNode] = field(default_factory=list)


@dataclass(slots=True)
class LockRow(LockEntry):
    """The tree flattened in display order: ``depth`` 0 for a root."""

    depth: int = 0


@dataclass(slots=True)
class Locks(Record):
    """Lock waits of the whole server as a blocking tree (and flattened)."""

    waiting: int
    longest_wait_s: float | None
    longest: LockWait | None
    tree: list[LockNode]
    rows: list[LockRow]
    answered: bool = True
    """False before the lock panel ever answered: the JSON then keeps its historic
    placeholder (``waiters: []``, no ``longest`` nor ``rows``)."""

    def to_json(self) -> dict[str, Any]:
        if not self.answered:
            return {"waiting": self.waiting, "longest_wait_s": self.longest_wait_s, "tree": [],
                    "waiters": []}
        return {"waiting": self.waiting, "longest_wait_s": self.longest_wait_s,
                "longest": plain(self.longest), "tree": plain(self.tree),
                "rows": plain(self.rows)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        if "waiters" in data:  # the placeholder before the lock panel ever answered
            return cls(waiting=data["waiting"], longest_wait_s=data["longest_wait_s"],
                       longest=None, tree=[], rows=[], answered=False)
        out: Self = _build(cls, data)
        return out

    @classmethod
    def none_yet(cls) -> Locks:
        return cls(waiting=0, longest_wait_s=None, longest=None, tree=[], rows=[],
                   answered=False)


# -- progress, replication, databases ------------------------------------------------------------
@dataclass(slots=True)
class Progress(Record):
    """A running VACUUM, ANALYZE, CREATE INDEX, CLUSTER or COPY of this database."""

    kind: str
    pid: int
    relation: str | None
    phase: str | None
    done: int | None
    total: int | None
    unit: str
    percent: float | None


@dataclass(slots=True)
class Replica(Record):
    pid: int
    application: str | None
    client_addr: str | None
    state: str | None
    sync_state: str | None
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None
    lag_bytes: int | None


@dataclass(slots=True)
class Slot(Record):
    slot: str
    type: str
    active: bool
    retained_bytes: int | None


@dataclass(slots=True)
class Replication(Record):
    in_recovery: bool
    replay_delay_s: float | None
    """On a standby: how far its replay is behind."""
    replicas: list[Replica]
    slots: list[Slot]
    max_lag_bytes: int | None
    max_replay_lag_s: float | None


@dataclass(slots=True)
class DatabaseEntry(Record):
    """One database of the server: its client sessions, lock waits and transactions/s."""

    name: str
    current: bool
    """The database this monitor is connected to."""
    sessions: int
    active: int
    idle_in_transaction: int
    lock_waits: int
    waiting: int
    tps: float | None


@dataclass(slots=True)
class CacheHit(Record):
    interval: float | None
    """Over the last interval (None without one)."""
    cumulative: float | None
    """Since the statistics were reset."""


@dataclass(slots=True)
class Xact(Record):
    """Counters of the monitored database."""

    commit: int | None
    rollback: int | None
    deadlocks: int | None
    temp_bytes: int | None


@dataclass(slots=True)
class StaleInfo(Record):
    """A panel whose last query failed: since when, why, and whether older data is shown."""

    since: str | None
    reason: str | None
    last_ok: str | None
    has_data: bool


# -- the sample ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Sample(Record):
    """One sample of the server (see ``nchat_tui.monitor.sampler``)."""

    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"xact", "error"})

    ts: str
    target: str
    """The target as ``user@host:port/db`` (never a password)."""
    interval_s: float | None
    database: str | None
    server_version: str | None
    server_version_num: int | None
    backend_pid: int | None
    """Our own sampling session (counted, never listed)."""
    access: Access
    database_size: int | None
    database_size_at: str | None
    tables: list[Table]
    connections: Connections | None
    """None before the sessions were ever read (the JSON then has ``{}``)."""
    host: Host
    slow_queries: SlowQueries
    locks: Locks
    progress: list[Progress]
    cache_hit_ratio: CacheHit
    tps: float | None
    tps_this_database: float | None
    tps_by_database: dict[str, float]
    xact: Xact | None
    databases: list[DatabaseEntry]
    replication: Replication | None
    """None before replication was ever read (the JSON then has ``{}``)."""
    panels_at: dict[str, str | None]
    """When each panel last answered: a sample carries panels it did not query."""
    stale: dict[str, StaleInfo]
    error: str | None
    """Why there is no connection (then every panel is stale)."""
    sample_ms: float

    def to_json(self) -> dict[str, Any]:
        out = Record.to_json(self)
        if self.connections is None:
            out["connections"] = {}
        if self.replication is None:
            out["replication"] = {}
        return out

    @classmethod
    def nothing(cls, error: str, *, ts: str = "", target: str = "") -> Sample:
        """A sample without any data, only why (a sampler that raised, a test's)."""
        return cls(ts=ts, target=target, interval_s=None, database=None, server_version=None,
                   server_version_num=None, backend_pid=None, access=Access(level="unknown"),
                   database_size=None, database_size_at=None, tables=[], connections=None,
                   host=Host(local=False, reason="no sample"),
                   slow_queries=SlowQueries(state="no_data"), locks=Locks.none_yet(),
                   progress=[], cache_hit_ratio=CacheHit(interval=None, cumulative=None),
                   tps=None, tps_this_database=None, tps_by_database={}, xact=None,
                   databases=[], replication=None, panels_at={}, stale={}, error=error,
                   sample_ms=0.0)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        empty = {k: None for k in ("connections", "replication") if data.get(k) == {}}
        out: Self = _build(cls, {**data, **empty})
        return out


# -- the guarded actions -------------------------------------------------------------------------
@dataclass(slots=True)
class ActionResult(Record):
    """A cancel or terminate that PostgreSQL answered (``ok``: the backend was signalled)."""

    action: str
    pid: int
    ok: bool
    user: str | None = None
    application: str | None = None
    query: str | None = None


@dataclass(slots=True)
class ExplainResult(Record):
    """A plan from the safe EXPLAIN; the statement's transaction is always rolled back."""

    mode: str
    """``plan``, ``generic_plan`` or ``analyze``."""
    plan: list[str]
    rolled_back: bool = True
