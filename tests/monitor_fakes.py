"""Frozen monitor samples and fakes for the dashboard's snapshot and Pilot tests.

``FROZEN_SAMPLE`` is the JSON of a sample (``Sample.to_json()``; a real sample taken during a
held ACCESS EXCLUSIVE lock, with the numbers frozen): live figures drift, snapshots must not.
``test_monitor.test_frozen_sample_has_the_real_shape`` compares its keys, at every level, with
a sample taken on a real server, and ``Sample.from_json`` refuses a key the types do not have,
so the fake cannot drift from the real thing. ``FakeSampler`` and ``FakeActions`` implement the
seams of ``nchat_tui.monitor.seams`` (``tests/test_fake_shapes.py`` keeps their signatures
equal to the real ``Monitor``'s).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from typing import Any

from nchat_tui.errors import Refused
from nchat_tui.monitor.model import ActionResult, ExplainResult, Sample


def _session(pid: int, user: str, app: str, state: str | None, query: str, xact: float | None,
             wait: tuple[str, str] | None = None, own: bool = False,
             superuser: bool = False, database: str = "nchat") -> dict[str, Any]:
    return {
        "pid": pid, "database": database, "user": user, "application": app,
        "client_addr": "172.18.0.5", "backend_type": "client backend", "state": state,
        "hidden": False, "wait_event_type": wait[0] if wait else None,
        "wait_event": wait[1] if wait else None, "backend_age_s": 3600.0,
        "xact_age_s": xact, "query_age_s": xact, "state_age_s": xact,
        "has_xid": state == "idle in transaction", "leader_pid": None, "superuser": superuser,
        "query": query, "own": own,
        "cpu_pct": None, "rss_bytes": None, "read_bps": None, "write_bps": None,
    }


SESSIONS = [
    _session(4101, "postgres", "nself migrate", "idle in transaction",
             "ALTER TABLE nchat_messages ADD COLUMN is_encrypted boolean", 42.5,
             superuser=True),
    _session(4107, "nchat", "hasura", "active", "SELECT * FROM nchat_messages WHERE "
             "channel_id = $1 ORDER BY created_at DESC LIMIT $2", 12.3,
             wait=("Lock", "relation")),
    _session(4110, "nchat", "hasura", "active", "INSERT INTO nchat_messages (channel_id, "
             "user_id, content) VALUES ($1, $2, $3)", 9.8, wait=("Lock", "relation")),
    _session(4115, "nchat", "nchat-api", "idle", "COMMIT", None),
    _session(4120, "nchat", "nchat-api", "active", "SELECT count(*) FROM nchat_users", 0.2),
    _session(4188, "postgres", "nchat-tui monitor", "active", "-- activity.sql", 0.0,
             own=True, superuser=True),
    _session(4190, "postgres", "nchat-tui", "active", "CREATE INDEX CONCURRENTLY "
             "idx_messages_encrypted ON nchat_messages (is_encrypted)", 0.0, own=True,
             superuser=True),
    _session(5201, "app", "pgbench", "active", "UPDATE pgbench_accounts SET abalance = "
             "abalance + $1 WHERE aid = $2", 0.01, database="pgbench"),
    _session(5202, "app", "pgbench", "active", "UPDATE pgbench_branches SET bbalance = "
             "bbalance + $1 WHERE bid = $2", 0.4, wait=("Lock", "transactionid"),
             database="pgbench"),
]

LOCK_ROWS = [
    {"pid": 4101, "user": "postgres", "application": "nself migrate",
     "state": "idle in transaction", "xact_age_s": 42.5,
     "query": "ALTER TABLE nchat_messages ADD COLUMN is_encrypted boolean", "waiting": False,
     "mode": None, "locktype": None, "relation": None, "wait_s": None, "blocked_by": [],
     "held_modes": ["AccessExclusiveLock"], "own": False, "queue": 2, "depth": 0,
     "database": "nchat", "wait_event": None},
    {"pid": 4107, "user": "nchat", "application": "hasura", "state": "active",
     "xact_age_s": 12.3, "query": "SELECT * FROM nchat_messages WHERE channel_id = $1",
     "waiting": True, "mode": "AccessShareLock", "locktype": "relation",
     "relation": "nchat_messages", "wait_s": 12.3, "blocked_by": [4101], "held_modes": [],
     "own": False, "queue": 0, "depth": 1, "database": "nchat", "wait_event": "relation"},
    {"pid": 4110, "user": "nchat", "application": "hasura", "state": "active",
     "xact_age_s": 9.8, "query": "INSERT INTO nchat_messages (channel_id, user_id, content)",
     "waiting": True, "mode": "RowExclusiveLock", "locktype": "relation",
     "relation": "nchat_messages", "wait_s": 9.8, "blocked_by": [4101], "held_modes": [],
     "own": False, "queue": 0, "depth": 1, "database": "nchat", "wait_event": "relation"},
]


def _table(oid: int, name: str, total: int, heap: int, index: int, toast: int, rows: int,
           dead: int, analyzed: str | None, locked: bool = False) -> dict[str, Any]:
    return {
        "oid": oid, "schema": "public", "name": name, "kind": "r",
        "size_source": "catalog" if locked else "exact", "total_bytes": total,
        "heap_bytes": heap, "index_bytes": index, "toast_bytes": toast, "row_estimate": rows,
        "live_tuples": rows, "dead_tuples": dead, "mod_since_analyze": 0,
        "last_vacuum": analyzed, "last_analyze": analyzed, "locked": locked,
        "qualified_name": f"public.{name}",
        "lock": ({"mode": "AccessExclusiveLock", "held_by": [4101], "waiting": []}
                 if locked else None),
    }


TABLES = [
    _table(16501, "nchat_messages", 2_684_354_560, 1_932_735_283, 644_245_094, 107_374_183,
           8_200_000, 12_400, "2026-11-21T23:10:00+00:00", locked=True),
    _table(16420, "nchat_attachments", 734_003_200, 524_288_000, 157_286_400, 52_428_800,
           910_000, 310, "2026-11-21T22:00:00+00:00"),
    _table(16440, "nchat_reactions", 157_286_400, 104_857_600, 52_428_800, 0, 2_100_000, 0,
           "2026-11-21T21:00:00+00:00"),
    _table(16400, "nchat_users", 26_214_400, 16_777_216, 8_388_608, 1_048_576, 48_000, 52,
           None),
    _table(16410, "nchat_channels", 4_194_304, 2_097_152, 2_097_152, 0, 3_100, 0,
           "2026-11-21T20:00:00+00:00"),
]

SLOW = [
    {"queryid": "-812734", "user": "nchat", "calls": 1_204_332, "total_ms": 3_921_004.0,
     "mean_ms": 3.256, "max_ms": 812.0, "rows": 1_204_332, "shared_blks_hit": 1, "shared_blks_read": 0,
     "read_ms": 0.0, "query": "SELECT * FROM nchat_messages WHERE channel_id = $1 ORDER BY "
     "created_at DESC LIMIT $2", "calls_delta": 214, "total_ms_delta": 1830.5,
     "mean_ms_delta": 8.55},
    {"queryid": "99120", "user": "nchat", "calls": 88_120, "total_ms": 1_021_339.0,
     "mean_ms": 11.59, "max_ms": 2410.0, "rows": 88_120, "shared_blks_hit": 1,
     "shared_blks_read": 0, "read_ms": 0.0, "query": "INSERT INTO nchat_messages (channel_id, "
     "user_id, content) VALUES ($1, $2, $3)", "calls_delta": 31, "total_ms_delta": 402.0,
     "mean_ms_delta": 12.97},
    {"queryid": "7001", "user": "nchat", "calls": 120, "total_ms": 96_000.0, "mean_ms": 800.0,
     "max_ms": 1900.0, "rows": 120, "shared_blks_hit": 1, "shared_blks_read": 0, "read_ms": 0.0,
     "query": "SELECT u.id, count(m.id) FROM nchat_users u JOIN nchat_messages m ON m.user_id "
     "= u.id GROUP BY u.id", "calls_delta": 0, "total_ms_delta": 0.0, "mean_ms_delta": None},
]

for _q in SLOW:
    _q.update(database="nchat", comment=None, monitoring=False, source=None)
SLOW[2]["comment"] = "Weekly report: messages per user (ops/reports.sql)"

MONITORING = [
    {"queryid": "5550001", "database": "nchat", "user": "postgres", "calls": 7_200,
     "total_ms": 21_600.0, "mean_ms": 3.0, "max_ms": 19.0, "rows": 7_200, "shared_blks_hit": 1,
     "shared_blks_read": 0, "read_ms": 0.0, "query": "SELECT a.pid AS pid, a.backend_xmin AS "
     "xmin, a.application_name AS application_name FROM pg_stat_activity a",
     "comment": "Get data from pg_activity since pg 13", "monitoring": True,
     "source": "pg_activity", "calls_delta": 2, "total_ms_delta": 6.0, "mean_ms_delta": 3.0},
]

FROZEN_SAMPLE: dict[str, Any] = {
    "ts": "2026-11-22T03:00:00.000+00:00",
    "target": "postgres@127.0.0.1:5432/nchat",
    "interval_s": 2.001,
    "database": "nchat",
    "server_version": "15.8 (Debian 15.8-1)",
    "server_version_num": 150008,
    "backend_pid": 4188,
    "access": {"role": "postgres", "superuser": True, "pg_monitor": True,
               "pg_read_all_stats": True, "pg_signal_backend": True, "level": "full"},
    "database_size": 3_758_096_384,
    "database_size_at": "2026-11-22T02:59:41.000+00:00",
    "tables": TABLES,
    "connections": {
        "total": 9, "this_database": 7, "max_connections": 100, "reserved": 3,
        "available": 88, "used_ratio": 0.09,
        "by_state": {"active": 7, "idle": 1, "idle in transaction": 1},
        "by_state_this_database": {"active": 5, "idle": 1, "idle in transaction": 1},
        "by_database": {"nchat": 7, "pgbench": 2},
        "waits": {"Lock": 3},
        "by_application": [], "oldest_xact": {"pid": 4101, "database": "nchat",
                                              "xact_age_s": 42.5,
                                              "state": "idle in transaction",
                                              "application": "nself migrate",
                                              "user": "postgres", "query": "ALTER TABLE"},
        "idle_in_transaction": [], "replication_senders": 0, "sessions": SESSIONS,
    },
    "host": {"local": False, "reason": "host db.internal is not a socket or a loopback "
             "address"},
    "databases": [
        {"name": "nchat", "current": True, "sessions": 7, "active": 5, "idle_in_transaction": 1,
         "lock_waits": 2, "waiting": 2, "tps": 143.5},
        {"name": "pgbench", "current": False, "sessions": 2, "active": 2,
         "idle_in_transaction": 0, "lock_waits": 1, "waiting": 1, "tps": 1180.0},
        {"name": "postgres", "current": False, "sessions": 0, "active": 0,
         "idle_in_transaction": 0, "lock_waits": 0, "waiting": 0, "tps": 0.0},
    ],
    "slow_queries": {"installed_version": "1.10", "default_version": "1.10", "state": "ok",
                     "columns": {"total": "total_exec_time", "mean": "mean_exec_time",
                                 "max": "max_exec_time", "read_time": "blk_read_time"},
                     "deltas": True, "interval_s": 2.001, "top_by_total": SLOW,
                     "top_by_mean": sorted(SLOW, key=lambda q: -q["mean_ms"]),
                     "statements": sorted(SLOW, key=lambda q: -q["total_ms"]),
                     "monitoring": MONITORING},
    "locks": {"waiting": 2, "longest_wait_s": 12.3,
              "longest": {"pid": 4107, "wait_s": 12.3, "mode": "AccessShareLock",
                          "relation": "nchat_messages", "locktype": "relation",
                          "wait_event": "relation", "blocked_by": [4101]},
              "tree": [], "rows": LOCK_ROWS},
    "progress": [{"kind": "create_index", "pid": 4130, "relation": "idx_messages_encrypted",
                  "phase": "building index: scanning table", "done": 81_920, "total": 235_929,
                  "unit": "blocks", "percent": 34.7}],
    "cache_hit_ratio": {"interval": 0.9931, "cumulative": 0.9874},
    "tps": 1323.5,
    "tps_this_database": 143.5,
    "tps_by_database": {"nchat": 143.5, "pgbench": 1180.0, "postgres": 0.0},
    "xact": {"commit": 9_120_331, "rollback": 1_204, "deadlocks": 0, "temp_bytes": 0},
    "replication": {"in_recovery": False, "replay_delay_s": None, "replicas": [], "slots": [],
                    "max_lag_bytes": None, "max_replay_lag_s": None},
    "panels_at": {name: "2026-11-22T03:00:00.000+00:00" for name in (
        "database", "connections", "locks", "tables", "slow_queries", "progress",
        "replication")},
    "stale": {},
    "sample_ms": 11.4,
}

def local_sample() -> dict[str, Any]:
    """FROZEN_SAMPLE as seen on the database host: per-backend CPU/memory/IO, a system line."""
    s = copy.deepcopy(FROZEN_SAMPLE)
    s["host"] = {"local": True, "reason": "on the database host (loopback 127.0.0.1)",
                 "system": {"load": [1.52, 1.1, 0.87], "cpus": 8, "mem_total": 34_359_738_368,
                            "mem_available": 20_615_843_020, "mem_used_pct": 40.0,
                            "disk_read_bps": 1_258_291.0, "disk_write_bps": 8_598_323.0}}
    figures = {4101: (0.0, 48_234_496, 0.0, 0.0), 4107: (12.0, 31_457_280, 524_288.0, 0.0),
               4110: (3.0, 29_360_128, 0.0, 65_536.0), 4115: (0.0, 18_874_368, 0.0, 0.0),
               4120: (41.0, 35_651_584, 2_097_152.0, 0.0), 4188: (1.0, 39_845_888, 0.0, 0.0),
               4190: (87.0, 61_865_984, 8_388_608.0, 4_194_304.0),
               5201: (9.0, 22_020_096, 0.0, 131_072.0), 5202: (0.0, 20_971_520, 0.0, 0.0)}
    for sess in s["connections"]["sessions"]:
        cpu, rss, rd, wr = figures[sess["pid"]]
        sess.update(cpu_pct=cpu, rss_bytes=rss, read_bps=rd, write_bps=wr)
    return s


TPS_SERIES = [120.0, 131.5, 143.5, 98.0, 143.5]
CONN_SERIES = [6, 7, 7, 8, 7]


class FakeSampler:
    """A ``Sampler`` that returns the frozen sample (``sample``: its JSON, or a Sample), a new
    ``Sample`` each call; tps and connection counts walk a fixed series."""

    def __init__(self, sample: dict[str, Any] | Sample | None = None) -> None:
        base = FROZEN_SAMPLE if sample is None else sample
        self.base = base.to_json() if isinstance(base, Sample) else copy.deepcopy(base)
        Sample.from_json(self.base)  # a frozen sample of another shape fails here, at once
        self.calls = 0
        self.events: list[str] = []
        self.panels: list[list[str] | None] = []
        """What each sample() was asked for (None: every panel)."""
        self.lock = threading.Lock()

    def sample(self, panels: Iterable[str] | None = None) -> Sample:
        with self.lock:
            i = self.calls
            self.calls += 1
            self.events.append("sample")
            self.panels.append(None if panels is None else sorted(panels))
        s = Sample.from_json(copy.deepcopy(self.base))
        s.tps_this_database = TPS_SERIES[i % len(TPS_SERIES)]
        s.tps = s.tps_this_database + 1180.0
        if s.connections is not None:
            s.connections.this_database = CONN_SERIES[i % len(CONN_SERIES)]
            s.connections.total = CONN_SERIES[i % len(CONN_SERIES)] + 2
        return s

    def prefetch(self, panels: Iterable[str] | None = None) -> None:
        """Nothing to connect to: the first ``sample()`` samples."""

    def refresh_size(self, force: bool = False) -> bool:
        """The Monitor's between-samples upkeep: recorded, so tests see when pollers call it."""
        with self.lock:
            self.events.append("size")
        return True


