"""The migration runner: one at a time, atomic per file, visible per statement, honest on failure.

- **One runner at a time**: a session-level ``pg_try_advisory_lock(hashtext('nself:migrations'))``
  (the nself CLI's key) on a dedicated, idle connection, tried from the client and held for the
  whole run. Never a blocking ``pg_advisory_lock``: a waiting runner can deadlock a ``CREATE
  INDEX CONCURRENTLY`` in the running one. Held elsewhere: ``LockHeld`` (exit 4) naming the
  holder.
- **Atomic files**: a file without transaction control runs in one transaction together with its
  ledger rows. A file with one outer ``BEGIN; ... COMMIT;`` runs as that one transaction (its
  own BEGIN/COMMIT are not sent; ours take their place) with the ledger rows inside. A file with
  a ``ROLLBACK;`` guard or several transactions is refused unless the operator confirms running it
  as written. A file holding statements that cannot run in a transaction block runs statement
  by statement, each committed on its own, the ledger rows last; after a failure the invalid
  indexes left behind are listed and their ``DROP INDEX CONCURRENTLY`` offered.
- **Lock waits**: ``lock_timeout`` per statement (default 5 s). A watcher connection samples
  ``pg_blocking_pids`` while a statement waits on a lock; on a timeout the operator's callback
  chooses: retry, wait longer, cancel or terminate the blocker, or stop. A transactional file is
  rolled back before the question, so no lock is held while a human decides; it is then re-run
  from its first statement. Headless: retry N times, then stop with the blockers in the result.
- **Ledger**: written exactly as the nself Go CLI would (see ``ledger.py``); with no ledger yet,
  the Go one is created.
- **Gate** (``check_gate``): refuses unless a verified backup of this database, newer than its
  latest ledger change, exists, or ``without_backup`` gives a reason (journaled); refuses while a
  pg_dump reads the database.

Every statement is journaled when it starts and when it ends, so after a ``kill -9`` the journal
and the ledger say exactly what committed. Callbacks are plain functions called from the
runner's thread: a UI must hand them to its own thread and may block in them to ask.
This module never imports Textual and never prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.backup.engine import latest_verified_backup, list_backups
from nchat_tui.errors import BadInput, LockHeld, NchatError, NeedsBackup, OperationFailed, Refused
from nchat_tui.migrate.discovery import Discovery, MigrationFile, discover
from nchat_tui.migrate.ledger import (
    Ledger,
    detect_ledger,
    ensure_go_ledger,
    pending,
    record_applied,
    remove_applied,
)
from nchat_tui.migrate.plan import FileAnalysis, Statement, analyse_sql
from nchat_tui.migrate.preflight import catalog_gate
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.scrub import scrub_rows, scrub_sql
from nchat_tui.pg.snapshot import read_ledgers
from nchat_tui.pg.target import Target
from nchat_tui.state.failpoints import failpoint, fire, is_armed
from nchat_tui.state.journal import Journal, JournalWriteError, os_user
from nchat_tui.state.safeio import read_text_utf8
from nchat_tui.upgrade.recovery import me, pid_alive

APP_NAME = "nchat-tui migrate"
LOCK_APP_NAME = "nchat-tui migrate (lock)"
WATCH_APP_NAME = "nchat-tui migrate (watch)"
WATCH_INTERVAL_S = 0.2
CONFIRM_MODES = ("rollback_guard", "multi_transaction")

# Decisions after a lock timeout.
RETRY, WAIT_LONGER, CANCEL_BLOCKER, TERMINATE_BLOCKER, STOP = (
    "retry", "wait_longer", "cancel_blocker", "terminate_blocker", "stop")


# -- what callers see --------------------------------------------------------------------------
@dataclass
class Blocker:
    """A session that blocks one of our statements."""

    pid: int
    application: str | None = None
    user: str | None = None
    client_addr: str | None = None
    state: str | None = None
    xact_age_s: float | None = None
    query: str | None = None
    lock_mode: str | None = None

    @property
    def cancel_is_useless(self) -> bool:
        """Cancelling stops a running query only: an idle-in-transaction session keeps its
        locks until it is terminated (or commits)."""
        return (self.state or "").startswith("idle in transaction")

    def describe(self) -> str:
        age = f", transaction open {self.xact_age_s:.0f} s" if self.xact_age_s is not None else ""
        idle = " - cancelling will not help, only terminating" if self.cancel_is_useless else ""
        return (f"pid {self.pid} ({self.application or 'no application name'}, "
                f"{self.user or '?'}@{self.client_addr or 'local'}, {self.state or '?'}{age}"
                f"{idle}): {(self.query or '').strip()[:80]}")


@dataclass
class LockHolder:
    """The session holding the migration lock."""

    pid: int
    application: str | None
    client_addr: str | None
    user: str | None
    since: dt.datetime | None
    state: str | None
    query: str | None

    def describe(self) -> str:
        since = self.since.isoformat(timespec="seconds") if self.since else "?"
        return (f"pid {self.pid}, application {self.application or '(none)'!r}, client "
                f"{self.client_addr or 'local socket'}, user {self.user}, since {since}")


@dataclass
class LockWait:
    """A statement gave up waiting for a lock after ``lock_timeout_s``."""

    file: str
    statement: int
    line: int
    summary: str
    attempt: int
    lock_timeout_s: float
    waited_s: float
    blockers: list[Blocker]
    rolled_back_file: bool
    """True: the whole (transactional) file was rolled back and will re-run from the start."""


@dataclass
class LockDecision:
    action: str
    """retry | wait_longer | cancel_blocker | terminate_blocker | stop"""
    lock_timeout_s: float | None = None
    """For wait_longer: the new lock_timeout (default four times the current one)."""
    pids: list[int] | None = None
    """For cancel/terminate: which blockers (default all)."""
    unanswered: bool = False
    """The safe default, taken because the app closed on the question (nobody chose it)."""


@dataclass
class RunEvent:
    """Progress, posted from the runner's thread."""

    kind: str
    """lock_acquired, lock_waiting, ledger_created, file_started, statement_started,
    statement_finished, statement_failed, lock_wait, decision, file_committed,
    file_rolled_back, file_failed, run_finished (and restore_started from the rehearsal)"""
    file: str | None = None
    statement: int | None = None
    line: int | None = None
    summary: str | None = None
    duration_ms: float | None = None
    done: int = 0
    total: int = 0
    message: str | None = None


@dataclass
class InvalidIndex:
    index: str
    table: str
    size_bytes: int


def _noop_event(_: RunEvent) -> None:
    return None


@dataclass
class RunCallbacks:
    """How the runner talks to its operator. Every field is optional; the defaults are the
    headless behaviour (retry lock waits ``retries`` times then stop, refuse files that need
    a confirmation unless listed in ``RunOptions.confirm_as_written``, never drop indexes)."""

    on_event: Callable[[RunEvent], None] = _noop_event
    on_lock_wait: Callable[[LockWait], LockDecision] | None = None
    confirm_as_written: Callable[[str, str], bool] | None = None
    """(file name, why it needs confirming) -> run it as written?"""
    offer_cleanup: Callable[[list[InvalidIndex]], bool] | None = None
    """Invalid indexes left behind by a failure -> drop them concurrently now?"""
    retry_failed: Callable[[RunError], bool] | None = None
    """A statement of a non-transactional file failed (after the cleanup offer) -> retry that
    statement now? (Its earlier statements stayed committed.) Default: no, stop."""
    confirm_signal: Callable[[Blocker, bool], bool] | None = None
    """(blocker, terminate?) -> really signal it? Default: yes (the decision was the confirmation)."""
    should_stop: Callable[[], bool] | None = None
    """Polled between files and between statements of non-transactional files."""
    confirm_preflight: Callable[[list[str]], bool] | None = None
    """The catalog preflight names objects the files need that the database lacks (one line
    each) -> run anyway? Default: no, refuse before anything runs."""


