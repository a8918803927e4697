"""Backups that are proven good: pg_dump with a consistent before-snapshot, a manifest, full
verification, an optional test restore, and restore into a NEW database.

Files in the backup directory (0700), all 0600:

- ``<name>_YYYYMMDD_HHMMSS.dump``: the custom-format dump under its final name, exactly as the
  nself Go CLI names its dumps (so ``nself db backup list`` sees it, and ``nself db restore``
  reads it). ``<...>.dir`` for the directory format (``--format directory``, the only parallel
  one; nself cannot restore it). How to dump (format, jobs, compression) is chosen by
  ``backup.method`` and recorded in the manifest with its reason; a custom-format dump is written,
  hashed and read back in one pass (``backup.stream``).
- ``<name>_YYYYMMDD_HHMMSS.partial``: the dump while it is written and verified. It is renamed to
  the final name only after pg_dump exited 0 and the verification passed, so a ``kill -9`` at any
  moment leaves no file under the final name.
- ``<name>_YYYYMMDD_HHMMSS.manifest.json``: the manifest (never ends in ``.dump``/``.sql``, so no
  tool mistakes it for a dump). Written with ``state: running`` (plus our pid) before pg_dump
  starts, then ``unverified``/``verified``/``failed``. A manifest claiming ``running`` for a dead
  pid is a leftover of an interrupted run.

Public API (all blocking; run them in a worker thread from the UI): ``preflight``,
``run_backup``, ``verify_backup``, ``list_backups``, ``find_leftovers``, ``remove_leftovers``,
``restore_into``, ``latest_verified_backup``. Progress is a plain callback of ``Progress``
events and cancel a ``threading.Event``; nothing here imports Textual.

Never: a password in argv, a file under the final name that did not verify (when verification
was asked), a restore over an existing database, or a dropped database we did not create.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
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

from nchat_tui import __version__
from nchat_tui.backup.method import DumpMethod, choose_method
from nchat_tui.backup.stream import StreamedDump, StreamResult
from nchat_tui.errors import BadInput, NchatError, OperationFailed, Refused, ToolMissing
from nchat_tui.fmt import about, elapsed
from nchat_tui.fmt import size as _size
from nchat_tui.pg.objkeys import split2, split_key
from nchat_tui.pg.objkeys import upgrade_snapshot_keys as snapshot_keys
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.scrub import scrub_rows
from nchat_tui.pg.snapshot import exported_snapshot, qualified
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import (
    Cancelled,
    PgTool,
    ToolProcess,
    build_command,
    docker_binary,
    find_tool,
    major_of,
)
from nchat_tui.pg.tools import journal_command as _journal_command
from nchat_tui.state.failpoints import failpoint
from nchat_tui.state.journal import Journal
from nchat_tui.state.safeio import contained, write_file_atomic
from nchat_tui.upgrade.recovery import pid_alive, proc_start

MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
FORMAT_SUFFIX = {"custom": ".dump", "directory": ".dir"}
MANIFEST_VERSION = 1
SCRATCH_PREFIX = "nchat_tui_verify_"
DEFAULT_RATIO = 0.5  # custom dump size / table bytes, when no earlier backup tells better
MIN_MARGIN = 64 * 1024**2
LONG_TX_S = 300
TICK_S = 0.5

ProgressCallback = Callable[["Progress"], None]


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
PHASE_TEXT = {
    "schema": "reading the schema",
    "data": "copying table data",
    "indexes": "building indexes and constraints",
    "preflight": "checking pg_dump, free space and server activity",
    "snapshot": "exporting a consistent snapshot and counting rows",
    "dump": "pg_dump is starting",
    "restore": "pg_restore is starting",
    "verify": "verifying the backup",
    "checksum": "computing the checksum",
    "full-read": "reading every block with pg_restore",
    "count": "counting the restored rows",
    "done": "finishing",
}
"""How the ticker's heartbeat names what pg_dump/pg_restore is doing in each phase."""


@dataclass(frozen=True)
class Progress:
    """One progress event of a dump, verification or restore.

    ``kind``: ``phase`` (a new phase began: message says which), ``started`` (a child process
    started: ``pid``), ``table`` (a table's data is done: ``table``), ``tick`` (periodic
    update of bytes and time), ``finished``. ``fraction`` is weighted by table size.
    """

    operation: str
    """``backup``, ``verify`` or ``restore``."""
    kind: str
    phase: str
    message: str = ""
    table: str | None = None
    tables_done: int = 0
    tables_total: int = 0
    bytes_done: int = 0
    """Bytes written so far (dump) or read (restore: the archive size when done)."""
    bytes_estimate: int | None = None
    fraction: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    pid: int | None = None

    @property
    def elapsed_text(self) -> str:
        return elapsed(self.elapsed_s)

    @property
    def eta_text(self) -> str:
        if self.eta_s is None:
            return "unknown"
        return about(self.eta_s)

    def line(self) -> str:
        """One human line (the CLI's line per table)."""
        size = _size(self.bytes_done)
        est = (f" of ~{_size(self.bytes_estimate)}"
               if self.bytes_estimate else "")
        if self.kind == "table":
            what = (f"{size}{est} written" if self.operation == "backup"
                    else f"{self.fraction:.0%} of the data")
            return (f"[{self.tables_done}/{self.tables_total}] {self.table}  {what}, "
                    f"{self.elapsed_text} elapsed, ETA {self.eta_text}")
        if self.kind == "tick" and not self.message:
            # The ticker's heartbeat: what is going on now, so a long index build or a big
            # table never looks like a hang (and never prints an empty "indexes: ").
            doing = PHASE_TEXT.get(self.phase, self.phase)
            if self.phase == "data":
                amount = (f"{size}{est} written" if self.operation == "backup"
                          else f"{self.fraction:.0%} of the data")
                return (f"[{self.tables_done}/{self.tables_total}] {doing}, {amount}, "
                        f"{self.elapsed_text} elapsed, ETA {self.eta_text}")
            return f"{self.phase}: {doing}, {self.elapsed_text} elapsed"
        return f"{self.phase}: {self.message}"


