"""Named fail points: where a test may kill this process with SIGKILL, to prove a crash there
leaves the database, the ledger, the journal and the report telling the truth.

Every destructive path calls ``failpoint("path.point")`` at the instants a crash matters (after
disallowing connections, between the rename statements, after a file's COMMIT and before its
journal line, in the middle of a manifest write, ...). ``REGISTRY`` lists every name with what
has happened and what has not at that instant; a test checks that each registered name is
placed in the code and exercised by the fault matrix (``tests/test_fault_matrix.py``).

Arming: ``NCHAT_TUI_FAILPOINT=name[,name...]``, each optionally ``name@N`` to fire on the N-th
time the point is reached (default the first). When the variable is unset (every normal run)
``failpoint`` is a function that returns at once: the names are not even looked up. An armed
point writes one line to stderr (a raw ``write``: nothing buffered is flushed) and sends this
process SIGKILL, which nothing can catch: no ``finally``, no ``atexit``, no flush.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

ENV = "NCHAT_TUI_FAILPOINT"

REGISTRY: dict[str, str] = {
    # -- the restore swap (rollback --backup) -------------------------------------------------
    "swap.after_intent": "the swap's intent is journaled and its marker written; production "
                         "still accepts connections",
    "swap.after_disallow": "ALLOW_CONNECTIONS false on production; no session terminated yet",
    "swap.after_terminate": "production's sessions terminated; the restored copy not yet closed",
    "swap.between_renames": "inside the swap transaction: production renamed away, the copy "
                            "not yet renamed (uncommitted)",
    "swap.before_commit": "inside the swap transaction: both renames and ALLOW_CONNECTIONS "
                          "true done, not committed",
    "swap.after_commit": "the swap committed; its journal line not written",
    # -- the restore (into a new database: restore, rollback's copy, rehearse) ----------------
    "restore.after_create": "the new database exists; not yet marked as ours",
    "restore.after_tool_started": "pg_restore is running into the new database",
    "restore.after_restore": "pg_restore finished and rows counted; the journal line not "
                             "written",
    # -- the backup ---------------------------------------------------------------------------
    "backup.after_manifest": "the 'running' manifest is written; pg_dump not started",
    "backup.after_dump_started": "pg_dump is running into the .partial file",
    "backup.after_dump": "pg_dump finished, the file fsync'd; manifest still 'running'",
    "backup.before_rename": "verified; the file still under its .partial name",
    "backup.after_rename": "renamed to the final name; the manifest still 'unverified'",
    "manifest.mid_write": "half of a manifest's bytes are in its temp file",
    # -- the migration runner (migrate, rollback --down, rehearse) ------------------------------
    "runner.after_statement": "a statement of a non-transactional file committed; its journal "
                              "line not written",
    "runner.after_commit": "a file and its ledger rows committed; its journal line not written",
    "runner.cic_started": "a CREATE INDEX CONCURRENTLY is in the catalog (invalid) and "
                          "building",
    "down.after_run": "the down files ran; the inventory comparison and its journal line not "
                      "done",
    # -- dropping and removing --------------------------------------------------------------------
    "drop_old.after_intent": "the drop of a kept database is journaled as intended; not run",
    "drop_old.after_drop": "DROP DATABASE ran; its journal line not written",
    "leftovers.after_first": "the first leftover is removed; the rest and the journal line not",
    # -- the rehearsal --------------------------------------------------------------------------
    "rehearse.after_restore": "the scratch copy is restored; no migration run on it yet",
    "rehearse.after_up": "the pending files ran on the scratch copy; downs not run",
}

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _parse(value: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, nth = part.partition("@")
        armed[name.strip()] = int(nth) if nth.strip().isdigit() and int(nth) > 0 else 1
    return armed


def _kill(name: str) -> None:
    try:
        os.write(2, f"nchat-tui: fail point {name}: SIGKILL\n".encode())
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _armed_failpoint(name: str) -> None:
    if name not in REGISTRY:
        raise KeyError(f"fail point {name!r} is not registered in failpoints.REGISTRY")
    want = _ARMED.get(name)
    if want is None:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        hit = _counts[name] == want
    if hit:
        _kill(name)


def _noop(name: str) -> None:
    return None


def is_armed(name: str) -> bool:
    """Whether ``name`` is armed in this process (for points that need a helper to fire, such
    as ``runner.cic_started``, which fires from a watcher while the statement runs)."""
    return name in _ARMED


def fire(name: str) -> None:
    """Fire an armed point from any thread (``failpoint`` counts; this kills at once)."""
    if name in _ARMED:
        _kill(name)


_ARMED: dict[str, int] = _parse(os.environ.get(ENV, ""))
failpoint: Callable[[str], None] = _armed_failpoint if _ARMED else _noop
"""Call at a crash-relevant instant; kills the process when this name is armed."""