@dataclass
class RunOptions:
    direction: str = "up"
    to_version: str | None = None
    lock_timeout_s: float = 5.0
    statement_timeout_s: float | None = None
    retries: int = 3
    without_backup: str | None = None
    confirm_as_written: tuple[str, ...] = ()
    applied_by: str | None = None
    wait_for_lock_s: float = 0.0
    """How long to poll for the migration lock before giving up (0: give up at once)."""
    gate: bool = True
    """False only for a scratch database we created ourselves (rehearsal)."""
    migrations_dir: Path | None = None
    rebuild_invalid: bool = False
    """An invalid index (a killed CREATE INDEX CONCURRENTLY) with the name a file creates:
    drop it concurrently and build it again (the operator said so). Default: refuse the file."""
    accept_preflight: str | None = None
    """Run although the catalog preflight names missing objects; the reason is journaled."""


@dataclass
class StatementOutcome:
    index: int
    line: int
    summary: str
    status: str = "not_run"
    """not_run, running, ran (inside an open transaction), committed, rolled_back, failed"""
    duration_ms: float | None = None
    lock_wait_ms: float = 0.0
    attempts: int = 0


@dataclass
class FileOutcome:
    file: str
    version: int
    mode: str
    status: str = "not_run"
    """not_run, committed, rolled_back, partial (non-transactional: some committed), failed"""
    statements: list[StatementOutcome] = field(default_factory=list)
    duration_ms: float | None = None
    ledger_written: bool = False
    attempts: int = 0


@dataclass
class RunError:
    file: str
    statement: int | None
    line: int | None
    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str | None = None
    sql: str | None = None


@dataclass
class RunResult:
    status: str
    """ok, nothing_to_do, failed, stopped (lock wait given up, or asked to stop),
    interrupted (an exception ended the run: see the journal)"""
    direction: str
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)
    error: RunError | None = None
    blockers: list[Blocker] = field(default_factory=list)
    invalid_indexes: list[InvalidIndex] = field(default_factory=list)
    dropped_indexes: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    ledger_kinds: list[str] = field(default_factory=list)
    gate: dict[str, Any] = field(default_factory=dict)
    duration_ms: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("ok", "nothing_to_do") else 1

    def committed(self) -> list[str]:
        return [f.file for f in self.files if f.status == "committed"]

    def rolled_back(self) -> list[str]:
        return [f.file for f in self.files if f.status == "rolled_back"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["committed"] = self.committed()
        d["rolled_back"] = self.rolled_back()
        d["exit_code"] = self.exit_code
        return d


class _Stop(Exception):
    """Internal: the operator (or the headless policy) stopped the run."""


# -- the migration lock ------------------------------------------------------------------------
def lock_holder(conn: psycopg.Connection[Any]) -> LockHolder | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("runner/lock_holder.sql"))
        r = cur.fetchone()
    if r is None:
        return None
    return LockHolder(r["pid"], r["application_name"], r["client_addr"], r["usename"],
                      r["state_change"] or r["backend_start"], r["state"], scrub_sql(r["query"]))


def acquire_migration_lock(target: Target, *, wait_s: float = 0.0,
                           on_event: Callable[[RunEvent], None] = _noop_event
                           ) -> psycopg.Connection[Any]:
    """A dedicated connection holding the migration lock, or ``LockHeld`` naming the holder.

    Polls ``pg_try_advisory_lock`` every second for up to ``wait_s`` seconds; never blocks in
    the server.
    """
    conn = target.connect(LOCK_APP_NAME)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            row = conn.execute(sql_text("runner/try_lock.sql")).fetchone()
            if row and row[0]:
                on_event(RunEvent("lock_acquired", message="migration lock taken"))
                return conn
            holder = lock_holder(conn)
            who = holder.describe() if holder else "a session that ended meanwhile"
            if time.monotonic() >= deadline:
                raise LockHeld(f"another run holds the migration lock: {who}",
                               "wait for it to finish; nchat-tui never queues behind it (that "
                               "could deadlock its CREATE INDEX CONCURRENTLY)")
            on_event(RunEvent("lock_waiting", message=f"the migration lock is held by {who}"))
            time.sleep(1.0)
    except BaseException:
        conn.close()
        raise


# -- the gate ----------------------------------------------------------------------------------
def running_dumps(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("runner/pg_dump_running.sql"))
        return scrub_rows(cur.fetchall())


def _parse_time(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    if isinstance(v, str) and v:
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return None


def _ledger_moved_since(backup: Any, conn: psycopg.Connection[Any]) -> str:
    """How the ledger rows differ from those the backup's snapshot recorded ("" if equal).

    Timestamps alone miss a down migration, which deletes ledger rows: the newest remaining
    ``applied_at`` is then older than a backup taken before the down run."""
    recorded = ((getattr(backup, "manifest", None) or {}).get("snapshot", {})
                .get("inventory", {}).get("ledgers"))
    if not isinstance(recorded, dict):
        return ""

    def instant(v: Any) -> Any:
        # row_to_json writes timestamptz in the session's TimeZone, which may differ between
        # the backup's connection and this one: compare instants, not their spelling.
        if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] in "T ":
            t = _parse_time(v)
            if t is not None and (v.endswith("Z") or "+" in v[19:] or "-" in v[19:]):
                return t.astimezone(dt.UTC).isoformat()
        return v

    def rows(d: dict[str, Any]) -> dict[str, list[str]]:
        return {t: sorted(json.dumps({k: instant(x) for k, x in r.items()}, sort_keys=True,
                                     default=str) for r in v)
                for t, v in d.items()}

    was, now = rows(recorded), rows(read_ledgers(conn))
    if was == now:
        return ""
    parts = []
    for t in sorted(set(was) | set(now)):
        a, b = set(was.get(t, [])), set(now.get(t, []))
        if a != b:
            parts.append(f"{t}: {len(b - a)} row(s) added or changed, {len(a - b)} gone since")
    return "; ".join(parts)


def backup_instant(backup: Any) -> tuple[dt.datetime | None, bool, str]:
    """When a backup's data was taken: (instant, whole seconds only, where it was read).

    The snapshot's ``taken_at`` (the server's clock, like the ledger's ``applied_at``, with
    microseconds) is preferred over the manifest's ``started_at`` (this host's clock; whole
    seconds in manifests written before sub-second times)."""
    snap = (getattr(backup, "manifest", None) or {}).get("snapshot") or {}
    for source, v in (("snapshot taken_at", snap.get("taken_at")),
                      ("manifest started_at", getattr(backup, "created", None))):
        t = _parse_time(v)
        if t is not None:
            whole = not (isinstance(v, dt.datetime) or re.search(r"T?\d\d:\d\d:\d\d\.\d",
                                                                 str(v)))
            return t, whole, source
    return None, False, ""