class ProgressTracker:
    """Turns pg_dump/pg_restore ``--verbose`` lines into ``Progress`` events, weighted by size."""

    DUMP_START = re.compile(r'dumping contents of table "(.+)"$')
    RESTORE_START = re.compile(r'processing data for table "(.+)"$')
    FINISHED = re.compile(r"finished item \d+ TABLE DATA (.+)$")

    def __init__(self, operation: str, weights: dict[str, int], callback: ProgressCallback | None,
                 *, bytes_estimate: int | None = None, parallel: bool = False,
                 size_of: Callable[[], int] | None = None) -> None:
        self.operation = operation
        self.weights = dict(weights)
        self.callback = callback
        self.bytes_estimate = bytes_estimate
        self.parallel = parallel
        self.size_of = size_of
        self.t0 = time.monotonic()
        self.done: list[str] = []
        self.current: str | None = None
        self.phase = "schema"
        self.pid: int | None = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- events ----------------------------------------------------------------------------
    def _fraction(self) -> float:
        total = sum(self.weights.values())
        if not self.weights:
            return 0.0
        if total <= 0:
            return len(self.done) / len(self.weights)
        # +1 per table so empty tables still move the bar
        got = sum(self.weights.get(t, 0) + 1 for t in self.done)
        return min(1.0, got / (total + len(self.weights)))

    def event(self, kind: str, message: str = "", table: str | None = None) -> Progress:
        elapsed = time.monotonic() - self.t0
        frac = self._fraction()
        eta = elapsed * (1 - frac) / frac if frac >= 0.02 else None
        size = 0
        if self.size_of is not None:
            with contextlib.suppress(OSError):
                size = self.size_of()
        return Progress(self.operation, kind, self.phase, message, table, len(self.done),
                        len(self.weights), size, self.bytes_estimate, frac, elapsed, eta,
                        self.pid)

    def emit(self, kind: str, message: str = "", table: str | None = None) -> None:
        if self.callback is None:
            return
        ev = self.event(kind, message, table)
        with contextlib.suppress(Exception):  # a display callback must never break the backup
            self.callback(ev)

    def set_phase(self, phase: str, message: str = "") -> None:
        self.phase = phase
        self.emit("phase", message or phase)

    def started(self, tp: ToolProcess) -> None:
        self.pid = tp.pid
        self.emit("started", f"{Path(tp.argv[0]).name} pid {tp.pid}")

    def _match(self, short: str) -> str:
        """``finished item`` names lack the schema: map to the first table not done yet.
        Tools print names raw (``auth.Users Table``); weights use ``objkeys`` keys."""
        if short in self.weights:
            return short
        raw = {".".join(split_key(k)): k for k in self.weights}
        if short in raw:
            return raw[short]
        for key in self.weights:
            if split_key(key)[-1] == short and key not in self.done:
                return key
        return short

    def _table_done(self, key: str) -> None:
        with self.lock:
            if key in self.done:
                return
            self.done.append(key)
        self.emit("table", table=key)

    def on_line(self, line: str) -> None:
        text = line.split(": ", 1)[-1] if ": " in line else line
        m = self.FINISHED.search(text)
        if m:
            self._table_done(self._match(m.group(1)))
            return
        m = self.DUMP_START.search(text) or self.RESTORE_START.search(text)
        if m:
            if self.phase != "data":
                self.phase = "data"
            if not self.parallel:
                if self.current is not None:
                    self._table_done(self.current)
                self.current = self._match(m.group(1))
            return
        if "creating INDEX" in text or "creating CONSTRAINT" in text:
            if self.current is not None and not self.parallel:
                self._table_done(self.current)
                self.current = None
            self.phase = "indexes"

    def finish(self) -> None:
        if self.current is not None:
            self._table_done(self.current)
            self.current = None
        for key in self.weights:  # tables pg_dump reported without a line we parsed
            if key not in self.done:
                self._table_done(key)

    # -- ticker ------------------------------------------------------------------------------
    def start_ticker(self) -> None:
        def run() -> None:
            while not self._stop.wait(TICK_S):
                self.emit("tick")
        self._ticker = threading.Thread(target=run, name=f"{self.operation}-progress", daemon=True)
        self._ticker.start()

    def stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    """Manifest instants, with microseconds: the migration gate orders a backup against the
    ledger's latest change, which can fall in the same second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


_proc_start = proc_start  # the process start time: tells a reused pid from ours


def path_size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def sha256_of(p: Path) -> str:
    """sha256 of a file; of a directory dump: over ``relpath NUL sha256(file) LF`` sorted."""
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + sha256_of(f).encode() + b"\n")
        return h.hexdigest()
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def _fsync_path(p: Path) -> None:
    if p.is_dir():
        for f in p.rglob("*"):
            if f.is_file():
                _fsync_path(f)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def stem_of(p: Path) -> str:
    name = p.name
    for suf in (MANIFEST_SUFFIX, PARTIAL_SUFFIX, *FORMAT_SUFFIX.values()):
        if name.endswith(suf):
            return name[: -len(suf)]
    return p.stem


def manifest_path_for(p: Path) -> Path:
    return p.parent / (stem_of(p) + MANIFEST_SUFFIX)


def read_manifest(p: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(p: Path, manifest: dict[str, Any]) -> None:
    """Atomically (temp file, every byte written, fsync, rename, fsync dir), 0600. A short
    write or a full disk raises (``OperationFailed`` for ENOSPC) and leaves the previous
    manifest as it was."""
    data = json.dumps(manifest, indent=2, default=str, sort_keys=False).encode() + b"\n"
    try:
        write_file_atomic(p, data, mid_write_failpoint="manifest.mid_write")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OperationFailed(f"disk full at {p.parent}: cannot write the manifest "
                                  f"{p.name}", "free space at the backup directory") from None
        raise


def _journal(target: Target, journal: Journal | None) -> Journal:
    return journal if journal is not None else Journal.for_target(target.state_dir,
                                                                  target.masked())


# ---------------------------------------------------------------------------------------------
# preflight
# ---------------------------------------------------------------------------------------------
@dataclass
class Preflight:
    """What stands between us and a backup. ``problems`` are errors to raise (exit 2 or 3)."""

    server_version: str
    server_major: int
    database: str
    database_bytes: int
    estimate_bytes: int
    needed_bytes: int
    free_bytes: int
    backup_dir: str
    pg_dump: PgTool | None
    problems: list[NchatError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    migration_lock: list[dict[str, Any]] = field(default_factory=list)
    exclusive_locks: list[dict[str, Any]] = field(default_factory=list)
    long_transactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_first(self) -> None:
        if self.problems:
            raise self.problems[0]

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("problems", "pg_dump")}
        d["pg_dump"] = self.pg_dump.describe() if self.pg_dump else None
        d["problems"] = [p.as_dict() for p in self.problems]
        return d


def existing_parent(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _previous_ratio(backup_dir: Path, database: str) -> float | None:
    """dump size / table bytes of the newest good backup of this database (for estimates)."""
    best: tuple[str, float] | None = None
    if not backup_dir.is_dir():
        return None
    for mp in backup_dir.glob("*" + MANIFEST_SUFFIX):
        m = read_manifest(mp)
        if not m or m.get("database") != database or m.get("state") not in ("verified",
                                                                              "unverified"):
            continue
        tb = sum((m.get("snapshot") or {}).get("table_bytes", {}).values())
        if tb > 0 and m.get("size") and m.get("format") == "custom":
            ratio = float(m["size"]) / tb
            if best is None or str(m.get("started_at")) > best[0]:
                best = (str(m.get("started_at")), ratio)
    return best[1] if best else None


def preflight(target: Target, *, check_space: bool = True, fmt: str = "custom",
              conn: psycopg.Connection[Any] | None = None) -> Preflight:
    """Check the tool, free space and the server's activity; never raises for those checks
    (they land in ``problems``), only for a failed connection."""
    own = conn is None
    c = conn or target.connect("nchat-tui backup preflight")
    try:
        with c.cursor(row_factory=dict_row) as cur:
            cur.execute(sql_text("backup/database_size.sql"))
            row = cur.fetchone()
            assert row is not None
            db_bytes, vnum = int(row["bytes"]), int(row["server_version_num"])
            server_version, database = row["server_version"], row["database"]
            # other sessions' SQL text: secrets masked as it is read
            cur.execute(sql_text("backup/migration_lock_holders.sql"))
            mig = scrub_rows(cur.fetchall())
            cur.execute(sql_text("backup/exclusive_lock_sessions.sql"))
            excl = scrub_rows(cur.fetchall())
            cur.execute(sql_text("backup/long_transactions.sql"),
                        {"min_age_s": LONG_TX_S})
            longtx = scrub_rows(cur.fetchall())
    finally:
        if own:
            c.close()
    major = major_of(vnum)
    problems: list[NchatError] = []
    warnings: list[str] = []
    tool: PgTool | None = None
    try:
        tool = find_tool("pg_dump", major, target)
    except ToolMissing as exc:
        problems.append(exc)
    if fmt == "directory" and target.docker:
        problems.append(BadInput("directory format is not available in docker mode (the dump "
                                 "streams out of the container through docker exec)",
                                 "use --format custom"))
    ratio = _previous_ratio(target.backup_dir, database) or 1.0
    estimate = int(db_bytes * ratio)
    need = estimate + max(estimate // 10, MIN_MARGIN)
    where = existing_parent(target.backup_dir)
    free = shutil.disk_usage(where).free
    if check_space and free < need:
        problems.append(Refused(
            f"not enough free space at {where}: {_size(free)} free, a backup of this "
            f"{_size(db_bytes)} database needs about {_size(need)} (estimate + margin)",
            "free space or choose another --backup-dir"))
    if mig:
        who = ", ".join(f"pid {m['pid']} ({m['application_name'] or m['user']}, "
                        f"{'holding' if m['granted'] else 'waiting'})" for m in mig)
        problems.append(Refused(f"a migration is running: the nself migration lock is held "
                                f"or requested by {who}",
                                "wait for the migration to finish, then back up"))
    if excl:
        who = ", ".join(f"pid {e['pid']} on {e['relation']} "
                        f"({'holding' if e['granted'] else 'waiting for'} ACCESS EXCLUSIVE)"
                        for e in excl[:5])
        problems.append(Refused(f"DDL in progress would hold the dump: {who}",
                                "wait for it to finish (or end that session), then back up"))
    for t in longtx:
        warnings.append(f"long transaction: pid {t['pid']} ({t['user']}, {t['state']}) open for "
                        f"{about(t['xact_age_s'])}; it "
                        "does not block the dump but will block the migration's DDL")
    if check_space and need <= free < 2 * need:
        warnings.append(f"free space is tight at {where}: {_size(free)} for ~{_size(need)}")
    return Preflight(server_version, major, database, db_bytes, estimate, need, free,
                     str(target.backup_dir), tool, problems, warnings, mig, excl, longtx)


# ---------------------------------------------------------------------------------------------
# pg_dump / pg_restore failures in one line
# ---------------------------------------------------------------------------------------------
def classify_tool_failure(tool: str, lines: list[str]) -> tuple[str, str, str | None]:
    """(kind, message, hint) from a failed tool's stderr lines."""
    text = "\n".join(lines)
    low = text.lower()
    err = next((ln for ln in lines if "error:" in ln), lines[-1] if lines else "no output")
    err = err.split("error: ", 1)[-1].strip()
    if "no space left on device" in low:
        return "disk_full", f"disk full: {tool} could not write ({err})", \
            "free space at the backup directory"
    if "could not read from input file: end of file" in low or "unexpected end of file" in low:
        return "truncated", f"the dump is truncated: {err}", "the file is incomplete: back up again"
    if "could not uncompress data" in low or "corrupt" in low or (
            "invalid" in low and "archive" not in low):
        return "corrupt", f"the dump is corrupt: {err}", "back up again"
    if "unsupported version" in low:
        return "unsupported_version", f"{tool} is too old for this archive: {err}", \
            "use the pg_restore of the pg_dump version that wrote it (or newer)"
    if "appears to be a text format dump" in low:
        return "plain_sql", "this is a plain-SQL dump: pg_restore cannot read it", \
            "restore plain SQL with psql; nchat-tui verifies custom and directory dumps"
    if "does not appear to be a valid archive" in low:
        return "not_an_archive", f"not a pg_dump archive: {err}", None
    if "server version mismatch" in low:
        return "version_mismatch", f"{tool} refuses this server: {err}", \
            "use pg_dump of the server's major version or newer"
    if "could not obtain lock" in low or "lock timeout" in low:
        return "lock_timeout", f"{tool} could not lock a table: {err}", \
            "a DDL or migration holds it: wait for it, then back up"
    if "row-level security" in low:
        return "rls", f"{tool}: row-level security blocks the dump as this role: {err}", \
            "back up as the tables' owner or a superuser"
    if "permission denied" in low:
        return "permission", f"{tool}: {err}", "back up as the database owner or a superuser"
    return "tool_failed", f"{tool} failed: {err}", None


