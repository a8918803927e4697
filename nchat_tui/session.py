"""An upgrade session: target + journal + checklist, the one object the app drives.

The Textual app holds no SQL and runs no commands: it asks the session for the banner and to
run or confirm steps, from worker threads. Tests of the screens subclass it with frozen
figures (``banner`` and ``execute``), everything else stays real.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from nchat_tui.actions import ACTIONS, ActionContext, Progress, Question
from nchat_tui.checklist import Checklist, StepResult, StepState, UpgradePath, load_path
from nchat_tui.errors import NchatError
from nchat_tui.journal import Journal
from nchat_tui.status import gather_status
from nchat_tui.target import Target


def choose_path(status: dict[str, Any] | None, journal: Journal) -> str:
    """The session's upgrade path: the one it already follows, else from the pending files."""
    opened = journal.last("checklist_opened")
    if opened and opened.get("path"):
        return str(opened["path"])
    if status:
        names = status.get("pending", []) + [str(a) for a in status["ledger"]["applied"]]
        prefixes = {n.split("_", 1)[0].lstrip("0") for n in names}
        if {"13", "14", "15", "16"} & prefixes and status.get("pending"):
            return "v0.4.0"
        if not status.get("pending"):
            return "v0.8.0"
    return "v0.4.0"


class UpgradeSession:
    """Drive one upgrade of one target. Thread-safe for one step at a time."""

    def __init__(self, target: Target, path_id: str | None = None, new: bool = False,
                 status: dict[str, Any] | None = None) -> None:
        self.target = target
        self.journal = Journal.for_target(target.state_dir, target.masked(), new=new)
        self._status = status
        pid = path_id or choose_path(status, self.journal)
        self.path: UpgradePath = load_path(pid)
        self.checklist = Checklist(self.path, self.journal)
        self._lock = threading.Lock()
        self.cache: dict[str, Any] = {}
        """Results steps share within a session (the plan, a fresh verification)."""
        self.settled_at_start: list[str] = []
        """What was settled before the session opened (``run_app``), for the start-up notice."""

    def banner(self) -> dict[str, Any]:
        """Target banner facts (cached; ``refresh_banner`` re-reads)."""
        if self._status is None:
            self._status = gather_status(self.target)
        return self._status

    def refresh_banner(self) -> dict[str, Any]:
        self._status = None
        return self.banner()

    def execute(self, action: str, ctx: ActionContext | None = None) -> StepResult:
        """Run one action (overridden by the snapshot tests' fake)."""
        from nchat_tui.engine_actions import ENGINE_ACTIONS

        fn = ACTIONS.get(action) or ENGINE_ACTIONS.get(action)
        if fn is None:
            return StepResult("failed", f"unknown action {action!r}", {})
        return fn(ctx or ActionContext(self.target, self.journal))

    def run_step(self, key: str, progress: Callable[[Progress], None] | None = None,
                 ask: Callable[[Question], str] | None = None,
                 cancel: threading.Event | None = None) -> StepState:
        """Start, run and finish an automated step; an exception becomes a failed result.

        ``progress`` receives the action's progress, ``ask`` puts decisions to the operator
        (None: the safe default is taken), ``cancel`` asks a long action to stop.
        """
        step = self.path.step(key)
        ctx = ActionContext(self.target, self.journal, progress=progress or (lambda _: None),
                            cancel=cancel or threading.Event(), ask=ask,
                            options={"step": key, "checklist": self.checklist, "session": self})
        with self._lock:
            self.checklist.start(key)
            try:
                result = self.execute(step.action or "", ctx)
            except NchatError as exc:
                result = StepResult("failed", exc.one_line(), {"error": exc.kind})
            except Exception as exc:  # a bug must not leave the step "running" forever
                result = StepResult("failed", f"{type(exc).__name__}: {exc}",
                                    {"traceback": traceback.format_exc(limit=5)})
            if ctx.unanswered:
                # The action went on with a safe default nobody chose: never report that as the
                # operator's decision, and never as done.
                result = StepResult(
                    "failed", f"not finished: the app closed while '{ctx.unanswered[0]}' waited "
                    "for an answer, and the safe default was taken; run the step again. "
                    f"({result.summary})", result.evidence)
            if step.action in ("pending_migrations", "no_pending_migrations", "detect_ledger"):
                self._status = None
            return self.checklist.finish(key, result)

    def step_changed(self, key: str) -> str | None:
        """Call after any change of a step: when its phase is complete, save the report.

        Returns the report's path when one was written. A failure to write the report never
        fails the step: it is journaled instead.
        """
        phase = key.split(".", 1)[0]
        done, total = self.checklist.phase_progress(phase)
        if done < total:
            return None
        from nchat_tui.report import save_report

        pw = self.target.params.get("password")
        try:
            path = save_report(self.journal.path.parent, secrets=[pw] if pw else [])
        except OSError as exc:
            self.journal.append("report_failed", phase=phase, error=str(exc))
            return None
        self.journal.append("report_saved", phase=phase, path=str(path))
        return str(path)

    # -- what a crash left behind -------------------------------------------------------------
    def leftovers(self) -> list[Any]:
        """Partial backups, dead runs' manifests and scratch databases of interrupted runs."""
        from nchat_tui.backup import find_leftovers, scratch_leftovers

        found: list[Any] = list(find_leftovers(self.target.backup_dir))
        try:
            found += scratch_leftovers(self.target)
        except NchatError:
            pass  # cannot reach the server: the banner says so
        if found:
            self.journal.append("leftovers_found", leftovers=[lo.as_dict() for lo in found])
        return found

    def remove_leftovers(self, found: list[Any]) -> list[str]:
        from nchat_tui.backup import remove_leftovers

        removed = remove_leftovers(found, journal=self.journal, target=self.target)
        self.journal.append("leftovers_removed", removed=removed)
        return removed

    def interrupted_run(self) -> dict[str, Any] | None:
        """The last migration run of this session that never finished, reconciled with the
        ledger (``live`` when its process still runs: never called dead)."""
        from nchat_tui.runner import reconcile_interrupted

        return reconcile_interrupted(self.target, self.journal)

    def start_up_notices(self) -> list[str]:
        """The app's start-up notice: what killed runs left half-done, settled now (a restore
        swap finished or undone, so production never stays refusing logins; a drop recorded
        as it happened) and an interrupted migration run as the ledger tells it. Raises
        ``NchatError`` when something could not be settled (its message says what to do)."""
        from nchat_tui.recovery import recover_on_start
        from nchat_tui.runner import describe_interrupted

        lines = self.settled_at_start + recover_on_start(self.target, self.journal,
                                                         reconcile_runs=False)
        self.settled_at_start = []
        run = self.interrupted_run()
        if run is not None:
            lines += describe_interrupted(run)
        return lines


def ssh_without_multiplexer(environ: Mapping[str, str]) -> str | None:
    """A warning when the app runs over SSH outside tmux/screen, else None.

    A dropped SSH session then kills the app: a running file rolls back (the runner commits a
    file with its ledger rows or not at all) and the journal resumes the checklist, but the
    run must be started again. Inside tmux or screen the run goes on.
    """
    if not (environ.get("SSH_CONNECTION") or environ.get("SSH_TTY")):
        return None
    if environ.get("TMUX") or environ.get("STY") or environ.get("ZELLIJ"):
        return None
    return ("Over SSH without tmux or screen: if the connection drops, a running step stops "
            "(a migration file in flight rolls back; the journal resumes the checklist). For "
            "the long steps, start nchat-tui inside tmux or screen.")