def check_gate(target: Target, conn: psycopg.Connection[Any], ledger: Ledger, *,
               without_backup: str | None, journal: Journal | None,
               recheck: bool = True, run_id: str | None = None) -> dict[str, Any]:
    """Refuse (``Refused``, exit 3) unless it is safe to change the database now.

    ``run_id`` (the runner's) goes into the journal record, so a later down rollback finds
    the backup that was this run's before-snapshot."""
    db = target.database
    dumps = running_dumps(conn)
    if dumps:
        d = dumps[0]
        raise Refused(f"a pg_dump is reading {db} right now (pid {d['pid']}, application "
                      f"{d['application_name']!r}, since {d['xact_start']}): its locks block the "
                      "migration and the migration would change what it dumps",
                      "wait for the backup to finish, then run migrate again")
    # Our own backups run pg_dump under the application name "nchat-tui", which the query
    # above only catches while a COPY is active: their manifests say "running" meanwhile.
    running = [b for b in list_backups(target.backup_dir) if b.state == "running"]
    if running:
        raise Refused(f"a backup of {db} is being written right now ({running[0].path.name}, "
                      f"{running[0].detail}): its pg_dump's locks block the migration",
                      "wait for the backup to finish, then run migrate again")
    latest = ledger.latest_change()
    if without_backup is not None:
        reason = without_backup.strip()
        if not reason:
            raise BadInput("--without-backup needs a reason")
        if journal is not None:
            journal.append("migrate_gate_override", reason=reason, target=target.masked(),
                           **({"run_id": run_id} if run_id else {}))
        return {"backup": None, "without_backup": reason}
    b = latest_verified_backup(target, conn, recheck=recheck)
    if b is None:
        raise NeedsBackup(f"no verified backup of {db} in {target.backup_dir}",
                          "run `nchat-tui backup` first, or give --without-backup \"REASON\"")
    created, whole, when_from = backup_instant(b)
    if created is None:
        raise Refused(f"the latest verified backup {getattr(b, 'path', '?')} has no start time")
    taken = created.isoformat(timespec="seconds" if whole else "milliseconds")
    # Older than the ledger's latest change: refused. A time with whole seconds only cannot
    # order two instants of the same second; then (and at an exact tie) the ledger rows the
    # snapshot recorded decide below: equal to the ledger now, it holds the latest change.
    if latest is not None and created < (latest.replace(microsecond=0) if whole else latest):
        raise NeedsBackup(f"the latest verified backup ({taken}) is older than the ledger's "
                          f"latest change ({latest.isoformat(timespec='milliseconds')})",
                          "take a new backup: `nchat-tui backup`")
    changed = _ledger_moved_since(b, conn)
    if changed:
        raise NeedsBackup(f"the latest verified backup ({taken}) was taken at another "
                          f"migration state: {changed}", "take a new backup: `nchat-tui backup`")
    info = {"backup": str(getattr(b, "path", "")), "backup_created": created.isoformat(),
            "backup_time_from": when_from,
            "ledger_latest_change": latest.isoformat() if latest else None}
    if journal is not None:
        journal.append("migrate_gate_passed", **info, **({"run_id": run_id} if run_id else {}))
    return info


# -- watching our own session for lock waits ---------------------------------------------------
class _Watcher:
    """Samples the work session while a statement runs: who blocks it, and for how long."""

    def __init__(self, target: Target, pid: int) -> None:
        self.pid = pid
        self.conn = target.connect(WATCH_APP_NAME)
        self._lock = threading.Lock()
        self._active = threading.Event()
        self._quit = threading.Event()
        self.blocker_pids: list[int] = []
        self.blockers: list[Blocker] = []
        self.wait_s = 0.0
        self._generation = 0
        self._thread = threading.Thread(target=self._loop, name="nchat-migrate-watch",
                                        daemon=True)
        self._thread.start()

    def begin(self) -> None:
        with self._lock:
            self.blocker_pids, self.blockers, self.wait_s = [], [], 0.0
            self._generation += 1
        self._active.set()

    def end(self) -> tuple[list[Blocker], float]:
        self._active.clear()
        with self._lock:
            return list(self.blockers), self.wait_s

    def close(self) -> None:
        self._quit.set()
        self._active.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(Exception):
            self.conn.close()

    def _loop(self) -> None:
        last, seen_gen = time.monotonic(), -1
        while not self._quit.is_set():
            if not self._active.wait(timeout=0.5):
                continue
            if self._quit.is_set():
                return
            with self._lock:
                if self._generation != seen_gen:  # a new statement: restart the wait clock
                    seen_gen, last = self._generation, time.monotonic()
            try:
                with self.conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql_text("runner/session_wait.sql"), {"pid": self.pid})
                    row = cur.fetchone()
                    now = time.monotonic()
                    pids = list(row["blocking"] or []) if row else []
                    if pids:
                        with self._lock:
                            self.wait_s += now - last
                        if pids != self.blocker_pids:
                            cur.execute(sql_text("runner/blockers.sql"), {"pids": pids})
                            found = [_blocker(r) for r in cur.fetchall()]
                            with self._lock:
                                self.blocker_pids, self.blockers = pids, found
                    last = now
            except psycopg.Error:
                time.sleep(WATCH_INTERVAL_S)
            time.sleep(WATCH_INTERVAL_S)


def _blocker(r: dict[str, Any]) -> Blocker:
    return Blocker(pid=r["pid"], application=r.get("application_name"), user=r.get("usename"),
                   client_addr=r.get("client_addr"), state=r.get("state"),
                   xact_age_s=r.get("xact_age_s"), query=scrub_sql(r.get("query")),
                   lock_mode=r.get("mode"))


# -- the runner --------------------------------------------------------------------------------
def _error_line(st: Statement, exc: psycopg.Error) -> int:
    """The file line of the error: the statement's first line plus the error position."""
    pos = getattr(exc.diag, "statement_position", None)
    try:
        p = int(pos) if pos else 0
    except ValueError:
        p = 0
    if p <= 0:
        return st.line
    return st.line + st.sql.count("\n", 0, p - 1)


def select_files(disc: Discovery, ledger: Ledger, options: RunOptions) -> list[MigrationFile]:
    if options.direction == "up":
        todo = pending(disc.files, ledger)
        if options.to_version:
            stop = _resolve_version(disc, options.to_version)
            todo = [f for f in todo if f.version <= stop]
        return todo
    applied = [f for f in reversed(disc.files) if ledger.is_applied(f)]
    if not options.to_version:
        return applied[:1]
    keep = _resolve_version(disc, options.to_version)
    return [f for f in applied if f.version > keep]


def _resolve_version(disc: Discovery, key: str) -> int:
    f = disc.find(key)
    if f is not None:
        return f.version
    if key.isdigit():
        return int(key)
    raise BadInput(f"--to {key!r}: no migration file with that name or version")