# ---------------------------------------------------------------------------------------------
# backup
# ---------------------------------------------------------------------------------------------
@dataclass
class BackupResult:
    """A finished backup. ``state`` is ``verified`` or ``unverified`` (when verify=False)."""

    path: Path
    manifest_path: Path
    state: str
    format: str
    size: int
    sha256: str
    duration_s: float
    manifest: dict[str, Any]
    verification: Verification | None = None
    leftovers: list[Leftover] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "manifest": str(self.manifest_path), "state": self.state,
                "format": self.format, "size": self.size, "sha256": self.sha256,
                "duration_s": round(self.duration_s, 3),
                "timings": self.manifest.get("timings"),
                "row_counts": self.manifest["snapshot"]["row_counts"],
                "counted_as": self.manifest["snapshot"]["counted_as"]["role"],
                "rls_could_hide_rows": self.manifest["snapshot"]["rls"]["rls_could_hide_rows"],
                "verification": self.verification.as_dict() if self.verification else None,
                "method": self.manifest.get("method"),
                "leftovers": [lo.as_dict() for lo in self.leftovers],
                "warnings": self.warnings}


def _names(target: Target, fmt: str) -> tuple[Path, Path, Path]:
    """(final, partial, manifest) paths for a new backup, never clashing with existing ones."""
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", target.name) or "backup"
    for _ in range(120):
        stem = f"{prefix}_{dt.datetime.now():%Y%m%d_%H%M%S}"
        final = target.backup_dir / (stem + FORMAT_SUFFIX[fmt])
        partial = target.backup_dir / (stem + PARTIAL_SUFFIX)
        manifest = target.backup_dir / (stem + MANIFEST_SUFFIX)
        if not any(p.exists() for p in (final, partial, manifest)):
            return final, partial, manifest
        time.sleep(0.5)
    raise OperationFailed(f"cannot find a free backup name in {target.backup_dir}")


def ensure_backup_dir(d: Path) -> list[str]:
    from nchat_tui.state.safeio import os_error_line, private_dir

    warnings: list[str] = []
    if d.exists() and not d.is_dir():
        raise BadInput(f"the backup directory {d} is not a directory (a file is in the way)",
                       "give --backup-dir a directory")
    try:
        private_dir(d)
        probe = d / f".nchat-tui-write-test-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        msg, hint = os_error_line(exc, "cannot write in the backup directory")
        raise BadInput(msg if str(d) in msg else f"{msg} at {d}",
                       hint or "choose another --backup-dir") from None
    if d.stat().st_mode & 0o077:
        warnings.append(f"backup directory {d} is readable by other users "
                        f"(mode {d.stat().st_mode & 0o777:o}); 0700 recommended")
    return warnings