class FakeActions:
    """``BackendActions`` that record the actions; refuses our own pid as the core does, and
    EXPLAINs nothing (a test that needs a plan overrides ``explain``)."""

    def __init__(self, own: set[int] | None = None) -> None:
        self.calls: list[tuple[str, int, bool]] = []
        self.own = own or {4188, 4190}

    def cancel_backend(self, pid: int, *, confirm_privileged: bool = False) -> ActionResult:
        if pid in self.own:
            raise Refused(f"pid {pid} is one of nchat-tui's own sessions")
        self.calls.append(("cancel", pid, confirm_privileged))
        return ActionResult(action="cancel", pid=pid, ok=True)

    def terminate_backend(self, pid: int, typed_pid: str, *,
                          confirm_privileged: bool = False) -> ActionResult:
        if typed_pid != str(pid):
            raise Refused("typed pid does not match")
        self.calls.append(("terminate", pid, confirm_privileged))
        return ActionResult(action="terminate", pid=pid, ok=True)

    def explain(self, query: str, *, analyze: bool = False) -> ExplainResult:
        raise Refused("the fake explains nothing")


# -- small apps that host the monitor screens in tests ----------------------------------------
async def until_sampled(pilot: Any, screen: Any, count: int, timeout: float = 10.0) -> None:
    """Wait until the dashboard ``screen`` has drawn ``count`` samples (its sampling thread
    delivers them as messages), then let the screen settle."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while screen.samples_taken < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{screen.samples_taken} samples drawn after {timeout} s, "
                                 f"not {count}")
        await asyncio.sleep(0.01)
    await pilot.pause()


async def until_idle(pilot: Any, screen: Any, timeout: float = 10.0) -> None:
    """Wait until the dashboard ``screen`` has no sample under way or due soon (its next one
    an interval away, or paused): what it shows then stays as it is (the fakes' interval is
    30 s)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        due = screen.next_sample_due
        waiting = screen.paused or (due is not None and due - time.monotonic() > 1.0)
        if screen.samples_taken and waiting:
            break
        if time.monotonic() > deadline:
            raise AssertionError("the dashboard kept sampling (or never sampled)")
        await asyncio.sleep(0.01)
    await pilot.pause()