class Runner:
    """Runs the pending (or, ``direction="down"``, the applied) migrations of one target."""

    def __init__(self, target: Target, options: RunOptions | None = None,
                 callbacks: RunCallbacks | None = None, journal: Journal | None = None) -> None:
        self.target = target
        self.opt = options or RunOptions()
        self.cb = callbacks or RunCallbacks()
        self.journal = journal
        self.run_id = uuid.uuid4().hex[:12]
        self.result = RunResult(status="ok", direction=self.opt.direction, run_id=self.run_id)
        self.applied_by = self.opt.applied_by or f"nchat-tui ({os_user()})"

    # -- from another thread ----------------------------------------------------------------
    def cancel_current(self) -> bool:
        """Cancel the statement running now (pg_cancel_backend on our work session), from any
        thread: a transactional file then rolls back whole, a non-transactional one stops at
        that statement. Returns whether a statement was signalled."""
        pid = getattr(self, "_work_pid", None)
        if pid is None:
            return False
        self._j("migrate_cancel_requested", pid=pid)
        with self.target.connect("nchat-tui migrate (cancel)") as conn:
            row = conn.execute(sql_text("runner/signal_backend.sql"),
                               {"pid": pid, "terminate": False}).fetchone()
        return bool(row and row[0])

    # -- helpers ----------------------------------------------------------------------------
    def _j(self, event: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.append(event, run_id=self.run_id, **fields)

    def _emit(self, ev: RunEvent) -> None:
        self.cb.on_event(ev)

    def _set_timeouts(self, conn: psycopg.Connection[Any], local: bool, lock_s: float) -> None:
        scope = sql.SQL("SET LOCAL" if local else "SET")
        conn.execute(sql.SQL("{} lock_timeout = {}").format(
            scope, sql.Literal(f"{int(lock_s * 1000)}ms")))
        st = self.opt.statement_timeout_s
        conn.execute(sql.SQL("{} statement_timeout = {}").format(
            scope, sql.Literal(f"{int(st * 1000)}ms" if st else "0")))

    # -- entry point ------------------------------------------------------------------------
    def run(self) -> RunResult:
        t0 = time.monotonic()
        check_timeouts(self.opt.lock_timeout_s, self.opt.statement_timeout_s)
        mdir = self.opt.migrations_dir or self.target.migrations_dir
        if mdir is None:
            raise BadInput("no migrations directory: give --migrations DIR or --backend-dir DIR")
        if not Path(mdir).is_dir():
            raise BadInput(f"migrations directory {mdir} does not exist")
        lock_conn = acquire_migration_lock(self.target, wait_s=self.opt.wait_for_lock_s,
                                           on_event=self.cb.on_event)
        work: psycopg.Connection[Any] | None = None
        watcher: _Watcher | None = None
        try:
            work = self.target.connect(APP_NAME)
            self._work_pid: int | None = work.info.backend_pid
            pgv = int(work.info.server_version)
            self._reset_session(work)
            disc = discover(Path(mdir))
            self.result.warnings.extend(disc.warnings)
            ledger = detect_ledger(work)
            files = select_files(disc, ledger, self.opt)
            if self.opt.gate:
                try:
                    self.result.gate = check_gate(self.target, work, ledger,
                                                  without_backup=self.opt.without_backup,
                                                  journal=self.journal, run_id=self.run_id)
                except Refused as exc:
                    self._j("migrate_refused_by_gate", reason=exc.one_line(),
                            direction=self.opt.direction)
                    raise
            if not files:
                self.result.status = "nothing_to_do"
                self._j("migrate_nothing_to_do", direction=self.opt.direction)
                return self.result
            prepared = self._preflight(files, pgv)
            if self.opt.direction == "up":  # what the files need that the catalog lacks
                catalog_gate(self, work, [f for f, _, _ in prepared])
            kinds = list(ledger.kinds)
            if ("go" in kinds and self.opt.direction == "up"
                    and set(ledger.go_tables()) != {"schema_versions", "migrations"}):
                # As the Go CLI does on every run: both of its tables, created when missing.
                ensure_go_ledger(work)
                ledger = detect_ledger(work)
            if not kinds:
                if self.opt.direction == "down":
                    raise OperationFailed("no migration ledger: nothing is recorded as applied")
                ensure_go_ledger(work)
                kinds = ["go"]
                ledger = detect_ledger(work)
                self._emit(RunEvent("ledger_created", message="created the Go CLI's ledger "
                                    "(np_common.schema_versions, nself_ops.migrations)"))
                self._j("migrate_ledger_created", kinds=kinds)
            self.result.ledger_kinds = kinds
            self._j("migrate_started", direction=self.opt.direction, target=self.target.masked(),
                    files=[n for _, _, n in prepared], ledger_kinds=kinds,
                    lock_timeout_s=self.opt.lock_timeout_s,
                    statement_timeout_s=self.opt.statement_timeout_s,
                    migrations_dir=str(mdir), pid_started=me()["pid_started"])
            watcher = _Watcher(self.target, work.info.backend_pid)
            total = sum(len(a.body()) for _, a, _ in prepared)
            self._done, self._total = 0, total
            try:
                for f, analysis, text_name in prepared:
                    if self.cb.should_stop and self.cb.should_stop():
                        self.result.status = "stopped"
                        self.result.choices = ["run migrate again to continue"]
                        break
                    fo = FileOutcome(file=text_name, version=f.version, mode=analysis.txn_mode,
                                     statements=[StatementOutcome(s.index, s.line, s.summary)
                                                 for s in analysis.body()])
                    self.result.files.append(fo)
                    if not self._run_file(work, watcher, f, analysis, fo, kinds, ledger):
                        break
            except _Stop:
                self.result.status = "stopped"
            # files never reached
            reached = {fo.file for fo in self.result.files}
            for f, analysis, text_name in prepared:
                if text_name not in reached:
                    self.result.files.append(FileOutcome(text_name, f.version, analysis.txn_mode))
            return self.result
        except JournalWriteError as exc:
            # The journal cannot record what happens next: stop, and say what committed.
            if self.result.files:
                self.result.status = "interrupted"
            done = self.result.committed()
            flight = [fo for fo in self.result.files if fo.status not in ("committed",
                                                                          "not_run")]
            raise JournalWriteError(
                f"{exc.message}; the run stopped: committed: {', '.join(done) or 'none'}"
                + ("" if not flight else f"; {flight[-1].file} was in flight ("
                   + ("rolled back" if flight[-1].mode in ("atomic", "own_transaction")
                      else "its statements that ran committed on their own") + ")"),
                exc.hint) from None
        except BaseException:
            # Ctrl-C, a lost connection, a bug: the journal must not call this run "ok".
            if self.result.status == "ok" and self.result.files:
                self.result.status = "interrupted"
            raise
        finally:
            self._work_pid = None
            self.result.duration_ms = round((time.monotonic() - t0) * 1000, 1)
            if watcher is not None:
                watcher.close()
            if work is not None:
                with contextlib.suppress(Exception):
                    work.close()
            with contextlib.suppress(Exception):
                lock_conn.execute(sql_text("runner/unlock.sql"))
            with contextlib.suppress(Exception):
                lock_conn.close()
            if self.result.files or self.result.status != "ok":
                with contextlib.suppress(JournalWriteError):  # already said, if it failed
                    self._j("migrate_finished", status=self.result.status,
                            committed=self.result.committed(),
                            rolled_back=self.result.rolled_back(),
                            error=asdict(self.result.error) if self.result.error else None,
                            blockers=[asdict(b) for b in self.result.blockers],
                            duration_ms=self.result.duration_ms)
            self._emit(RunEvent("run_finished", message=self.result.status))

    # -- before anything runs ---------------------------------------------------------------
    def _preflight(self, files: list[MigrationFile], pgv: int
                   ) -> list[tuple[MigrationFile, FileAnalysis, str]]:
        """Parse every file first: a syntax error or an unconfirmed file stops the run before
        any statement is sent."""
        out: list[tuple[MigrationFile, FileAnalysis, str]] = []
        refused: list[str] = []
        for f in files:
            path = f.path if self.opt.direction == "up" else f.down_path
            if path is None:
                raise Refused(f"{f.name} has no down file ({f.name.removesuffix('.up.sql')}"
                              ".down.sql): it cannot be reverted by a down migration",
                              "restore the backup instead, or write the down file")
            a = analyse_sql(read_text_utf8(path), pgv)
            if a.txn_mode == "unparseable":
                self.result.status = "failed"
                self.result.error = RunError(path.name, None, a.parse_error_line,
                                             a.parse_error or "syntax error")
                self.result.files.append(FileOutcome(path.name, f.version, a.txn_mode,
                                                     status="not_run"))
                self.result.choices = ["fix the file and run migrate again"]
                self._j("migrate_refused_unparseable", file=path.name,
                        line=a.parse_error_line, error=a.parse_error)
                raise OperationFailed(f"{path.name} line {a.parse_error_line}: "
                                      f"{a.parse_error}; nothing was run")
            if a.txn_mode in CONFIRM_MODES:
                ok = path.name in self.opt.confirm_as_written or f.name in \
                    self.opt.confirm_as_written
                if not ok and self.cb.confirm_as_written is not None:
                    ok = self.cb.confirm_as_written(path.name, a.txn_explanation)
                if not ok:
                    refused.append(f"{path.name}: {a.txn_explanation}")
                else:
                    self._j("migrate_confirmed_as_written", file=path.name,
                            explanation=a.txn_explanation)
            out.append((f, a, path.name))
        if refused:
            self._j("migrate_refused", files=refused)
            raise Refused("refused, nothing was run: " + "; ".join(refused),
                          "read the file; to run it exactly as written (not atomic) confirm it "
                          "with --confirm-as-written FILE")
        return out

    # -- one file ---------------------------------------------------------------------------
    def _reset_session(self, work: psycopg.Connection[Any]) -> None:
        """Each file starts from a fresh session state, as it would in its own psql: a SET
        search_path or SET ROLE in one file must not leak into the next (or the ledger)."""
        work.execute("RESET ALL")
        if work.info.server_version >= 140000:
            # If this process dies, the server aborts our statement promptly instead of
            # running it to the end with its locks held.
            work.execute("SET client_connection_check_interval = '1s'")

    def _run_file(self, work: psycopg.Connection[Any], watcher: _Watcher, f: MigrationFile,
                  a: FileAnalysis, fo: FileOutcome, kinds: list[str], ledger: Ledger) -> bool:
        t0 = time.monotonic()
        self._reset_session(work)
        self._emit(RunEvent("file_started", file=fo.file, done=self._done, total=self._total,
                            message=a.txn_explanation))
        self._j("migrate_file_started", file=fo.file, mode=a.txn_mode,
                statements=len(a.body()), checksum=f.sha256() if self.opt.direction == "up"
                else None)
        if a.txn_mode in ("atomic", "own_transaction"):
            ok = self._run_transactional(work, watcher, f, a, fo, kinds, ledger)
        elif a.txn_mode == "non_transactional":
            ok = self._run_non_transactional(work, watcher, f, a, fo, kinds, ledger)
        else:
            ok = self._run_as_written(work, watcher, f, a, fo, kinds, ledger)
        fo.duration_ms = round((time.monotonic() - t0) * 1000, 1)
        self._j("migrate_file_finished", file=fo.file, status=fo.status,
                duration_ms=fo.duration_ms, ledger_written=fo.ledger_written)
        kind = {"committed": "file_committed", "rolled_back": "file_rolled_back"}.get(
            fo.status, "file_failed")
        self._emit(RunEvent(kind, file=fo.file, duration_ms=fo.duration_ms, done=self._done,
                            total=self._total, message=fo.status))
        return ok

    def _ledger_after(self, work: psycopg.Connection[Any], f: MigrationFile, kinds: list[str],
                      ledger: Ledger, t0: float, fo: FileOutcome) -> bool:
        """The ledger row of a file that ran outside one transaction, in its own transaction
        once every statement committed."""
        with work.transaction():
            self._write_ledger(work, f, kinds, ledger, (time.monotonic() - t0) * 1000)
        failpoint("runner.after_commit")
        fo.status, fo.ledger_written = "committed", True
        return True

    def _write_ledger(self, work: psycopg.Connection[Any], f: MigrationFile, kinds: list[str],
                      ledger: Ledger, duration_ms: float) -> None:
        if self.opt.direction == "up":
            record_applied(work, kinds, f, checksum=f.sha256(), applied_by=self.applied_by,
                           duration_ms=int(duration_ms), ledger=ledger)
        else:
            remove_applied(work, kinds, f, ledger=ledger)

    def _exec(self, work: psycopg.Connection[Any], watcher: _Watcher, fo: FileOutcome,
              st: Statement, so: StatementOutcome) -> None:
        so.status, so.attempts = "running", so.attempts + 1
        self._emit(RunEvent("statement_started", file=fo.file, statement=st.index, line=st.line,
                            summary=st.summary, done=self._done, total=self._total))
        self._j("migrate_statement_started", file=fo.file, statement=st.index, line=st.line,
                summary=st.summary)
        watcher.begin()
        t0 = time.monotonic()
        if is_armed("runner.cic_started") and \
                st.non_transactional_reason == "CREATE INDEX CONCURRENTLY":
            _fire_when_building(self.target, work.info.backend_pid)
        try:
            work.execute(st.sql)
        finally:
            so.duration_ms = round((time.monotonic() - t0) * 1000, 1)
            _, waited = watcher.end()
            so.lock_wait_ms = round(so.lock_wait_ms + waited * 1000, 1)

    def _statement_done(self, fo: FileOutcome, st: Statement, so: StatementOutcome,
                        status: str) -> None:
        so.status = status
        self._done += 1
        self._emit(RunEvent("statement_finished", file=fo.file, statement=st.index,
                            line=st.line, summary=st.summary, duration_ms=so.duration_ms,
                            done=self._done, total=self._total))
        self._j("migrate_statement_finished", file=fo.file, statement=st.index, line=st.line,
                status=status, duration_ms=so.duration_ms, lock_wait_ms=so.lock_wait_ms)

    def _fail(self, fo: FileOutcome, st: Statement, so: StatementOutcome,
              exc: psycopg.Error) -> None:
        so.status = "failed"
        line = _error_line(st, exc)
        self.result.status = "failed"
        self.result.error = RunError(
            file=fo.file, statement=st.index, line=line,
            message=exc.diag.message_primary or str(exc).strip().splitlines()[0],
            sqlstate=exc.sqlstate, detail=exc.diag.message_detail, hint=exc.diag.message_hint,
            sql=st.summary)
        self._emit(RunEvent("statement_failed", file=fo.file, statement=st.index, line=line,
                            summary=st.summary, duration_ms=so.duration_ms,
                            message=self.result.error.message))
        self._j("migrate_statement_failed", file=fo.file, statement=st.index, line=line,
                sqlstate=exc.sqlstate, error=self.result.error.message,
                duration_ms=so.duration_ms)

    def _lock_wait(self, work: psycopg.Connection[Any], fo: FileOutcome, st: Statement,
                   so: StatementOutcome, blockers: list[Blocker], attempt: int,
                   lock_s: float, rolled_back_file: bool) -> float:
        """Ask what to do after a lock timeout; returns the lock_timeout for the retry, or
        raises _Stop."""
        if not blockers:
            blockers = self._holders_of(work, st)
        lw = LockWait(fo.file, st.index, st.line, st.summary, attempt, lock_s,
                      so.lock_wait_ms / 1000, blockers, rolled_back_file)
        self._j("migrate_lock_wait", file=fo.file, statement=st.index, line=st.line,
                attempt=attempt, lock_timeout_s=lock_s,
                blockers=[asdict(b) for b in blockers])
        self._emit(RunEvent("lock_wait", file=fo.file, statement=st.index, line=st.line,
                            summary=st.summary, message="; ".join(b.describe() for b in blockers)
                            or "lock timeout (the blocker is gone)"))
        if self.cb.on_lock_wait is not None:
            d = self.cb.on_lock_wait(lw)
        else:
            d = LockDecision(RETRY if attempt <= self.opt.retries else STOP)
        self._j("migrate_decision", file=fo.file, statement=st.index, action=d.action,
                lock_timeout_s=d.lock_timeout_s, pids=d.pids,
                **({"unanswered": "the app closed on the question"} if d.unanswered else {}))
        self._emit(RunEvent("decision", file=fo.file, statement=st.index, message=d.action))
        if d.action == STOP:
            self.result.blockers = blockers
            self.result.error = RunError(fo.file, st.index, st.line,
                                         f"lock timeout after {attempt} attempt(s) of "
                                         f"{lock_s:g} s: {st.summary}", "55P03", sql=st.summary)
            self.result.choices = ["end or wait for the blocking sessions, then run migrate "
                                   "again", "raise --lock-timeout", "--retries N"]
            raise _Stop()
        if d.action == WAIT_LONGER:
            return d.lock_timeout_s or lock_s * 4
        if d.action in (CANCEL_BLOCKER, TERMINATE_BLOCKER):
            terminate = d.action == TERMINATE_BLOCKER
            pids = d.pids or [b.pid for b in blockers]
            for b in blockers:
                if b.pid not in pids:
                    continue
                if self.cb.confirm_signal is not None and not self.cb.confirm_signal(b, terminate):
                    continue
                row = work.execute(sql_text("runner/signal_backend.sql"),
                                   {"pid": b.pid, "terminate": terminate}).fetchone()
                self._j("migrate_signalled_blocker", pid=b.pid, terminate=terminate,
                        signalled=bool(row and row[0]), blocker=asdict(b))
            time.sleep(0.2)
        return lock_s

    def _holders_of(self, work: psycopg.Connection[Any], st: Statement) -> list[Blocker]:
        names = [t.name for t in st.targets]
        if not names:
            return []
        with work.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("runner/relation_lock_holders.sql"), {"names": names})
            rows = cur.fetchall()
            pids = sorted({r["pid"] for r in rows})
            if not pids:
                return []
            modes = {r["pid"]: r["mode"] for r in rows}
            cur.execute(sql_text("runner/blockers.sql"), {"pids": pids})
            out = [_blocker(r) for r in cur.fetchall()]
        for b in out:
            b.lock_mode = modes.get(b.pid)
        return out

    def _run_transactional(self, work: psycopg.Connection[Any], watcher: _Watcher,
                           f: MigrationFile, a: FileAnalysis, fo: FileOutcome,
                           kinds: list[str], ledger: Ledger) -> bool:
        body = a.body()
        lock_s = self.opt.lock_timeout_s
        attempt = 0
        while True:
            attempt += 1
            fo.attempts = attempt
            for so in fo.statements:
                so.status, so.duration_ms = "not_run", None
            t0 = time.monotonic()
            current: tuple[Statement, StatementOutcome] | None = None
            done_before = self._done
            try:
                with work.transaction():
                    self._set_timeouts(work, True, lock_s)
                    for st, so in zip(body, fo.statements, strict=True):
                        current = (st, so)
                        self._exec(work, watcher, fo, st, so)
                        self._statement_done(fo, st, so, "ran")
                    current = None
                    self._write_ledger(work, f, kinds, ledger,
                                       (time.monotonic() - t0) * 1000)
                failpoint("runner.after_commit")
                for so in fo.statements:
                    so.status = "committed"
                fo.status, fo.ledger_written = "committed", True
                return True
            except psycopg.errors.LockNotAvailable:
                self._done = done_before
                for so in fo.statements:
                    if so.status == "ran":
                        so.status = "rolled_back"
                blockers, _ = watcher.end()
                assert current is not None
                st, so = current
                so.status = "rolled_back"
                fo.status = "rolled_back"
                lock_s = self._lock_wait(work, fo, st, so, blockers, attempt, lock_s, True)
            except psycopg.Error as exc:
                for so in fo.statements:
                    if so.status == "ran":
                        so.status = "rolled_back"
                fo.status = "rolled_back"
                if current is not None:
                    self._fail(fo, current[0], current[1], exc)
                else:
                    self.result.status = "failed"
                    self.result.error = RunError(fo.file, None, None,
                                                 f"recording the ledger failed: {exc}",
                                                 exc.sqlstate)
                self.result.choices = _choices_after(exc, True) or [
                    "fix the file and run migrate again", "restore the backup", "migrate --down"]
                return False

    def _run_non_transactional(self, work: psycopg.Connection[Any], watcher: _Watcher,
                               f: MigrationFile, a: FileAnalysis, fo: FileOutcome,
                               kinds: list[str], ledger: Ledger) -> bool:
        lock_s = self.opt.lock_timeout_s
        t0 = time.monotonic()
        builds = [n for st in a.body() if st.non_transactional_reason ==
                  "CREATE INDEX CONCURRENTLY" for n in st.creates]
        if not self._settle_invalid(work, fo, builds, before_run=True):
            return False
        invalid_before = {b.index for b in self._invalid_indexes(work)}
        try:
            for st, so in zip(a.body(), fo.statements, strict=True):
                if self.cb.should_stop and self.cb.should_stop():
                    fo.status = "partial" if any(s.status == "committed"
                                                 for s in fo.statements) else "not_run"
                    self.result.choices = ["run migrate again: this file re-runs from its first "
                                           "statement (make its statements idempotent)"]
                    raise _Stop()
                attempt = 0
                while True:
                    attempt += 1
                    self._set_timeouts(work, False, lock_s)
                    try:
                        self._exec(work, watcher, fo, st, so)
                        failpoint("runner.after_statement")
                        self._statement_done(fo, st, so, "committed")
                        break
                    except psycopg.errors.LockNotAvailable:
                        blockers, _ = watcher.end()
                        so.status = "not_run"
                        fo.status = "partial" if any(s.status == "committed"
                                                     for s in fo.statements) else "not_run"
                        lock_s = self._lock_wait(work, fo, st, so, blockers, attempt, lock_s,
                                                 False)
                    except psycopg.Error as exc:
                        self._fail(fo, st, so, exc)
                        fo.status = "partial" if any(s.status == "committed"
                                                     for s in fo.statements) else "failed"
                        self._after_non_tx_failure(work, invalid_before)
                        extra = _choices_after(exc, False)
                        if extra:
                            self.result.choices = extra + [c for c in self.result.choices
                                                           if c.startswith("drop the invalid")]
                        err = self.result.error
                        if (err is not None and self.cb.retry_failed is not None
                                and self.cb.retry_failed(err)):
                            self._j("migrate_retry", file=fo.file, statement=st.index)
                            self.result.status, self.result.error = "ok", None
                            self.result.invalid_indexes = []
                            continue
                        return False
            # Never record the file over an index it meant to build but that is invalid.
            if not self._settle_invalid(work, fo, builds, before_run=False):
                return False
            return self._ledger_after(work, f, kinds, ledger, t0, fo)
        finally:
            _reset_timeouts(work)

    def _invalid_named(self, work: psycopg.Connection[Any], names: list[str]
                       ) -> list[InvalidIndex]:
        """The indexes among ``names`` (as the file spells them, resolved by the server) that
        exist and are invalid."""
        out: list[InvalidIndex] = []
        with work.cursor(row_factory=dict_row) as cur:
            for n in names:
                cur.execute(sql_text("runner/index_validity.sql"), {"name": n})
                r = cur.fetchone()
                if r is not None and not r["valid"]:
                    out.append(InvalidIndex(r["index"], r["table_name"], r["size_bytes"]))
        return out

    def _settle_invalid(self, work: psycopg.Connection[Any], fo: FileOutcome,
                        names: list[str], *, before_run: bool) -> bool:
        """An invalid index with a name this file builds: drop and rebuild it with the
        operator's go-ahead, else refuse the file (it would be kept invalid by IF NOT EXISTS,
        or fail on the name, and the ledger would lie). Returns whether to go on."""
        if not names:
            return True
        bad = self._invalid_named(work, names)
        if not bad:
            return True
        listed = ", ".join(f"{b.index} on {b.table}" for b in bad)
        self._j("migrate_invalid_indexes", file=fo.file, indexes=[asdict(b) for b in bad],
                when="before the file ran" if before_run else "after the file ran")
        if before_run and (self.opt.rebuild_invalid or (
                self.cb.offer_cleanup is not None and self.cb.offer_cleanup(bad))):
            for b in bad:
                try:
                    work.execute(sql_template("runner/drop_index_concurrently.sql").format(
                        index=sql.SQL(b.index)))  # format('%I.%I') from the catalog: quoted
                except psycopg.Error as exc:
                    self._j("migrate_invalid_index_drop_failed", index=b.index, error=str(exc))
                    break
                self.result.dropped_indexes.append(b.index)
                self._j("migrate_invalid_index_dropped", index=b.index,
                        reason="rebuild: left invalid by an interrupted concurrent build")
            else:
                return True
        fo.status = "not_run" if before_run else "partial"
        self.result.status = "failed"
        self.result.invalid_indexes = bad
        why = ("left by an interrupted CREATE INDEX CONCURRENTLY; this file builds an index of "
               "that name, and IF NOT EXISTS would keep it invalid" if before_run else
               "this file's concurrent build left it invalid")
        self.result.error = RunError(fo.file, None, None,
                                     f"invalid index {listed} ({why}): the file is not "
                                     "recorded as applied")
        self.result.choices = [
            "drop it and run migrate again: " + "; ".join(f"DROP INDEX CONCURRENTLY {b.index}"
                                                         for b in bad),
            "or run migrate --rebuild-invalid-indexes (drops it concurrently and builds it "
            "again)"]
        return False

    def _invalid_indexes(self, work: psycopg.Connection[Any]) -> list[InvalidIndex]:
        with work.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("runner/invalid_indexes.sql"))
            return [InvalidIndex(r["index"], r["table_name"], r["size_bytes"])
                    for r in cur.fetchall()]

    def _after_non_tx_failure(self, work: psycopg.Connection[Any], before: set[str]) -> None:
        """List the invalid indexes this failure left (not those that were there before the
        file started) and offer to drop them concurrently."""
        bad = [b for b in self._invalid_indexes(work) if b.index not in before]
        self.result.invalid_indexes = bad
        self.result.choices = ["fix the file and run migrate again (statements that committed "
                               "stay; the file re-runs from its first statement)",
                               "restore the backup"]
        if not bad:
            return
        self._j("migrate_invalid_indexes", indexes=[asdict(b) for b in bad])
        self.result.choices.insert(0, "drop the invalid indexes: " + "; ".join(
            f"DROP INDEX CONCURRENTLY {b.index}" for b in bad))
        if self.cb.offer_cleanup is not None and self.cb.offer_cleanup(bad):
            for b in bad:
                try:
                    work.execute(sql_template("runner/drop_index_concurrently.sql").format(
                        index=sql.SQL(b.index)))
                    self.result.dropped_indexes.append(b.index)
                    self._j("migrate_invalid_index_dropped", index=b.index)
                except psycopg.Error as exc:
                    self._j("migrate_invalid_index_drop_failed", index=b.index, error=str(exc))

    def _run_as_written(self, work: psycopg.Connection[Any], watcher: _Watcher,
                        f: MigrationFile, a: FileAnalysis, fo: FileOutcome,
                        kinds: list[str], ledger: Ledger) -> bool:
        """A confirmed file with its own transaction control: sent statement by statement as
        psql would, so its BEGIN/COMMIT/ROLLBACK do what they say. Not atomic with the ledger."""
        t0 = time.monotonic()
        in_txn: list[StatementOutcome] = []
        self._set_timeouts(work, False, self.opt.lock_timeout_s)
        try:
            for st, so in zip(a.body(), fo.statements, strict=True):
                try:
                    self._exec(work, watcher, fo, st, so)
                except psycopg.Error as exc:
                    self._fail(fo, st, so, exc)
                    for s in in_txn:
                        s.status = "rolled_back"
                    with contextlib.suppress(psycopg.Error):
                        work.execute("ROLLBACK")
                    fo.status = "partial" if any(s.status == "committed"
                                                 for s in fo.statements) else "failed"
                    self.result.choices = ["fix the file and run migrate again",
                                           "restore the backup"]
                    return False
                ctl = st.transaction_control
                if ctl == "BEGIN":
                    in_txn = [so]
                    self._statement_done(fo, st, so, "ran")
                elif ctl == "COMMIT":
                    for s in in_txn:
                        s.status = "committed"
                    in_txn = []
                    self._statement_done(fo, st, so, "committed")
                elif ctl == "ROLLBACK":
                    for s in in_txn:
                        s.status = "rolled_back"
                    in_txn = []
                    self._statement_done(fo, st, so, "rolled_back")
                elif in_txn:
                    in_txn.append(so)
                    self._statement_done(fo, st, so, "ran")
                else:
                    self._statement_done(fo, st, so, "committed")
            if in_txn:  # the file left a transaction open: psql would roll it back at exit
                with contextlib.suppress(psycopg.Error):
                    work.execute("ROLLBACK")
                for s in in_txn:
                    s.status = "rolled_back"
            return self._ledger_after(work, f, kinds, ledger, t0, fo)
        finally:
            _reset_timeouts(work)