def run_backup(target: Target, fmt: str | None = None, jobs: int | None = None,
               verify: bool = True, *, compress: str | None = None, test_restore: bool = False,
               on_progress: ProgressCallback | None = None,
               cancel_event: threading.Event | None = None, journal: Journal | None = None,
               check_space: bool = True) -> BackupResult:
    """Back up the target: preflight, snapshot, pg_dump, manifest, verification, rename.

    ``fmt`` is ``custom`` (one file, the default: what nself restores) or ``directory``
    (parallel, ``jobs`` workers); ``compress`` a pg_dump compression (``1``, ``zstd:1``, ...).
    Left None, ``method.choose_method`` picks them for this client, server and database;
    the method and its reason are announced (a ``method`` phase) and kept in the manifest.
    A custom-format dump streams through ``stream.StreamedDump``: the sha256 is taken as
    the bytes are written and the full read runs while pg_dump writes.
    Raises ``ToolMissing``/``BadInput`` (exit 2), ``Refused`` (3), ``OperationFailed`` (1,
    including a failed verification: the file then stays under its ``.partial`` name with a
    manifest saying ``failed``), ``Cancelled`` when ``cancel_event`` is set (child killed,
    partial file and manifest removed).
    """
    if fmt is not None and fmt not in FORMAT_SUFFIX:
        raise BadInput(f"unknown backup format {fmt!r}: use custom or directory")
    if jobs is not None and jobs < 1:
        raise BadInput("--jobs must be at least 1")
    if jobs is not None and jobs > 1 and fmt != "directory":
        raise BadInput("parallel dumps (--jobs > 1) need --format directory")
    the_fmt = fmt or "custom"
    j = _journal(target, journal)
    warnings = ensure_backup_dir(target.backup_dir)
    leftovers = find_leftovers(target.backup_dir)
    with contextlib.suppress(NchatError, psycopg.Error):
        leftovers += scratch_leftovers(target)
    for lo in leftovers:
        j.append("backup_interrupted", database=lo.database,
                 leftover=[str(p) for p in lo.paths], reason=lo.reason,
                 started_at=lo.started_at, pid=lo.pid)
    tracker = ProgressTracker("backup", {}, on_progress)
    tracker.set_phase("preflight", "checking pg_dump, free space and server activity")
    t_pre = time.monotonic()
    pre = preflight(target, check_space=check_space, fmt=the_fmt)
    timings: dict[str, float] = {"preflight_s": time.monotonic() - t_pre}
    pre.raise_first()
    assert pre.pg_dump is not None
    warnings += pre.warnings

    def method_for(table_bytes: dict[str, int]) -> DumpMethod:
        assert pre.pg_dump is not None
        return choose_method(pg_dump=pre.pg_dump, server_major=pre.server_major,
                             table_bytes=table_bytes, fmt=fmt, jobs=jobs, compress=compress,
                             docker=bool(target.docker))

    method = method_for({})  # an impossible --compress fails here, before any file exists
    final, partial, mpath = _names(target, the_fmt)
    t0 = time.monotonic()
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION, "tool": f"nchat-tui {__version__}",
        "state": "running", "file": final.name, "temp_file": partial.name, "format": the_fmt,
        "jobs": method.jobs, "compression": method.compression.spec(), "method": None,
        "target": target.masked(), "database": pre.database,
        "project_name": target.project_name, "docker": target.docker,
        "server_version": pre.server_version, "pg_dump_version": pre.pg_dump.version,
        "pg_dump": pre.pg_dump.describe(), "started_at": _now(), "finished_at": None,
        "pid": os.getpid(), "pid_started": _proc_start(os.getpid()),
        "host": socket.gethostname(), "size": None, "sha256": None, "snapshot": None,
        "verification": None,
    }
    write_manifest(mpath, manifest)
    j.append("backup_started", file=str(final), temp_file=str(partial), format=the_fmt,
             jobs=method.jobs, compression=method.compression.spec(), manifest=str(mpath),
             pg_dump=pre.pg_dump.describe())
    failpoint("backup.after_manifest")
    dump_proc: ToolProcess | None = None
    stream: StreamedDump | None = None
    streamed: StreamResult | None = None
    try:
        # the partial file exists with 0600 before pg_dump opens it (pg_dump keeps the mode)
        if the_fmt == "custom":
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
        else:
            partial.mkdir(mode=0o700)
        tracker.set_phase("snapshot", "exporting a consistent snapshot and locking tables")
        with target.connect("nchat-tui backup snapshot") as sconn, \
                exported_snapshot(sconn) as snap:
            # The counts run beside pg_dump: no parallel workers, so they take one core at most
            # and never starve pg_dump's compression (which is what the backup waits on).
            sconn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            weights = {qualified(s, n): snap.table_bytes.get(qualified(s, n), 0)
                       for s, n in snap.tables()}
            table_bytes = sum(weights.values())
            method = method_for(weights)
            manifest.update({"jobs": method.jobs, "method": method.as_dict()})
            ratio = _previous_ratio(target.backup_dir, pre.database) or DEFAULT_RATIO
            tracker = ProgressTracker("backup", weights, on_progress,
                                      bytes_estimate=int(table_bytes * ratio) or None,
                                      parallel=method.format == "directory" and method.jobs > 1,
                                      size_of=lambda: path_size(partial))
            _announce_method(tracker, method)
            args = [*method.pg_dump_args(), "--verbose", f"--snapshot={snap.snapshot_id}",
                    "--lock-wait-timeout=30000"]
            if not method.streamed:
                args += ["-f", str(partial)]  # directory format: pg_dump writes the files
            argv, env = build_command(target, pre.pg_dump, args)
            _journal_command(j, argv, "backup: pg_dump")
            read = _stream_read_command(target, manifest) if verify and method.streamed else None
            if read is not None:
                _journal_command(j, read[0], "verify: full read while dumping")
            tracker.set_phase("dump", f"pg_dump -> {partial.name}"
                              + (", read back while it grows" if read else ""))
            t_dump = time.monotonic()
            timings["snapshot_s"] = t_dump - t0
            if method.streamed:
                stream = StreamedDump(argv, env, partial, on_line=tracker.on_line,
                                      read_argv=read[0] if read else None,
                                      read_env=read[1] if read else None).start()
                dump_proc = stream.dump
            else:
                dump_proc = ToolProcess(argv, env, on_line=tracker.on_line,
                                        stdout=subprocess.DEVNULL).start()
            tracker.started(dump_proc)
            failpoint("backup.after_dump_started")
            tracker.start_ticker()
            # counts and inventory in the same snapshot, while pg_dump works on its own CPU
            watcher = _cancel_watcher(cancel_event, sconn, stream or dump_proc)
            try:
                snapshot = snap.collect()
                timings["counts_and_inventory_s"] = time.monotonic() - t_dump
            except psycopg.errors.QueryCanceled:
                raise Cancelled("backup cancelled by the operator") from None
            finally:
                watcher.set()
            if stream is not None:
                streamed = stream.wait(cancel_event)
                rc = streamed.dump_rc
                timings["pg_dump_s"] = streamed.dump_s
                if streamed.read_lag_s is not None:
                    timings["full_read_lag_s"] = streamed.read_lag_s
            else:
                rc = dump_proc.wait(cancel_event)
                timings["pg_dump_s"] = time.monotonic() - t_dump
        tracker.stop_ticker()
        if cancel_event is not None and cancel_event.is_set():
            raise Cancelled("backup cancelled by the operator")
        if streamed is not None and streamed.write_error is not None:
            raise streamed.write_error  # ENOSPC becomes "disk full" below; we stopped pg_dump
        if rc < 0:
            raise _failed("killed", f"pg_dump was killed (signal {-rc}) before it finished",
                          "nothing was kept; run the backup again")
        if rc != 0:
            kind, msg, hint = classify_tool_failure("pg_dump", list(dump_proc.stderr_tail))
            raise _failed(kind, msg, hint)
        tracker.finish()
        _fsync_path(partial)
        failpoint("backup.after_dump")
        size = path_size(partial)
        if streamed is not None:
            if size != streamed.size:
                raise _failed("io", f"{partial.name} holds {size} bytes, but {streamed.size} "
                              "were written to it", "check the disk; run the backup again")
            digest = streamed.sha256  # taken as the bytes were written
        else:
            t_sha = time.monotonic()
            digest = sha256_of(partial)
            timings["sha256_s"] = time.monotonic() - t_sha
        if cancel_event is not None and cancel_event.is_set():  # confirmed while hashing
            raise Cancelled("backup cancelled by the operator")
        manifest.update({"state": "unverified", "finished_at": _now(), "size": size,
                         "duration_s": round(time.monotonic() - t0, 3),
                         "sha256": digest, "snapshot": snapshot,
                         "timings": {k: round(v, 3) for k, v in timings.items()}})
        if snapshot["rls"]["note"]:
            warnings.append(snapshot["rls"]["note"])
        manifest["warnings"] = warnings
        write_manifest(mpath, manifest)
    except BaseException as exc:
        tracker.stop_ticker()
        if stream is not None:
            stream.kill()
        if dump_proc is not None:
            dump_proc.kill()
        _remove(partial)
        _remove(mpath)
        if isinstance(exc, Cancelled):
            j.append("backup_cancelled", file=str(final), removed=[str(partial), str(mpath)])
            raise Cancelled("backup cancelled by the operator; the partial file was removed") \
                from None
        if isinstance(exc, KeyboardInterrupt):
            j.append("backup_cancelled", file=str(final), reason="interrupted (Ctrl-C)",
                     removed=[str(partial), str(mpath)])
            raise
        msg = exc.message if isinstance(exc, NchatError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            exc = OperationFailed(f"disk full at {target.backup_dir} while writing the dump",
                                  "free space at the backup directory")
            msg = exc.message
        elif isinstance(exc, psycopg.Error):
            why = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
            exc = _failed("snapshot", f"the snapshot connection failed: {why}",
                          "the counts must be taken as a role that can read every table "
                          "(the owner or a superuser)" if isinstance(
                              exc, psycopg.errors.InsufficientPrivilege) else None)
            msg = exc.message
        elif isinstance(exc, OSError):
            exc = _failed("io", f"cannot write the backup: {exc}")
            msg = exc.message
        j.append("backup_failed", file=str(final), reason=msg,
                 kind=getattr(exc, "kind", "error"), removed=[str(partial), str(mpath)])
        raise exc from None
    verification: Verification | None = None
    if verify:
        tracker.set_phase("verify", "checksum, full read, table of contents"
                          if streamed is None else
                          "checksum and full read (done while dumping), table of contents")
        try:
            verification = _verify(partial, manifest, target=target, test_restore=test_restore,
                                   on_progress=on_progress, cancel_event=cancel_event,
                                   journal=j, streamed=streamed)
        except Cancelled:
            if cancel_event is None or not cancel_event.is_set():
                raise
        if verification is None or (cancel_event is not None and cancel_event.is_set()):
            # confirmed while verifying (it may have stopped pg_restore): a cancel, never a
            # "damaged dump", and never a backup finished after the operator said stop
            _remove(partial)
            _remove(mpath)
            j.append("backup_cancelled", file=str(final), removed=[str(partial), str(mpath)],
                     stage="verification")
            raise Cancelled("backup cancelled by the operator during its verification; the "
                            "partial file was removed")
        manifest["verification"] = verification.as_dict()
        if not verification.ok:
            manifest["state"] = "failed"
            write_manifest(mpath, manifest)
            j.append("backup_failed", file=str(partial), reason=verification.failure,
                     kind="verification")
            raise OperationFailed(f"the new dump failed verification: {verification.failure}",
                                  f"kept as {partial} for inspection; back up again")
    failpoint("backup.before_rename")
    os.replace(partial, final)
    _fsync_path(target.backup_dir)
    failpoint("backup.after_rename")
    manifest["state"] = "verified" if verify else "unverified"
    if manifest["verification"]:
        manifest["verification"]["path"] = str(final)
    try:
        write_manifest(mpath, manifest)
    except (OSError, OperationFailed) as exc:
        why = exc.message if isinstance(exc, OperationFailed) else str(exc)
        with contextlib.suppress(NchatError):
            j.append("backup_failed", file=str(final), kind="manifest", reason=why,
                     manifest_state="unverified")
        raise OperationFailed(
            f"{final.name} was written{' and verified' if verify else ''}, but its manifest "
            f"could not record that ({why}): it is listed as unverified",
            f"free space at {target.backup_dir}, then: nchat-tui verify-backup {final}"
        ) from None
    duration = time.monotonic() - t0
    j.append("backup_finished", file=str(final), size=manifest["size"],
             sha256=manifest["sha256"], state=manifest["state"], duration_s=round(duration, 3),
             tables=len(manifest["snapshot"]["row_counts"]),
             rows=manifest["snapshot"]["total_rows"])
    tracker.phase = "done"
    tracker.emit("finished", f"{manifest['state']} backup {final.name}")
    return BackupResult(final, mpath, manifest["state"], the_fmt, manifest["size"],
                        manifest["sha256"], duration, manifest, verification, leftovers,
                        warnings)


def _failed(kind: str, msg: str, hint: str | None = None) -> OperationFailed:
    exc = OperationFailed(msg, hint)
    exc.kind = kind
    return exc


def _announce_method(tracker: ProgressTracker, method: DumpMethod) -> None:
    """The dump method on screen: what, why, and what it means for a restore."""
    who = "chosen for this client, server and database" if method.chosen_by == "auto" else \
        "as asked"
    tracker.set_phase("method", f"{method.summary()} ({who}): {method.reason}")
    for note in method.notes:
        tracker.set_phase("method", f"note: {note}")


def _stream_read_command(target: Target, manifest: dict[str, Any]
                         ) -> tuple[list[str], dict[str, str]]:
    """``pg_restore -f /dev/null`` reading standard input (the full read of a streamed dump):
    the pg_restore that verification uses (inside the container in docker mode). It never
    connects, so it gets no PG* variable and no password."""
    tool = _restore_tool(target, manifest)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if tool.docker:
        return [docker_binary(), "exec", "-i", tool.docker, tool.name, "-f", "/dev/null"], env
    return [tool.path, "-f", "/dev/null"], env


def _cancel_watcher(cancel_event: threading.Event | None, conn: psycopg.Connection[Any],
                    proc: ToolProcess | StreamedDump) -> threading.Event:
    """While counting, a cancel also cancels the count query and kills pg_dump (and the
    full read of a streamed dump)."""
    done = threading.Event()
    if cancel_event is None:
        return done

    def run() -> None:
        while not done.is_set():
            if cancel_event.wait(0.1):
                proc.kill()
                with contextlib.suppress(Exception):
                    conn.cancel()
                return
    threading.Thread(target=run, name="backup-cancel", daemon=True).start()
    return done


# ---------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------
@dataclass
class Verification:
    """The result of verifying one dump. ``failure`` names the first failed check."""

    path: str
    ok: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    failure_kind: str | None = None
    has_manifest: bool = True
    verified_at: str = field(default_factory=_now)
    test_restore: dict[str, Any] | None = None

    def add(self, name: str, ok: bool, detail: str, kind: str | None = None) -> None:
        self.checks.append({"check": name, "ok": ok, "detail": detail})
        if not ok:
            self.ok = False
            if self.failure is None:
                self.failure = f"{name}: {detail}"
                self.failure_kind = kind or name

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sniff_format(p: Path) -> str:
    """``custom``, ``directory``, or raise BadInput naming what the file is."""
    if p.is_dir():
        if (p / "toc.dat").is_file():
            return "directory"
        raise BadInput(f"{p} is a directory without toc.dat: not a directory-format dump")
    with open(p, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"PGDMP"):
        return "custom"
    if head.startswith(b"\x1f\x8b"):
        raise BadInput(f"{p} is gzip-compressed (a plain-SQL dump?): pg_restore cannot read it",
                       "gunzip it and restore plain SQL with psql")
    if not head:
        raise BadInput(f"{p} is empty")
    text = head.decode("utf-8", "replace")
    if text.lstrip().startswith(("--", "SET ", "CREATE ", "BEGIN", "\\")) or \
            "PostgreSQL database dump" in text:
        raise BadInput(f"{p} is a plain-SQL dump, not a custom or directory archive",
                       "plain SQL restores with psql; nchat-tui verifies pg_dump -Fc/-Fd archives")
    raise BadInput(f"{p} is not a pg_dump archive (no PGDMP header)")


def _restore_tool(target: Target | None, manifest: dict[str, Any] | None) -> PgTool:
    need = None
    if manifest and manifest.get("pg_dump_version"):
        with contextlib.suppress(ValueError):
            need = int(str(manifest["pg_dump_version"]).split(".")[0])
    return find_tool("pg_restore", need, target if target and target.docker else None)


def _restore_cmd(target: Target | None, tool: PgTool, args: list[str], path: Path,
                 dbname: str | None = None) -> tuple[list[str], dict[str, str], Path | None]:
    """argv/env for pg_restore; in docker mode the archive goes on stdin (third value)."""
    if tool.docker:
        assert target is not None
        if dbname is None:
            # no -U/-d: pg_restore must never connect for a read (-f /dev/null, -l)
            env = target.subprocess_env()
            return [docker_binary(), "exec", "-i", tool.docker, tool.name, *args], env, path
        argv, env = build_command(target, tool, args, dbname=dbname)
        return argv, env, path
    env = target.subprocess_env(dbname) if target else dict(os.environ)
    if dbname is not None:
        args = [*args, "-d", dbname]
    return [tool.path, *args, str(path)], env, None


def _run_restore_tool(argv: list[str], env: dict[str, str], stdin_path: Path | None, *,
                      on_line: Callable[[str], None] | None = None,
                      cancel_event: threading.Event | None = None, journal: Journal | None = None,
                      purpose: str = "", stdout: Any = None,
                      on_start: Callable[[ToolProcess], Any] | None = None) -> ToolProcess:
    _journal_command(journal, argv, purpose)
    fh = open(stdin_path, "rb") if stdin_path else None  # noqa: SIM115
    try:
        tp = ToolProcess(argv, env, on_line=on_line, stdout=stdout, stdin=fh).start()
        if on_start:
            on_start(tp)
            failpoint("restore.after_tool_started")
        tp.wait(cancel_event)
    finally:
        if fh:
            fh.close()
    return tp


TOC_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (.+)$")


def toc_table_data(listing: str) -> list[str]:
    """The ``schema name owner`` strings of the TABLE DATA entries of ``pg_restore -l``."""
    return [m.group(1) for ln in listing.splitlines() if (m := TOC_DATA.match(ln.strip()))]


def toc_tag(schema: str, name: str, owner: str) -> str:
    """How ``pg_restore -l`` lists a table's data: ``schema name owner``, each with newlines
    made spaces (and an empty one a hyphen), as its ``sanitize_line`` does."""
    def clean(v: str) -> str:
        return v.replace("\r", " ").replace("\n", " ") or "-"

    return f"{clean(schema)} {clean(name)} {clean(owner)}"


def _verify(path: Path, manifest: dict[str, Any] | None, *, target: Target | None,
            test_restore: bool, on_progress: ProgressCallback | None,
            cancel_event: threading.Event | None, journal: Journal | None,
            jobs: int = 2, streamed: StreamResult | None = None) -> Verification:
    """The checks of ``verify_backup``. ``streamed``: the dump was just written through
    ``StreamedDump``, whose feed thread already hashed the file as it read it back and whose
    pg_restore already read every block: those results are taken instead of a second pass
    (the same checks, the same failure kinds)."""
    v = Verification(str(path), True, has_manifest=manifest is not None)
    tracker = ProgressTracker("verify", {}, on_progress)
    fmt = sniff_format(path)
    if manifest is not None:
        if manifest.get("format") and manifest["format"] != fmt:
            v.add("format", False, f"manifest says {manifest['format']}, file is {fmt}",
                  "altered")
        size = path_size(path)
        want = manifest.get("size")
        tracker.set_phase("checksum", f"sha256 of {_size(size)}" + (
            ", taken as the file was read back while dumping"
            if streamed is not None and streamed.read_sha256 else ""))
        if want is not None and size < want:
            v.add("size", False, f"the file is truncated: {size} of {want} bytes", "truncated")
        elif want is not None and size != want:
            v.add("size", False, f"the file size changed: {size} bytes, manifest says {want}",
                  "altered")
        else:
            v.add("size", True, f"{size} bytes")
        read_back = streamed.read_sha256 if streamed is not None else None
        digest = read_back or sha256_of(path)
        if manifest.get("sha256") and digest != manifest["sha256"]:
            v.add("sha256", False, "checksum mismatch: the file was altered or damaged after "
                  "it was written", "altered")
        else:
            v.add("sha256", True, digest + (" (the file as read back while dumping)"
                                            if read_back else ""))
    else:
        v.add("manifest", True, "no manifest beside the file: checksum and counts cannot be "
              "compared (not written by nchat-tui?)")
    tool = _restore_tool(target, manifest)
    # the full read: every data block decompressed (--list alone proves nothing)
    if streamed is not None:
        rc = streamed.read_rc if streamed.read_rc is not None else -1
        stderr = streamed.read_stderr
        if rc == 0 and streamed.read_fed != streamed.size:
            rc, stderr = 1, ["pg_restore: error: could not read from input file: end of file"]
        tracker.set_phase("full-read", "pg_restore read the dump while pg_dump wrote it")
    else:
        tracker.set_phase("full-read", "pg_restore -f /dev/null")
        argv, env, stdin = _restore_cmd(target, tool, ["-f", "/dev/null"], path)
        tp = _run_restore_tool(argv, env, stdin, cancel_event=cancel_event, journal=journal,
                               purpose="verify: full read", stdout=subprocess.DEVNULL)
        rc = tp.wait()
        stderr = list(tp.stderr_tail)
    if rc < 0:
        v.add("full_read", False, f"pg_restore was killed by signal {-rc} before it finished "
              "reading", "killed")
    elif rc != 0:
        kind, msg, _hint = classify_tool_failure("pg_restore", stderr)
        if kind == "plain_sql":
            raise BadInput(msg)
        v.add("full_read", False, msg, kind)
    else:
        v.add("full_read", True, "pg_restore read every block" + (
            ", while pg_dump wrote them" if streamed is not None else ""))
    argv, env, stdin = _restore_cmd(target, tool, ["-l"], path)
    tp = _run_restore_tool(argv, env, stdin, cancel_event=cancel_event, journal=journal,
                           purpose="verify: table of contents")
    if tp.wait() != 0:
        kind, msg, _ = classify_tool_failure("pg_restore", list(tp.stderr_tail))
        v.add("toc", False, msg, kind)
    else:
        entries = set(toc_table_data(tp.stdout_text))
        if manifest is not None and manifest.get("snapshot"):
            inv = snapshot_keys(manifest["snapshot"])["inventory"]["tables"]
            expected = {k: toc_tag(*split2(k), t["owner"])
                        for k, t in inv.items() if t["kind"] == "r"}
            missing = sorted(k for k, e in expected.items() if e not in entries)
            extra = sorted(entries - set(expected.values()))
            if missing:
                v.add("toc", False, f"{len(missing)} table(s) of the manifest have no data in "
                      f"the dump: {', '.join(missing[:10])}", "incomplete")
            else:
                v.add("toc", True, f"{len(expected)} tables with data, as the manifest lists"
                      + (f" (plus {len(extra)} not in it: {', '.join(extra[:5])})"
                         if extra else ""))
        else:
            v.add("toc", True, f"{len(entries)} TABLE DATA entries")
    if test_restore:
        if target is None:
            raise BadInput("a test restore needs a target server (--dsn or the environment)")
        if not v.ok:
            v.add("test_restore", False, "skipped: the file already failed verification")
        elif manifest is None or not manifest.get("snapshot"):
            v.add("test_restore", False, "no manifest with row counts to compare", "no_manifest")
        else:
            v.test_restore = _test_restore(target, path, manifest, v, jobs=jobs,
                                           on_progress=on_progress, cancel_event=cancel_event,
                                           journal=journal)
    return v


def _test_restore(target: Target, path: Path, manifest: dict[str, Any], v: Verification, *,
                  jobs: int, on_progress: ProgressCallback | None,
                  cancel_event: threading.Event | None, journal: Journal | None
                  ) -> dict[str, Any]:
    scratch = SCRATCH_PREFIX + uuid.uuid4().hex[:10]
    t0 = time.monotonic()
    info: dict[str, Any] = {"database": scratch}
    created = False
    try:
        _create_marked(target, scratch, manifest, "test restore", journal)
        created = True
        if journal is not None:
            journal.append("database_created", database=scratch, purpose="test restore")
        rr = _restore_and_count(target, path, scratch, manifest, jobs=jobs,
                                on_progress=on_progress, cancel_event=cancel_event,
                                journal=journal, purpose="verify: test restore")
        info.update(rr)
        if rr["mismatches"]:
            v.add("test_restore", False, "row counts differ from the manifest: "
                  + ", ".join(f"{m['table']} {m['restored']} != {m['expected']}"
                              for m in rr["mismatches"][:10]), "count_mismatch")
        else:
            v.add("test_restore", True, f"restored into scratch database {scratch}; "
                  f"{len(rr['counts'])} tables' row counts equal the manifest's")
        _test_restore_schema(target, scratch, manifest, v, info)
    except NchatError as exc:
        if isinstance(exc, Cancelled):
            raise
        v.add("test_restore", False, exc.message, getattr(exc, "kind", "restore_failed"))
    finally:
        if created:
            dropped, why = _drop_own_database(target, scratch, journal)
            if not dropped:
                info["drop_error"] = why
                v.add("scratch_dropped", False, f"the scratch database {scratch} could not be "
                      f"dropped ({why}): nchat-tui backups --remove-leftovers drops it later",
                      "cleanup")
        info["duration_s"] = round(time.monotonic() - t0, 3)
    return info


def _test_restore_schema(target: Target, scratch: str, manifest: dict[str, Any],
                         v: Verification, info: dict[str, Any]) -> None:
    """The scratch copy's schema against the manifest's inventory, by meaning: the same
    comparison the restore rollback makes before it swaps (``inventory_compare``)."""
    from nchat_tui.pg.inventory_compare import compare_restored

    snap = snapshot_keys(manifest["snapshot"])
    if "inventory" not in snap:
        v.add("restore_schema", True, "the manifest records no schema inventory: not compared")
        return
    try:
        with target.connect("nchat-tui verify: test restore schema", dbname=scratch) as c:
            cmp = compare_restored(c, snap["inventory"])
    except (psycopg.Error, NchatError) as exc:
        why = exc.message if isinstance(exc, NchatError) else (
            exc.diag.message_primary if exc.diag else str(exc))
        v.add("restore_schema", False, f"cannot read the restored schema: {why}",
              "schema_mismatch")
        return
    info["schema"] = {"equal": cmp.equal, "same_meaning": len(cmp.same_meaning),
                      "not_compared": cmp.not_compared, "warnings": cmp.warnings}
    if not cmp.equal:
        v.add("restore_schema", False, "the restored schema differs from the manifest's "
              f"inventory (a restore rollback would refuse it): {cmp.describe()}",
              "schema_mismatch")
    else:
        v.add("restore_schema", True, "the restored schema equals the manifest's inventory"
              + (f" ({len(cmp.same_meaning)} definition(s) deparse differently but mean the "
                 "same)" if cmp.same_meaning else "")
              + ("; " + "; ".join(cmp.warnings) if cmp.warnings else ""))


def _database_exists(target: Target, name: str) -> bool:
    with target.connect("nchat-tui restore", dbname="postgres") as c, \
            c.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("backup/database_exists.sql"), {"name": name})
        row = cur.fetchone()
        return bool(row and row["exists"])


