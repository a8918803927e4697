"""The upgrade session as the screens know it: ``SessionLike``, and the data it hands them.

The app (``screens/``) drives one session: the real ``UpgradeSession`` over a database, or the
tests' ``FakeSession`` with frozen figures. Both are checked by mypy against this one
``Protocol``, so a screen can only use what both offer, and a member renamed on one side fails
the type check rather than the operator. What the session hands over is typed too: the banner
(``nchat_tui.migrate.status.Status``), the results the steps share (``SessionCache``) and where
the session's files are (``SessionFiles``).

Nothing here touches a database or imports Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nchat_tui.backup.engine import Leftover
    from nchat_tui.migrate.plan import Plan
    from nchat_tui.migrate.status import Status
    from nchat_tui.pg.target import Target
    from nchat_tui.rollback.engine import RollbackFacts
    from nchat_tui.state.journal import Journal
    from nchat_tui.upgrade.actions import Progress, Question
    from nchat_tui.upgrade.checklist import Checklist, StepState, UpgradePath
    from nchat_tui.verify.engine import VerifyReport


@dataclass
class SessionCache:
    """What the steps of one session share, in memory only (the journal holds the record)."""

    plan: Plan | None = None
    """The migration plan the review step (or the plan viewer) built last: ``v`` shows it."""
    verify: tuple[float, VerifyReport] | None = None
    """The last verification and when it ran (``time.monotonic()``): the schema and the data
    steps read one verification when they run close together."""
    rehearsal_estimate_s: float | None = None
    """The rehearsal's estimate of the production run, for the migration's confirmation."""
    rollback_choice: tuple[str, RollbackFacts | None] | None = None
    """The way back the operator chose and the facts it was chosen on."""


@dataclass
class SessionFiles:
    """Where one session's files are (the ``w`` dialog)."""

    report: str
    report_written: bool
    """False until a phase completed, a rollback ran, or the operator asked (``r``)."""
    journal: str
    backup: str | None
    """The latest backup this session took or reused, None before one."""
    backup_dir: str
    session: str
    """The session's id."""


class SessionLike(Protocol):
    """An upgrade session: what the app and its screens may use of one.

    Steps run from worker threads (``run_step`` is thread-safe for one step at a time); the
    other members are read from the UI thread."""

    target: Target
    """The database (its display form never holds the password)."""
    journal: Journal
    path: UpgradePath
    """The upgrade path followed: its phases and steps (data from a release folder)."""
    checklist: Checklist
    """The live state of every step, replayed from the journal."""
    cache: SessionCache
    status_loaded: bool
    """Whether the target was reached at least once in this process."""
    status_version: int
    """Bumped whenever a step changed what the banner shows: a screen showing an older
    version reads the banner again."""

    def banner(self) -> Status:
        """The target's status for the home screen (cached; blocks: call from a worker)."""
        ...

    def refresh_banner(self) -> Status:
        """The target's status read again now."""
        ...

    def plan(self) -> Plan:
        """The migration plan of the pending files as of now (also kept in ``cache.plan``)."""
        ...

    def run_step(self, key: str, progress: Callable[[Progress], None] | None = None,
                 ask: Callable[[Question], str] | None = None,
                 cancel: threading.Event | None = None) -> StepState:
        """Start, run and finish an automated step; never raises for the action's failure."""
        ...

    def request_cancel(self, key: str, cancel: threading.Event) -> None:
        """Journal the operator's cancel of a running step, then signal it."""
        ...

    def step_changed(self, key: str) -> str | None:
        """After any change of a step: the report's path when its phase completed."""
        ...

    def save_report(self, why: str) -> str | None:
        """Write the report now; None when it could not be written (journaled)."""
        ...

    def files(self) -> SessionFiles:
        ...

    def leftovers(self) -> list[Leftover]:
        """What interrupted runs left behind (files, scratch databases)."""
        ...

    def remove_leftovers(self, found: list[Leftover]) -> list[str]:
        ...

    def start_up_notices(self) -> list[str]:
        """What killed runs left half-done, settled now, as lines for the start-up notice."""
        ...