def _reset_timeouts(work: psycopg.Connection[Any]) -> None:
    """Back to the session's own lock and statement timeouts (best effort: the connection may
    be gone)."""
    with contextlib.suppress(psycopg.Error):
        work.execute("RESET lock_timeout")
        work.execute("RESET statement_timeout")

MAX_LOCK_TIMEOUT_S = 86400.0
MAX_STATEMENT_TIMEOUT_S = 2_000_000.0  # PostgreSQL's limit is INT_MAX milliseconds


def check_timeouts(lock_timeout_s: float, statement_timeout_s: float | None) -> None:
    """``BadInput`` (exit 2) for a timeout PostgreSQL would refuse mid-run: nan, inf, zero or
    negative, or beyond its range (None statement timeout: no limit)."""
    if not math.isfinite(lock_timeout_s) or not 0 < lock_timeout_s <= MAX_LOCK_TIMEOUT_S:
        raise BadInput(f"--lock-timeout {lock_timeout_s:g}: give a number of seconds above 0 "
                       f"and at most {MAX_LOCK_TIMEOUT_S:g}")
    st = statement_timeout_s
    if st is not None and (not math.isfinite(st) or not 0 < st <= MAX_STATEMENT_TIMEOUT_S):
        raise BadInput(f"--statement-timeout {st:g}: give a number of seconds above 0 and at "
                       f"most {MAX_STATEMENT_TIMEOUT_S:g}, or leave it out for no limit")