def dashboard_app(sampler: Any = None, actions: Any = None, interval: float = 30.0) -> Any:
    """An App that opens a DashboardScreen on the fake (a long interval: one sample only)."""
    from textual.app import App

    from nchat_tui.screens.dashboard import DashboardScreen

    class DashboardApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.sampler = sampler if sampler is not None else FakeSampler()
            self.actions = actions if actions is not None else FakeActions()

        def on_mount(self) -> None:
            self.push_screen(DashboardScreen(self.sampler, self.actions, interval=interval))

    return DashboardApp()


def panel_app(sample: Sample | dict[str, Any], extra: list[Sample] | None = None) -> Any:
    """An App with a placeholder body and the compact MonitorPanel fed ``sample`` (a Sample,
    or its JSON)."""
    shown = Sample.from_json(sample) if isinstance(sample, dict) else sample
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Static

    from nchat_tui.screens.widgets.monitor_panel import MonitorPanel

    class PanelApp(App[None]):
        CSS = "#body { height: 1fr; }"

        def compose(self) -> ComposeResult:
            yield Static("phase screen body", id="body")
            yield MonitorPanel()
            yield Footer()

        def on_mount(self) -> None:
            panel = self.query_one(MonitorPanel)
            for s in extra or []:
                panel.update_sample(s)
            panel.update_sample(shown)

    return PanelApp()
