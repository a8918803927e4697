"""What a killed run left half-done, found and settled on the next start.

A destructive step that spans more than one server statement (the restore swap, dropping a
kept database, creating a database and then marking it as ours) first writes its **intent**:
a record in the session journal and a small marker file
``STATE_DIR/pending/<target key>.<op>.<stamp>.json`` (0600, fsync'd, renamed into place), both
before it changes anything, and removes the marker once its outcome is journaled. The
marker makes the check on every start one directory listing, and costs nothing when none is
there; the journal holds the story for the report.

``recover_on_start`` (called by every CLI command that connects, and by the app at start-up)
settles each marker whose process is gone: a restore swap is completed (its renames had
committed) or undone (production accepts connections again), a drop is recorded as it happened,
a database created but never marked is marked (so it is listed with the leftovers), and it
reconciles an interrupted migration run with the ledger. It returns one line per thing
it did, for the operator. A marker whose process still runs is left alone and said so.

``refusing_connections_line``: when the target refuses connections, whether this tool did it
(an unfinished swap in its marker or journal) and the exact command that undoes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal, JournalWriteError, target_key
from nchat_tui.state.safeio import private_dir, write_file_atomic

PENDING = "pending"


def proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks (tells a reused pid from ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def pid_alive(pid: Any, host: str | None, started: str | None) -> bool | None:
    """True/False for a pid of this host; None when it ran on another host (cannot tell)."""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return None
    try:
        now = proc_start(int(pid))
    except (TypeError, ValueError):
        return False
    if now is None:
        return False
    return started is None or now == started


def me() -> dict[str, Any]:
    """Who is running: pid, its start time and the host (for liveness checks later)."""
    return {"pid": os.getpid(), "pid_started": proc_start(os.getpid()),
            "host": socket.gethostname()}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# intent markers
# ---------------------------------------------------------------------------------------------
def _pending_dir(state_dir: Path) -> Path:
    return state_dir / PENDING


def write_intent(target: Target, op: str, data: dict[str, Any], journal: Any = None) -> Path:
    """Write the marker of an operation about to change the server (after journaling it)."""
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S%f")
    p = _pending_dir(target.state_dir) / f"{target_key(target.masked())}.{op}.{stamp}.json"
    body = {"op": op, "target": target.masked(), "written_at":
            dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **me(),
            "journal": str(journal.path) if journal is not None else None, **data}
    try:
        private_dir(p.parent)
        write_file_atomic(p, json.dumps(body, indent=1, default=str).encode())
    except OSError as exc:
        raise JournalWriteError.from_os(exc, p.parent, "cannot record the intent "
                                        "(nothing was changed)") from None
    return p


def clear_intent(marker: Path | None) -> None:
    if marker is None:
        return
    try:
        marker.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalWriteError.from_os(exc, marker, "cannot remove the intent marker") \
            from None


def pending_intents(target: Target) -> list[tuple[Path, dict[str, Any]]]:
    """The markers of this target, oldest first (a damaged one is returned as ``{}``)."""
    d = _pending_dir(target.state_dir)
    try:
        names = sorted(os.listdir(d))
    except (FileNotFoundError, NotADirectoryError):
        return []
    prefix = target_key(target.masked()) + "."
    out: list[tuple[Path, dict[str, Any]]] = []
    for n in names:
        if not (n.startswith(prefix) and n.endswith(".json")):
            continue
        p = d / n
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            data = {}
        out.append((p, data if isinstance(data, dict) else {}))
    return out


def intent_journal(intent: dict[str, Any], state_dir: Path) -> Any:
    """The session journal the intent was written to, if it still exists in this state dir."""
    jp = intent.get("journal")
    if not isinstance(jp, str):
        return None
    p = Path(jp)
    try:
        sessions = (state_dir / "sessions").resolve()
        if p.resolve().parent.parent != sessions or p.name != "journal.jsonl":
            return None  # a hand-edited marker: never write outside the state dir
    except OSError:
        return None
    return Journal(p) if p.is_file() else None


# ---------------------------------------------------------------------------------------------
# on every start
# ---------------------------------------------------------------------------------------------
def recover_on_start(target: Target, journal: Any = None, *,
                     reconcile_runs: bool = True) -> list[str]:
    """Settle what killed runs left half-done (see the module doc). Returns what was done.

    Connects only when there is something to settle. Raises ``NchatError`` when a settlement
    cannot be made (the message then says what is left and how to finish it by hand)."""
    lines: list[str] = []
    intents = pending_intents(target)
    if intents:
        from nchat_tui.rollback import engine as rollback  # noqa: PLC0415 - cycle: it imports us

        j = journal if journal is not None else _current_journal(target)
        for path, intent in intents:
            op = intent.get("op")
            if op == "swap":
                lines += rollback.recover_swap(target, path, intent, j)
            elif op == "drop_old":
                lines += rollback.recover_drop_old(target, path, intent, j)
            elif op == "restore":
                from nchat_tui.backup.engine import recover_restore  # noqa: PLC0415 - cycle: it imports us

                lines += recover_restore(target, path, intent, j)
            else:
                lines.append(f"an unreadable intent marker {path.name} was set aside "
                             f"(renamed *.bad); it changed nothing")
                os.replace(path, path.with_suffix(".bad"))
    if reconcile_runs:
        from nchat_tui.migrate import runner  # noqa: PLC0415 - pglast only when a run is reconciled

        j = journal if journal is not None else _current_journal(target, create=False)
        if j is not None:
            prev = runner.reconcile_interrupted(target, j)
            if prev is not None and prev.get("newly_reconciled"):
                lines += runner.describe_interrupted(prev)
    return lines


def _current_journal(target: Target, create: bool = True) -> Any:
    if not create:
        key = target_key(target.masked())
        if not (target.state_dir / "targets" / f"{key}.current").is_file():
            return None
    return Journal.for_target(target.state_dir, target.masked())


def refusing_connections_line(target: Target, dbname: str) -> str:
    """Who made ``dbname`` refuse connections, as far as this tool knows, and the undo."""
    undo = (f"to allow them again run, as its owner or a superuser: psql -d postgres -c "
            f"'ALTER DATABASE {quote_ident(dbname)} ALLOW_CONNECTIONS true'")
    for _path, intent in pending_intents(target):
        if intent.get("op") == "swap" and intent.get("database") == dbname:
            alive = pid_alive(intent.get("pid"), intent.get("host"), intent.get("pid_started"))
            state = ("is still running" if alive else "did not finish" if alive is False
                     else "ran on another host")
            return (f"database {dbname!r} is not accepting connections: nchat-tui's restore "
                    f"swap did this (pid {intent.get('pid')}, started "
                    f"{intent.get('written_at')}) and {state}; "
                    + ("wait for it to finish" if alive else undo))
    journal = _current_journal(target, create=False)
    if journal is not None:
        closing = ("rollback_swap_finished", "rollback_swap_undone", "rollback_swap_recovered")
        open_intent = None
        for r in journal.records():
            if r.get("database") != dbname:
                continue
            if r.get("event") == "rollback_swap_intent":
                open_intent = r
            elif r.get("event") in closing:
                open_intent = None
        if open_intent is not None:
            return (f"database {dbname!r} is not accepting connections: nchat-tui's restore "
                    f"swap did this (pid {open_intent.get('pid')}, at {open_intent.get('ts')}, "
                    f"journal {journal.path}) and its end was never recorded; {undo}")
    return (f"database {dbname!r} is not accepting connections, and not by nchat-tui (no "
            f"unfinished swap of it in {target.state_dir}); {undo}")