SERVER_ENDED = ("57P01", "57P02", "57P03", "57P04", "57P05")
"""admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped, idle_session_timeout"""


def _choices_after(exc: psycopg.Error, transactional: bool) -> list[str]:
    """What to do after a statement failed for a reason that is not the file's fault (the
    server ended the session, a timeout, a deadlock, a full disk); [] when it is the file."""
    state = exc.sqlstate or ""
    kept = ("nothing of this file stayed (its transaction rolled back)" if transactional else
            "the statements before it stayed committed; the file re-runs from its first "
            "statement")
    if (isinstance(exc, psycopg.OperationalError) and not state) or state in SERVER_ENDED \
            or state.startswith("08"):
        why = (exc.diag.message_primary if exc.diag else None) or "the connection was lost"
        return [f"the server ended the session ({why}): {kept}; run migrate again when the "
                "server is back (nchat-tui status shows what the ledger recorded)"]
    if state == "57014":
        return [f"the statement was cancelled (--statement-timeout, or an operator): {kept}; "
                "raise --statement-timeout or run it at a quieter time, then run migrate again"]
    if state == "40P01":
        return [f"a deadlock with another session: {kept}; run migrate again"]
    if state.startswith("53"):
        return [f"the server ran out of a resource (disk, memory, connections): {kept}; fix "
                "the server, then run migrate again"]
    return []