def _admin_connect(target: Target) -> psycopg.Connection[Any]:
    """A connection to the maintenance database (CREATE/DROP DATABASE run from there)."""
    try:
        return target.connect("nchat-tui restore", dbname="postgres")
    except NchatError:
        return target.connect("nchat-tui restore")


def _create_database(target: Target, name: str, manifest: dict[str, Any] | None) -> None:
    db = ((manifest or {}).get("snapshot") or {}).get("database") or {}
    q = sql_template("backup/create_database.sql").format(
        name=sql.Identifier(name), encoding=sql.Literal(db.get("encoding") or "UTF8"),
        collate=sql.Literal(db.get("collate") or "C.UTF-8"),
        ctype=sql.Literal(db.get("ctype") or "C.UTF-8"))
    if not db.get("collate"):
        q = sql_template("backup/create_database_plain.sql").format(name=sql.Identifier(name))
    try:
        with _admin_connect(target) as c:
            c.execute(q)
    except psycopg.errors.DuplicateDatabase:
        raise Refused(f"database {name!r} already exists: nchat-tui restores only into a new "
                      "database", "choose another --into name") from None
    except psycopg.errors.InsufficientPrivilege:
        raise Refused(f"this role may not create databases (CREATE DATABASE {name})",
                      "use a role with CREATEDB") from None
    except psycopg.Error as exc:
        raise OperationFailed(f"cannot create database {name!r}: "
                              f"{exc.diag.message_primary or exc}") from None


