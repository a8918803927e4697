"""Guarded sessions: no query of ours waits without limit, and a wait says who made it wait.

What an operator runs while a migration is stuck (``rollback`` facts, ``verify``,
``maintain``, ``plan``, the troubleshooting trees) must not queue forever behind the ACCESS
EXCLUSIVE lock of that migration. ``guarded(target, application_name, what)`` opens a session
whose ``lock_timeout`` (and, for sessions of short queries, ``statement_timeout``) are startup
options, so a ``RESET`` in the code returns to them (``Target.connect`` also sets
``client_connection_check_interval`` on PostgreSQL 14+, so a backend whose client was killed
while it waited ends instead of staying queued). When a lock wait runs out,
``LockWaitTimeout`` (exit 1: the operation failed cleanly and changed nothing; run it again
once the lock is gone) names the lock, its relation and who holds or queues for it, as the
monitor does; a statement timeout becomes ``StatementTimedOut``.

``NCHAT_TUI_LOCK_TIMEOUT`` (seconds, default 5) sets the wait for every guarded session.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from nchat_tui.errors import BadInput, OperationFailed
from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.scrub import scrub_sql
from nchat_tui.pg.target import Target

DEFAULT_LOCK_TIMEOUT_S = 5.0
MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
         "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
# PostgreSQL's conflict table (explicit-locking.html): which held modes a request waits for
CONFLICTS: dict[str, tuple[str, ...]] = {
    "AccessShareLock": ("AccessExclusiveLock",),
    "RowShareLock": ("ExclusiveLock", "AccessExclusiveLock"),
    "RowExclusiveLock": ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock",
                         "AccessExclusiveLock"),
    "ShareUpdateExclusiveLock": MODES[3:],
    "ShareLock": ("RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock",
                  "ExclusiveLock", "AccessExclusiveLock"),
    "ShareRowExclusiveLock": MODES[2:],
    "ExclusiveLock": MODES[1:],
    "AccessExclusiveLock": MODES,
}


class LockWaitTimeout(OperationFailed):
    """A query gave up waiting for a lock; the message names it and its holder."""

    kind = "lock_timeout"


class StatementTimedOut(OperationFailed):
    kind = "statement_timeout"


@dataclass(frozen=True)
class _Guard:
    target: Target
    lock_timeout_s: float
    statement_timeout_s: float | None


_GUARDS: weakref.WeakKeyDictionary[psycopg.Connection[Any], _Guard] = \
    weakref.WeakKeyDictionary()


def lock_timeout_s() -> float:
    """The guarded sessions' lock wait (``NCHAT_TUI_LOCK_TIMEOUT``, default 5 s)."""
    raw = os.environ.get("NCHAT_TUI_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not (0 < v < 86400):
        raise BadInput(f"NCHAT_TUI_LOCK_TIMEOUT={raw!r} is not a number of seconds above 0")
    return v


def _ms(s: float) -> int:
    return max(1, round(s * 1000))


def connect_guarded(target: Target, application_name: str, *,
                    lock_timeout: float | None = None,
                    statement_timeout: float | None = None, dbname: str | None = None,
                    autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection whose waits are bounded (see the module docstring)."""
    lt = lock_timeout if lock_timeout is not None else lock_timeout_s()
    opts = [f"-c lock_timeout={_ms(lt)}"]
    if statement_timeout is not None:
        opts.append(f"-c statement_timeout={_ms(statement_timeout)}")
    given = target.params.get("options")
    # (Target.connect also sets client_connection_check_interval on every session)
    conn = target.connect(application_name, dbname=dbname, autocommit=autocommit,
                          options=" ".join([*([given] if given else []), *opts]))
    _GUARDS[conn] = _Guard(target, lt, statement_timeout)
    return conn


@contextlib.contextmanager
def guarded(target: Target, application_name: str, what: str, **kw: Any
            ) -> Iterator[psycopg.Connection[Any]]:
    """``with guarded(target, "nchat-tui verify", "the verification") as conn:`` - a guarded
    connection, closed at the end, whose lock and statement timeouts become one-line errors."""
    conn = connect_guarded(target, application_name, **kw)
    try:
        with lock_guard(conn, what):
            yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def lock_guard(conn: psycopg.Connection[Any], what: str, *, mode: str = "AccessShareLock",
               relation: tuple[str, str] | None = None) -> Iterator[None]:
    """Turn a lock timeout or statement timeout raised inside into a one-line error naming
    the lock (``mode`` is what the statements ask for; ``relation`` the one they lock)."""
    try:
        yield
    except psycopg.errors.LockNotAvailable:
        raise LockWaitTimeout(describe_lock_wait(conn, what, mode=mode, relation=relation),
                              "wait for that session to finish (or end it from the monitor), "
                              "then run this again: nothing was changed") from None
    except psycopg.errors.QueryCanceled as exc:
        g = _GUARDS.get(conn)
        if "statement timeout" not in str(exc) or g is None:
            raise
        limit = f" after {g.statement_timeout_s:g}s" if g.statement_timeout_s else ""
        raise StatementTimedOut(f"{what}: a query was cancelled by the statement "
                                f"timeout{limit}",
                                "the server is slow or the query too big for now: run it "
                                "again later") from None


def describe_lock_wait(conn: psycopg.Connection[Any], what: str, *,
                       mode: str = "AccessShareLock",
                       relation: tuple[str, str] | None = None) -> str:
    """``what``: the lock wait that ran out, with the sessions holding (or queued for) the
    conflicting locks now. Never raises: without a way to look, it says so."""
    g = _GUARDS.get(conn)
    waited = f" after {g.lock_timeout_s:g}s" if g else ""
    head = f"{what}: gave up{waited} waiting for a lock"
    try:
        rows = _conflicts(conn, g, mode, relation)
    except (psycopg.Error, OperationFailed, BadInput) as exc:
        return f"{head} (who holds it could not be read: {type(exc).__name__})"
    if not rows:
        on = f" on {display(*relation)}" if relation else ""
        return f"{head}{on}; the session holding it has finished since"
    first = rows[0]
    text = f"{head}: {lock_line(first)}"
    others = {(r["pid"], r["schema"], r["relation"]) for r in rows[1:]}
    if others:
        text += f"; and {len(others)} more lock(s) held or queued by other sessions"
    return text


def _conflicts(conn: psycopg.Connection[Any], g: _Guard | None, mode: str,
               relation: tuple[str, str] | None) -> list[dict[str, Any]]:
    params = {"modes": list(CONFLICTS.get(mode, MODES)),
              "schema": relation[0] if relation else None,
              "name": relation[1] if relation else None}
    usable = (conn.autocommit and not conn.closed and not conn.broken
              and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
    if usable:
        return _read_conflicts(conn, params)
    if g is None:
        raise OperationFailed("no connection to look with")
    with g.target.connect("nchat-tui lock check", connect_timeout=5,
                          options="-c lock_timeout=1000 -c statement_timeout=5000") as side:
        return _read_conflicts(side, params)


def _read_conflicts(conn: psycopg.Connection[Any], params: dict[str, Any]
                    ) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("guard/lock_conflicts.sql"), params)
        return [dict(r) for r in cur.fetchall()]


def mode_name(mode: str) -> str:
    """``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE``."""
    words: list[str] = []
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.upper())
    return "".join(words)


def lock_line(r: dict[str, Any]) -> str:
    """One lock of ``lock_conflicts.sql`` in words."""
    how = "locked" if r["granted"] else "queued for"
    who = ", ".join(str(x) for x in (r.get("application") or None, r.get("user"),
                                     r.get("state")) if x)
    age = r.get("xact_age_s")
    since = f", transaction open {age:.0f}s" if isinstance(age, int | float) else ""
    query = " ".join(str(scrub_sql(r.get("query")) or "").split())
    q = f": {query[:80]}" + ("..." if len(query) > 80 else "") if query else ""
    return (f"{display(r['schema'], r['relation'])} is {how} {mode_name(r['mode'])} by pid "
            f"{r['pid']} ({who}{since}){q}")


def display(schema: str, name: str) -> str:
    """``schema.name`` for one line: odd names quoted, control characters escaped."""
    def part(p: str) -> str:
        plain = bool(p) and p == p.lower() and not p[0].isdigit() and all(
            c.isalnum() or c == "_" for c in p)
        text = p if plain else '"' + p.replace('"', '""') + '"'
        return "".join(repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c for c in text)
    return f"{part(schema)}.{part(name)}"