def _fire_when_building(target: Target, pid: int) -> None:
    """The ``runner.cic_started`` fail point: from a helper thread, kill this process once the
    server shows our CREATE INDEX CONCURRENTLY past its first transaction (the index is in the
    catalog, invalid). Only ever started when that fail point is armed."""

    def watch() -> None:
        with target.connect("nchat-tui migrate (fail point)") as c:
            while True:
                row = c.execute(sql_text("runner/create_index_phase.sql"),
                                {"pid": pid}).fetchone()
                if row and row[0] != "initializing":
                    fire("runner.cic_started")
                time.sleep(0.01)

    threading.Thread(target=watch, name="failpoint-cic", daemon=True).start()


def run_migrations(target: Target, options: RunOptions | None = None,
                   callbacks: RunCallbacks | None = None,
                   journal: Journal | None = None) -> RunResult:
    """Convenience wrapper: ``Runner(...).run()``."""
    return Runner(target, options, callbacks, journal).run()


# -- after a crash -----------------------------------------------------------------------------
def interrupted_run(journal: Journal) -> dict[str, Any] | None:
    """The last run in this journal that never finished (a ``kill -9``, a lost SSH session):
    which files and statements it journaled as committed, and what was running. The ledger and
    the catalog are the truth (``reconcile_interrupted``); this says what the runner saw."""
    recs = journal.records()
    start = None
    for r in recs:
        if r.get("event") == "migrate_started":
            start = r
        elif r.get("event") == "migrate_finished" and start is not None \
                and r.get("run_id") == start.get("run_id"):
            start = None
    if start is None:
        return None
    rid = start.get("run_id")
    mine = [r for r in recs if r.get("run_id") == rid]
    files_committed = [r["file"] for r in mine if r.get("event") == "migrate_file_finished"
                       and r.get("status") == "committed"]
    stmts_committed = [{"file": r["file"], "statement": r["statement"], "line": r.get("line")}
                       for r in mine if r.get("event") == "migrate_statement_finished"
                       and r.get("status") == "committed"]
    started = [r for r in mine if r.get("event") == "migrate_statement_started"]
    finished = {(r["file"], r["statement"]) for r in mine
                if r.get("event") in ("migrate_statement_finished", "migrate_statement_failed")}
    running = [{"file": r["file"], "statement": r["statement"], "line": r.get("line"),
                "summary": r.get("summary")} for r in started
               if (r["file"], r["statement"]) not in finished]
    modes = {r.get("file"): r.get("mode") for r in mine if r.get("event") ==
             "migrate_file_started"}
    run = running[-1] if running else None
    if run is not None:
        run["mode"] = modes.get(run["file"])
    last_file = next((r.get("file") for r in reversed(mine)
                      if r.get("event") == "migrate_file_started"), None)
    return {"run_id": rid, "started": start.get("ts"), "pid": start.get("pid"),
            "host": start.get("host"), "pid_started": start.get("pid_started"),
            "direction": start.get("direction"), "files": start.get("files"),
            "migrations_dir": start.get("migrations_dir"),
            "files_committed": files_committed, "journal_files_committed": files_committed,
            "statements_committed": stmts_committed, "running": run,
            "last_file": last_file, "last_file_mode": modes.get(last_file)}