SCRATCH_MARK = "nchat-tui scratch:"
KEPT_MARK = "nchat-tui kept:"


def _mark_scratch(target: Target, name: str, purpose: str) -> None:
    """Mark a database this process just created as ours, with who made it and what for, so
    that a crash leaves it listed (and offered for dropping) among the leftovers. The mark is
    cleared (or replaced by ``KEPT_MARK``) when the database becomes something to keep."""
    comment = (f"{SCRATCH_MARK} {purpose} of {target.database} by pid {os.getpid()} "
               f"start {_proc_start(os.getpid())} host {socket.gethostname()} at {_now()}")
    _set_comment(target, name, comment)


def _create_marked(target: Target, name: str, manifest: dict[str, Any] | None, purpose: str,
                   journal: Journal | None) -> None:
    """CREATE DATABASE, then mark it as ours. A kill between the two would leave a database
    nobody knows about, so the intent is written first (``recovery.py``): the next start marks
    a database so left, and it is listed with the leftovers."""
    from nchat_tui.upgrade.recovery import clear_intent, write_intent

    marker = write_intent(target, "restore", {"database": name, "purpose": purpose}, journal)
    try:
        _create_database(target, name, manifest)
    except BaseException:
        clear_intent(marker)
        raise
    failpoint("restore.after_create")
    try:
        _mark_scratch(target, name, purpose)
    except BaseException:
        _drop_own_database(target, name, journal)
        clear_intent(marker)
        raise
    clear_intent(marker)


def recover_restore(target: Target, marker: Path, intent: dict[str, Any],
                    journal: Journal | None) -> list[str]:
    """A run killed between CREATE DATABASE and its mark: mark the database now (with the dead
    run's pid), so it is listed with the leftovers and offered for dropping."""
    from nchat_tui.upgrade.recovery import clear_intent, pid_alive

    name = intent.get("database")
    if not isinstance(name, str):
        os.replace(marker, marker.with_suffix(".bad"))
        return [f"an unreadable restore marker {marker.name} was set aside (renamed *.bad)"]
    alive = pid_alive(intent.get("pid"), intent.get("host"), intent.get("pid_started"))
    if alive is not False:
        return []  # still running (or elsewhere): its own business
    lines: list[str] = []
    with _admin_connect(target) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("backup/database_comment.sql"), {"name": name})
        row = cur.fetchone()
    if row is not None and not row["comment"]:
        comment = (f"{SCRATCH_MARK} {intent.get('purpose') or 'restore'} of {target.database} "
                   f"by pid {intent.get('pid')} start {intent.get('pid_started')} host "
                   f"{intent.get('host')} at {intent.get('written_at')}")
        _set_comment(target, name, comment)
        if journal is not None:
            journal.append("database_left_by_interrupted_run", database=name,
                           purpose=intent.get("purpose"), pid=intent.get("pid"))
        lines.append(f"an interrupted run (pid {intent.get('pid')}) left the new database "
                     f"{name}: listed with the leftovers (nchat-tui backups --remove-leftovers "
                     "drops it)")
    clear_intent(marker)
    return lines


def _set_comment(target: Target, name: str, comment: str | None) -> None:
    with _admin_connect(target) as c:
        c.execute(sql_template("backup/comment_scratch_database.sql").format(
            name=sql.Identifier(name), comment=sql.Literal(comment)))


SCRATCH_COMMENT = re.compile(r"pid (\d+) start (\S+) host (\S+)")
def scratch_leftovers(target: Target) -> list[Leftover]:
    """Databases that crashed runs of this tool left on the server: scratch databases of test
    restores, restored copies of rollbacks and rehearsals, half-restored databases of
    ``restore --into``. Only databases carrying our mark (whose process is gone) count (a run
    killed between CREATE DATABASE and the mark left an intent that the next start turns into
    the mark: ``recover_restore``); a database whose process still runs (or ran on another
    host) is not a leftover."""
    out: list[Leftover] = []
    with _admin_connect(target) as c, c.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("backup/scratch_databases.sql"))
        rows = cur.fetchall()
    for r in rows:
        comment = r["comment"] or ""
        m = SCRATCH_COMMENT.search(comment)
        if not m:
            continue
        alive = pid_alive(int(m.group(1)), m.group(3), m.group(2))
        if alive is False:
            what = comment[len(SCRATCH_MARK):].split(" by pid ", 1)[0].strip()
            out.append(Leftover([], f"left by an interrupted run ({what}, pid {m.group(1)})",
                                pid=int(m.group(1)), database=r["name"]))
    return out


