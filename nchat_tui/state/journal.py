"""The upgrade session's journal: an append-only JSON-lines file, fsync'd per record.

Every step change, decision, override and command run is one record, so a session can be
resumed after a dropped SSH session or ``kill -9`` exactly where it stood, and rendered as
a report. A record never holds a secret: ``scrub`` masks password-like keys and DSN passwords
before anything is written. A damaged line (a crash cut the last write) is skipped and
reported, never fatal.

An append writes every byte and fsyncs before it returns; when it cannot (a full disk, a
read-only file system) it removes its own partial line and raises ``JournalWriteError`` (exit
2): the caller stops instead of going on unrecorded. The state directory and everything in it
are created private (0700/0600), and the session a target's pointer file names must be a plain
name under ``sessions/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nchat_tui.errors import BadInput
from nchat_tui.pg.scrub import scrub_sql
from nchat_tui.state.safeio import contained, os_error_line, private_dir, write_all, write_file_atomic

SECRET_KEY = re.compile(r"pass(word)?|secret|token|pgpassword", re.I)
DSN_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)@")
KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def scrub(value: Any, sql: bool = True) -> Any:
    """Mask secrets in a JSON-able value (keys named like passwords, passwords in DSNs, and
    with ``sql`` the secrets of SQL text in each string: see ``scrub.scrub_sql``). Give whole
    documents ``sql=False``: their fields were scrubbed one by one before."""
    if isinstance(value, dict):
        return {k: ("***" if SECRET_KEY.search(str(k)) and v not in (None, "")
                    else scrub(v, sql)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, sql) for v in value]
    if isinstance(value, str):
        value = KV_PASSWORD.sub(r"\1***", DSN_PASSWORD.sub(r"\1***@", value))
        # last line of defence: a query text that reached a record unscrubbed
        return scrub_sql(value) if sql else value
    return value


class JournalWriteError(BadInput):
    """The journal (or the state directory) cannot be written: nothing may go on unrecorded."""

    kind = "journal_write"

    @classmethod
    def from_os(cls, exc: OSError, path: Path, doing: str = "cannot write the journal"
                ) -> JournalWriteError:
        msg, hint = os_error_line(exc, doing)
        if str(path) not in msg:
            msg += f" at {path}"
        return cls(msg, hint or "fix the state directory (--state-dir DIR), then run it again")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def target_key(masked_target: str) -> str:
    """A stable, filesystem-safe key for one target (from its masked form: no secret)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", masked_target).strip("-")[:48]
    return f"{slug}-{hashlib.sha256(masked_target.encode()).hexdigest()[:8]}"


@dataclass
class Journal:
    """One session's journal file. Create with ``Journal.for_target`` or ``Journal(path)``."""

    path: Path
    damaged: list[tuple[int, str]] = field(default_factory=list)
    _seq: int = 0

    @property
    def session_id(self) -> str:
        return self.path.parent.name

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def for_target(cls, state_dir: Path, masked_target: str, *, new: bool = False) -> Journal:
        """The target's current session, or a new one when there is none, it ended, or new=True."""
        key = target_key(masked_target)
        pointer = state_dir / "targets" / f"{key}.current"
        if not new and pointer.is_file():
            sid = pointer.read_text(errors="replace").strip()
            sdir = contained(state_dir / "sessions", sid)  # a hand-edited pointer stays inside
            path = (sdir / "journal.jsonl") if sdir is not None else None
            if path is not None and path.is_file():
                j = cls(path)
                if not j.ended():
                    return j
        sid = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{key[-8:]}"
        path = state_dir / "sessions" / sid / "journal.jsonl"
        n = 1
        while path.exists():
            n += 1
            path = state_dir / "sessions" / f"{sid}-{n}" / "journal.jsonl"
        try:
            private_dir(path.parent)
            private_dir(pointer.parent)
            write_file_atomic(pointer, (path.parent.name + "\n").encode())
        except OSError as exc:
            raise JournalWriteError.from_os(exc, state_dir,
                                            "cannot create the session journal") from None
        j = cls(path)
        j.append("session_started", target=masked_target)
        return j

    @staticmethod
    def list_sessions(state_dir: Path) -> list[Path]:
        base = state_dir / "sessions"
        return sorted(base.glob("*/journal.jsonl")) if base.is_dir() else []

    # -- writing ----------------------------------------------------------------------------
    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record and fsync it before returning."""
        if self._seq == 0:
            self._seq = len(self.records())
        self._seq += 1
        rec = {"seq": self._seq, "ts": now_iso(), "event": event, "user": os_user(),
               "host": socket.gethostname(), "pid": os.getpid(), **scrub(fields)}
        data = (json.dumps(rec, default=str, separators=(",", ":")) + "\n").encode()
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            self._seq -= 1
            raise JournalWriteError.from_os(exc, self.path) from None
        size = -1
        try:
            size = os.fstat(fd).st_size
            # A crash may have left a partial line without its newline: start a fresh line.
            if size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
            write_all(fd, data)
            os.fsync(fd)
        except OSError as exc:
            # Never leave half a record behind, and never return as if it were written.
            if size >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
            self._seq -= 1
            raise JournalWriteError.from_os(exc, self.path) from None
        finally:
            os.close(fd)
        return rec

    # -- reading ----------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """All readable records; damaged lines are collected in ``self.damaged``."""
        out: list[dict[str, Any]] = []
        self.damaged = []
        if not self.path.is_file():
            return out
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict):
                        raise ValueError("not an object")
                    out.append(rec)
                except ValueError:
                    self.damaged.append((n, line[:80].rstrip("\n")))
        return out

    def ended(self) -> bool:
        return any(r.get("event") == "session_ended" for r in self.records())

    def last(self, event: str) -> dict[str, Any] | None:
        for r in reversed(self.records()):
            if r.get("event") == event:
                return r
        return None
