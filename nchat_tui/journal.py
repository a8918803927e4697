"""The upgrade session's journal: an append-only JSON-lines file, fsync'd per record.

Every step change, decision, override and command run is one record, so a session can be
resumed after a dropped SSH session or ``kill -9`` exactly where it stood, and rendered as
a report. A record never holds a secret: ``scrub`` masks password-like keys and DSN passwords
before anything is written. A damaged line (a crash cut the last write) is skipped and
reported, never fatal.
"""

from __future__ import annotations

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

from nchat_tui.scrub import scrub_sql

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
            sid = pointer.read_text().strip()
            path = state_dir / "sessions" / sid / "journal.jsonl"
            if path.is_file():
                j = cls(path)
                if not j.ended():
                    return j
        sid = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{key[-8:]}"
        path = state_dir / "sessions" / sid / "journal.jsonl"
        n = 1
        while path.exists():
            n += 1
            path = state_dir / "sessions" / f"{sid}-{n}" / "journal.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pointer.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(path.parent.name + "\n")
        os.replace(tmp, pointer)
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
        line = json.dumps(rec, default=str, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # A crash may have left a partial line without its newline: start a fresh line.
            if os.fstat(fd).st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        os.write(fd, b"\n")
            os.write(fd, line.encode())
            os.fsync(fd)
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