def _drop_own_database(target: Target, name: str, journal: Journal | None
                       ) -> tuple[bool, str | None]:
    """Drop a database this process created a moment ago (scratch or failed restore).
    Returns (dropped, why not): a failure is journaled as one, never as a drop."""
    try:
        with _admin_connect(target) as c:
            c.execute(sql_template("backup/drop_scratch_database.sql").format(
                name=sql.Identifier(name)))
    except (NchatError, psycopg.Error) as exc:
        why = (exc.one_line() if isinstance(exc, NchatError) else
               (exc.diag.message_primary if exc.diag else None) or str(exc).strip())
        if journal is not None:
            with contextlib.suppress(NchatError):
                journal.append("scratch_database_drop_failed", database=name, reason=why)
        return False, why
    if journal is not None:
        journal.append("scratch_database_dropped", database=name)
    return True, None


def _restore_and_count(target: Target, path: Path, dbname: str, manifest: dict[str, Any] | None,
                       *, jobs: int, on_progress: ProgressCallback | None,
                       cancel_event: threading.Event | None, journal: Journal | None,
                       purpose: str) -> dict[str, Any]:
    """pg_restore (-e) into the new, empty ``dbname`` the caller created; count rows."""
    tool = _restore_tool(target, manifest)
    snapshot = (manifest or {}).get("snapshot") or {}
    weights = dict(snapshot.get("table_bytes") or {})
    if not weights and snapshot.get("row_counts"):
        weights = {k: 0 for k in snapshot["row_counts"]}
    fmt = sniff_format(path)
    if tool.docker:
        jobs = 1  # parallel restore needs a seekable file; docker exec gives it a pipe
    args = ["--verbose", "--exit-on-error", "--no-password"]
    if jobs > 1:
        args += ["-j", str(jobs)]
    if tool.docker and fmt == "directory":
        raise BadInput("a directory-format dump cannot be restored through docker exec")
    tracker = ProgressTracker("restore", weights, on_progress, parallel=jobs > 1)
    argv, env, stdin = _restore_cmd(target, tool, args, path, dbname=dbname)
    tracker.set_phase("restore", f"pg_restore -> {dbname}")
    tracker.start_ticker()
    try:
        tp = _run_restore_tool(argv, env, stdin, on_line=tracker.on_line,
                               cancel_event=cancel_event, journal=journal, purpose=purpose,
                               stdout=subprocess.DEVNULL, on_start=tracker.started)
    finally:
        tracker.stop_ticker()
    rc = tp.wait()
    if rc < 0:
        raise _failed("killed", f"pg_restore was killed by signal {-rc} while restoring into "
                      f"{dbname}", "nothing of it is kept; run the restore again")
    if rc != 0:
        kind, msg, hint = classify_tool_failure("pg_restore", list(tp.stderr_tail))
        raise _failed(kind if kind != "tool_failed" else "restore_failed",
                      f"restore into {dbname} stopped at the first error: {msg}", hint)
    tracker.finish()
    tracker.set_phase("count", f"counting rows in {dbname}")
    counts: dict[str, int] = {}
    mismatches: list[dict[str, Any]] = []
    expected = snapshot_keys(snapshot).get("row_counts") or {} if snapshot else {}
    template = sql_template("snapshot/count_rows.sql")
    with target.connect("nchat-tui restore count", dbname=dbname) as c:
        for key in expected:
            schema, name = split2(key)
            try:
                row = c.execute(template.format(table=sql.Identifier(schema, name))).fetchone()
                counts[key] = int(row[0]) if row else -1
            except psycopg.errors.UndefinedTable:
                counts[key] = -1
            if counts[key] != expected[key]:
                mismatches.append({"table": key, "expected": expected[key],
                                   "restored": counts[key]})
    return {"counts": counts, "mismatches": mismatches, "jobs": jobs}


def verify_backup(path: str | os.PathLike[str], test_restore: bool = False,
                  target: Target | None = None, on_progress: ProgressCallback | None = None, *,
                  cancel_event: threading.Event | None = None, journal: Journal | None = None,
                  update_manifest: bool = True, jobs: int = 2) -> Verification:
    """Verify a dump: size and sha256 against its manifest, a full read with pg_restore, the
    table of contents against the manifest's tables, optionally a test restore into a scratch
    database (needs ``target``; dropped afterwards) comparing every table's row count.

    Returns a ``Verification`` (``ok`` false names the first failure); raises ``BadInput`` for
    a file that is not a custom/directory archive (plain SQL, gzip, missing). The manifest's
    ``verification`` and ``state`` are updated unless ``update_manifest`` is false.
    """
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise BadInput(f"{p} does not exist")
    mpath = manifest_path_for(p)
    manifest = read_manifest(mpath)
    if manifest is not None and manifest.get("file") not in (p.name, None) and \
            manifest.get("temp_file") != p.name:
        manifest = None  # a manifest of another file
    if journal is None and target is not None:
        journal = _journal(target, None)
    if journal is not None:
        journal.append("verify_started", file=str(p), test_restore=test_restore)
    v = _verify(p, manifest, target=target, test_restore=test_restore, on_progress=on_progress,
                cancel_event=cancel_event, journal=journal, jobs=jobs)
    if update_manifest and manifest is not None and manifest.get("state") != "running":
        manifest["verification"] = v.as_dict()
        manifest["state"] = "verified" if v.ok else "failed"
        with contextlib.suppress(OSError, NchatError):
            write_manifest(mpath, manifest)
    if journal is not None:
        journal.append("verify_finished", file=str(p), ok=v.ok, failure=v.failure,
                       failure_kind=v.failure_kind)
    return v


# ---------------------------------------------------------------------------------------------
# listing and leftovers
# ---------------------------------------------------------------------------------------------
@dataclass
class BackupInfo:
    """One backup in the directory. ``state``: verified, unverified, failed, partial, running."""

    path: Path
    state: str
    format: str | None
    size: int | None
    created: str | None
    database: str | None
    manifest_path: Path | None = None
    manifest: dict[str, Any] | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "state": self.state, "format": self.format,
                "size": self.size, "created": self.created, "database": self.database,
                "manifest": str(self.manifest_path) if self.manifest_path else None,
                "sha256": (self.manifest or {}).get("sha256"), "detail": self.detail}


@dataclass
class Leftover:
    """Files an interrupted or failed run left behind."""

    paths: list[Path]
    reason: str
    started_at: str | None = None
    pid: int | None = None
    database: str | None = None
    """A database of an interrupted run (ours: our mark, or a name only we give)."""
    base: Path | None = None
    """The directory ``paths`` must stay inside: ``remove_leftovers`` refuses any other."""

    def as_dict(self) -> dict[str, Any]:
        return {"paths": [str(p) for p in self.paths], "reason": self.reason,
                "started_at": self.started_at, "pid": self.pid, "database": self.database}


def _classify_manifest(mpath: Path, m: dict[str, Any]) -> BackupInfo:
    d = mpath.parent
    state = m.get("state")
    base: dict[str, Any] = {"format": m.get("format"), "created": m.get("started_at"),
            "database": m.get("database"), "manifest_path": mpath, "manifest": m}
    # Names read from the manifest: plain names inside this directory, or nothing is touched.
    final_p = contained(d, m.get("file"))
    temp_p = contained(d, m.get("temp_file")) if m.get("temp_file") else d / (
        stem_of(mpath) + PARTIAL_SUFFIX)
    if final_p is None or temp_p is None:
        bad = [str(m.get(k)) for k, v in (("file", final_p), ("temp_file", temp_p)) if v is None]
        return BackupInfo(mpath, "refused", size=None, detail="the manifest names a file "
                          f"outside the backup directory ({', '.join(bad)}): nothing it names "
                          "is read or removed; check who edited it", **base)
    final, temp = final_p, temp_p
    if state == "running":
        alive = pid_alive(m.get("pid"), m.get("host"), m.get("pid_started"))
        if alive is None or alive:
            return BackupInfo(temp, "running", size=None,
                              detail=f"pid {m.get('pid')} on {m.get('host')}", **base)
        if final.exists() and not temp.exists() and m.get("sha256"):
            # the run died between the rename and the last manifest write
            return BackupInfo(final, "unverified", size=path_size(final),
                              detail="finished, but the run ended before recording the result",
                              **base)
        return BackupInfo(temp, "partial", size=path_size(temp) if temp.exists() else None,
                          detail=f"interrupted: pid {m.get('pid')} is gone", **base)
    if state in ("unverified", "verified") and not final.exists() and temp.exists():
        # pg_dump had finished; the run stopped while verifying, before the rename
        alive = pid_alive(m.get("pid"), m.get("host"), m.get("pid_started"))
        if alive is None or alive:
            return BackupInfo(temp, "running", size=path_size(temp),
                              detail=f"verifying: pid {m.get('pid')} on {m.get('host')}", **base)
        return BackupInfo(temp, "partial", size=path_size(temp),
                          detail=f"interrupted during verification: pid {m.get('pid')} is gone",
                          **base)
    if state == "failed":
        where = final if final.exists() else temp
        why = (m.get("verification") or {}).get("failure") or "failed"
        return BackupInfo(where, "failed", size=path_size(where) if where.exists() else None,
                          detail=why, **base)
    if not final.exists():
        return BackupInfo(final, "failed", size=None, detail="the dump file is missing", **base)
    size = path_size(final)
    if m.get("size") is not None and size != m["size"]:
        return BackupInfo(final, "failed", size=size,
                          detail=f"size changed since it was written ({size} != {m['size']})",
                          **base)
    if state == "verified":
        return BackupInfo(final, "verified", size=size,
                          detail=f"verified {(m.get('verification') or {}).get('verified_at')}",
                          **base)
    return BackupInfo(final, "unverified", size=size, detail="not verified yet", **base)