RECONCILED = ("files_committed", "files_not_committed", "journal_missed", "unknown",
              "invalid_indexes")


def reconcile_interrupted(target: Target, journal: Journal) -> dict[str, Any] | None:
    """``interrupted_run`` checked against the live server: a run whose process still runs
    (or whose lock an nchat-tui session holds) is ``live`` and never called dead; otherwise
    the ledger says which files committed (also one whose journal line the kill cut), and the
    catalog which indexes were left invalid. Journaled once per run (``migrate_reconciled``)
    so the report tells the same truth; ``newly_reconciled`` is True that first time."""
    prev = interrupted_run(journal)
    if prev is None:
        return None
    done = [r for r in journal.records() if r.get("event") == "migrate_reconciled"
            and r.get("run_id") == prev["run_id"]]
    if done:
        return {**prev, **{k: done[-1].get(k) for k in RECONCILED}, "reconciled": True,
                "newly_reconciled": False}
    alive = pid_alive(prev.get("pid"), prev.get("host"), prev.get("pid_started"))
    if alive:
        return {**prev, "live": True}
    try:
        conn = target.connect("nchat-tui reconcile")
    except NchatError as exc:
        return {**prev, "reconciled": False, "why": exc.one_line()}
    with conn:
        holder = lock_holder(conn)
        if alive is None and holder is not None and holder.application == LOCK_APP_NAME:
            return {**prev, "live": True, "holder": holder.describe()}
        ledger = detect_ledger(conn)
        mdir = prev.get("migrations_dir") or (str(target.migrations_dir)
                                              if target.migrations_dir else None)
        by_name: dict[str, MigrationFile] = {}
        if mdir and Path(mdir).is_dir():
            for f in discover(Path(mdir)).files:
                by_name[f.name] = f
                if f.down_path is not None:
                    by_name[f.down_path.name] = f
        committed: list[str] = []
        not_committed: list[str] = []
        unknown: list[str] = []
        for name in prev.get("files") or []:
            mf = by_name.get(name)
            if mf is None:
                unknown.append(name)
                continue
            applied = ledger.is_applied(mf)
            (committed if applied == (prev.get("direction") != "down") else
             not_committed).append(name)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("runner/invalid_indexes.sql"))
            invalid = [{"index": r["index"], "table": r["table_name"]} for r in cur.fetchall()]
    facts = {"files_committed": committed, "files_not_committed": not_committed,
             "journal_missed": [n for n in committed if n not in prev["files_committed"]],
             "unknown": unknown, "invalid_indexes": invalid}
    journal.append("migrate_reconciled", run_id=prev["run_id"], pid=prev.get("pid"),
                   started=prev.get("started"), running=prev.get("running"), **facts)
    return {**prev, **facts, "reconciled": True, "newly_reconciled": True}


def describe_interrupted(prev: dict[str, Any]) -> list[str]:
    """Lines for the operator about an interrupted (or live) run: what the ledger says
    committed, what was in flight and what that left."""
    who = f"run {prev['run_id']}, pid {prev.get('pid')}, started {prev.get('started')}"
    if prev.get("live"):
        return [f"a migrate run is in progress ({who}"
                + (f"; the migration lock is held by {prev['holder']}" if prev.get("holder")
                   else "") + "): it is not interrupted; wait for it to finish"]
    out = [f"an earlier migrate run ({who}) ended without finishing:"]
    if prev.get("reconciled"):
        out.append(f"  committed per the ledger: {', '.join(prev['files_committed']) or 'none'}")
        if prev.get("files_not_committed"):
            out.append(f"  not committed: {', '.join(prev['files_not_committed'])}")
        if prev.get("journal_missed"):
            out.append(f"  the kill came after the COMMIT of {', '.join(prev['journal_missed'])}"
                       " and before its journal line: the ledger has it")
        if prev.get("unknown"):
            out.append(f"  not found in the migrations folder: {', '.join(prev['unknown'])}")
    else:
        out.append(f"  files committed as journaled: {', '.join(prev['files_committed']) or 'none'}"
                   f" (not checked against the ledger: {prev.get('why') or 'not connected'})")
    if prev.get("statements_committed"):
        out.append("  statements committed on their own: " + ", ".join(
            f"{s['file']} #{s['statement']}" for s in prev["statements_committed"]))
    r = prev.get("running")
    if r:
        where = f"{r['file']} #{r['statement']} line {r['line']}"
        if r["file"] in (prev.get("files_committed") or []):
            out.append(f"  was running: {where}; its file committed before the kill")
        elif r.get("mode") in ("atomic", "own_transaction"):
            out.append(f"  was running: {where}: its file ran in one transaction, which the "
                       "server rolled back (nothing of it stayed)")
        else:
            out.append(f"  was running: {where}: not in a transaction block ({r.get('mode')}): "
                       "the statements before it stayed committed, and this one may have "
                       "left work behind (a concurrent index build leaves an invalid index)")
    for ix in prev.get("invalid_indexes") or []:
        out.append(f"  invalid index: {ix['index']} on {ix['table']} (DROP INDEX CONCURRENTLY "
                   f"{ix['index']}, or migrate --rebuild-invalid-indexes)")
    return out