def list_backups(backup_dir: str | os.PathLike[str]) -> list[BackupInfo]:
    """Every backup in the directory, newest first: ours (by manifest), foreign dumps
    (``*.dump``/``*.dir`` without manifest: unverified) and orphan ``*.partial`` files."""
    d = Path(backup_dir)
    if not d.is_dir():
        return []
    out: list[BackupInfo] = []
    claimed: set[str] = set()
    for mpath in sorted(d.glob("*" + MANIFEST_SUFFIX)):
        m = read_manifest(mpath)
        if m is None:
            out.append(BackupInfo(mpath, "failed", None, None, None, None, mpath,
                                  detail="unreadable manifest"))
            continue
        claimed.update({str(m.get("file")), str(m.get("temp_file"))})
        out.append(_classify_manifest(mpath, m))
    for p in sorted(d.iterdir()):
        if p.name in claimed or p.name.endswith((MANIFEST_SUFFIX, ".tmp")):
            continue
        if p.name.endswith(PARTIAL_SUFFIX):
            out.append(BackupInfo(p, "partial", None, path_size(p), _mtime(p), None,
                                  detail="temporary file without a manifest"))
        elif p.name.endswith((".dump", ".dir")) or (p.is_file() and p.suffix in (".sql", ".gz")):
            out.append(BackupInfo(p, "unverified", None, path_size(p), _mtime(p), None,
                                  detail="no manifest (not written by nchat-tui)"))
    out.sort(key=lambda b: b.created or "", reverse=True)
    return out


def _mtime(p: Path) -> str:
    return dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")


def find_leftovers(backup_dir: str | os.PathLike[str]) -> list[Leftover]:
    """Partial files and manifests of runs that died, and kept files of failed verifications."""
    out: list[Leftover] = []
    d = Path(backup_dir)
    for b in list_backups(backup_dir):
        if b.state == "refused":
            out.append(Leftover([], b.detail, (b.manifest or {}).get("started_at"), base=d))
            continue
        paths = [p for p in (b.path, b.manifest_path) if p is not None and p.exists()]
        m = b.manifest or {}
        if b.state == "partial":
            reason = b.detail or "interrupted backup"
            out.append(Leftover(paths, reason, m.get("started_at"), m.get("pid"), base=d))
        elif b.state == "failed" and b.path.name.endswith(PARTIAL_SUFFIX):
            out.append(Leftover(paths, f"failed verification: {b.detail}", m.get("started_at"),
                                m.get("pid"), base=d))
    for tmp in d.glob("*" + MANIFEST_SUFFIX + ".tmp") if d.is_dir() else []:
        out.append(Leftover([tmp], "half-written manifest", base=d))
    return out


def remove_leftovers(leftovers: list[Leftover], journal: Journal | None = None,
                     target: Target | None = None) -> list[str]:
    """Delete leftover files; drop leftover scratch databases when ``target`` is given."""
    removed: list[str] = []
    refused: list[str] = []
    for lo in leftovers:
        if lo.database and target is not None:
            dropped, why = _drop_own_database(target, lo.database, journal)
            if dropped:
                removed.append(f"database {lo.database}")
            else:
                refused.append(f"database {lo.database}: {why}")
        for p in lo.paths:
            # Checked again here, whoever built the list: only plain names inside its directory.
            if lo.base is None or contained(lo.base, p.name) is None or \
                    Path(os.path.realpath(p.parent)) != Path(os.path.realpath(lo.base)):
                refused.append(f"{p}: not inside the backup directory")
                continue
            if p.exists() or p.is_symlink():
                _remove(p)
                removed.append(str(p))
                if len(removed) == 1:
                    failpoint("leftovers.after_first")
    if journal is not None and (removed or refused):
        journal.append("leftovers_removed", paths=removed, refused=refused)
    return removed


def latest_verified_backup(target: Target, conn: psycopg.Connection[Any] | None = None, *,
                           recheck: bool = True) -> BackupInfo | None:
    """The newest verified backup of this target's database whose snapshot holds the ledger
    rows, for the migration gate. "This database": same name, and the same cluster (system
    identifier) when both sides could read it, else the same masked target. With ``recheck``
    the file's sha256 is recomputed (a file altered since is not returned)."""
    from nchat_tui.pg.snapshot import database_identity

    own = conn is None
    c = conn or target.connect("nchat-tui backup gate")
    try:
        ident = database_identity(c)
    finally:
        if own:
            c.close()
    for b in list_backups(target.backup_dir):
        m = b.manifest
        if b.state != "verified" or not m or not m.get("snapshot"):
            continue
        mdb = m["snapshot"].get("database") or {}
        if mdb.get("database") != ident["database"]:
            continue
        if mdb.get("system_identifier") and ident.get("system_identifier"):
            if mdb["system_identifier"] != ident["system_identifier"]:
                continue
        elif m.get("target") != target.masked():
            continue
        if "ledgers" not in m["snapshot"].get("inventory", {}):
            continue
        if recheck and sha256_of(b.path) != m.get("sha256"):
            continue
        return b
    return None


# ---------------------------------------------------------------------------------------------
# restore into a new database
# ---------------------------------------------------------------------------------------------
@dataclass
class RestoreResult:
    database: str
    path: str
    duration_s: float
    counts: dict[str, int]
    mismatches: list[dict[str, Any]]
    compared: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


def restore_into(target: Target, path: str | os.PathLike[str], dbname: str, jobs: int = 2,
                 on_progress: ProgressCallback | None = None, *,
                 cancel_event: threading.Event | None = None, journal: Journal | None = None,
                 keep_failed: bool = False, purpose: str = "restore") -> RestoreResult:
    """Restore a dump into a NEW database ``dbname`` on the target's server, then compare
    every table's row count with the manifest.

    Refuses (exit 3) when ``dbname`` exists: nothing here drops or renames an existing
    database. ``pg_restore --exit-on-error`` stops at the first error; on any failure the
    database this call created is dropped again (unless ``keep_failed``). Size and checksum
    are checked against the manifest first.
    """
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise BadInput(f"{p} does not exist")
    if not NAME_OK.match(dbname):
        raise BadInput(f"{dbname!r} is not a plain database name (letters, digits, _ $ -; "
                       "at most 63)")
    sniff_format(p)
    j = _journal(target, journal)
    if _database_exists(target, dbname):
        raise Refused(f"database {dbname!r} already exists: nchat-tui restores only into a new "
                      "database and never drops or overwrites one", "choose another --into name")
    manifest = read_manifest(manifest_path_for(p))
    if manifest is not None and manifest.get("file") != p.name:
        manifest = None
    if manifest is not None:
        if manifest.get("size") is not None and path_size(p) != manifest["size"]:
            raise OperationFailed(f"{p.name} is {path_size(p)} bytes, its manifest says "
                                  f"{manifest['size']}: truncated or altered; not restoring")
        if manifest.get("sha256") and sha256_of(p) != manifest["sha256"]:
            raise OperationFailed(f"{p.name} does not match its manifest's sha256: altered or "
                                  "damaged; not restoring")
    t0 = time.monotonic()
    j.append("restore_started", file=str(p), database=dbname, jobs=jobs)
    _create_marked(target, dbname, manifest, purpose, j)  # Refused if it appeared meanwhile
    try:
        j.append("database_created", database=dbname, purpose=purpose)
        rr = _restore_and_count(target, p, dbname, manifest, jobs=jobs, on_progress=on_progress,
                                cancel_event=cancel_event, journal=j, purpose=purpose)
        if rr["mismatches"]:
            raise OperationFailed(
                f"restored {dbname}, but row counts differ from the manifest: "
                + ", ".join(f"{m['table']} {m['restored']} != {m['expected']}"
                            for m in rr["mismatches"][:10]))
        failpoint("restore.after_restore")
    except BaseException as exc:
        dropped: bool = False
        why: str | None = "kept on request (keep_failed)"
        if not keep_failed:  # the database is the one this call created above
            dropped, why = _drop_own_database(target, dbname, j)
        with contextlib.suppress(NchatError):
            j.append("restore_failed", file=str(p), database=dbname,
                     reason=exc.message if isinstance(exc, NchatError) else repr(exc),
                     dropped_own_database=dropped,
                     **({} if dropped else {"drop_error": why,
                                            "left": f"database {dbname} is left; nchat-tui "
                                                    "backups --remove-leftovers drops it"}))
        if not dropped and not keep_failed and isinstance(exc, NchatError):
            exc.message += f"; the new database {dbname} could not be dropped ({why})"
        raise
    res = RestoreResult(dbname, str(p), round(time.monotonic() - t0, 3), rr["counts"],
                        rr["mismatches"], manifest is not None)
    j.append("restore_finished", file=str(p), database=dbname, duration_s=res.duration_s,
             tables=len(res.counts), compared_with_manifest=res.compared)
    if purpose == "restore":  # the operator's new database, whole: no longer a scratch one
        _set_comment(target, dbname, None)
    return res
