"""An upgrade session: target + journal + checklist, the one object the app drives.

The Textual app holds no SQL and runs no commands: it asks the session for the banner and to
run or confirm steps, from worker threads. Tests of the screens subclass it with frozen
figures (``banner`` and ``execute``), everything else stays real.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nchat_tui.errors import NchatError
from nchat_tui.migrate.status import Status, gather_status
from nchat_tui.pg.target import Target
from nchat_tui.releases.choice import PathChoice, choose, path_mismatch
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.actions import ACTIONS, ActionContext, Progress, Question
from nchat_tui.upgrade.checklist import Checklist, StepResult, StepState, UpgradePath, load_path
from nchat_tui.upgrade.contract import SessionCache, SessionFiles
from nchat_tui.upgrade.recovery import recover_on_start

if TYPE_CHECKING:
    from nchat_tui.backup.engine import Leftover
    from nchat_tui.migrate.plan import Plan


def path_choice(status: Status | None, journal: Journal,
                path_id: str | None = None) -> PathChoice:
    """The session's upgrade path and why: the operator's ``--upgrade-path``, else the one the
    session already follows, else the release whose files are pending (``releases.choice``)."""
    if path_id:
        return PathChoice(path_id, "operator", "chosen with --upgrade-path")
    opened = journal.last("checklist_opened")
    if opened and opened.get("path"):
        return PathChoice(str(opened["path"]), "session", "the path this session follows")
    return choose(status)


class UpgradeSession:
    """Drive one upgrade of one target. Thread-safe for one step at a time."""

    def __init__(self, target: Target, path_id: str | None = None, new: bool = False,
                 status: Status | None = None) -> None:
        self.target = target
        self.journal = Journal.for_target(target.state_dir, target.masked(), new=new)
        self._status = status
        self.path_choice = path_choice(status, self.journal, path_id)
        """Which upgrade path this session follows, and why."""
        self.path: UpgradePath = load_path(self.path_choice.path)
        self.checklist = Checklist(self.path, self.journal)
        self._lock = threading.Lock()
        self.status_loaded = status is not None
        self.cache = SessionCache()
        """Results steps share within a session (the plan, a fresh verification)."""
        self.settled_at_start: list[str] = []
        """What was settled before the session opened (``open_session``), for the start-up
        notice."""
        self.connect_error: str | None = None
        """Why the target could not be reached when the session opened (None: it was)."""
        self.status_version = 0
        """Bumped whenever a step changed or re-read what the banner shows (the ledger, the
        pending files): a screen showing an older version reads the banner again."""
        self._cancels: dict[str, str] = {}
        """Steps the operator asked to cancel while they ran, with when (journaled)."""

    status_loaded = False
    """Whether the target was reached at least once in this process."""

    def banner(self) -> Status:
        """Target banner facts (cached; ``refresh_banner`` re-reads)."""
        if self._status is None:
            self._status = gather_status(self.target)
            # read the pending files here, in the caller's worker thread: the home screen
            # asks the same (cached) when it shows them
            path_mismatch(self._status, self.path.id)
        self.status_loaded = True
        return self._status

    def refresh_banner(self) -> Status:
        self._status = None
        return self.banner()

    def status_changed(self) -> None:
        """The database's migration state may differ from the banner's: read it again."""
        self._status = None
        self.status_version += 1

    def request_cancel(self, key: str, cancel: threading.Event) -> None:
        """The operator confirmed cancelling a running step: journal it, then signal it.

        Journaled first, so whatever the action does next, the request is on record, and
        ``run_step`` never records the step as done after it."""
        rec = self.journal.append("cancel_requested", step=key,
                                  title=self.path.step(key).title)
        self._cancels[key] = str(rec.get("ts") or "")
        cancel.set()

    def plan(self) -> Plan:
        """The migration plan of the pending files as of now (cached for the plan viewer)."""
        from nchat_tui.upgrade.steps import build_target_plan  # noqa: PLC0415 - steps load the pglast parser

        plan = build_target_plan(ActionContext(self.target, self.journal))
        self.cache.plan = plan
        return plan

    def execute(self, action: str, ctx: ActionContext | None = None) -> StepResult:
        """Run one action (overridden by the snapshot tests' fake)."""
        from nchat_tui.upgrade.steps import ENGINE_ACTIONS  # noqa: PLC0415 - steps load the pglast parser

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
                            step=key, checklist=self.checklist, cache=self.cache)
        with self._lock:
            self.checklist.start(key)
            self._cancels.pop(key, None)
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
            asked = self._cancels.pop(key, None)
            if asked is not None and result.status != "failed":
                # The engine had passed its last cancel point (say, a backup verifying) and
                # finished: the operator's cancel still stands, and the step is not done.
                when = asked[11:19] or "?"
                result = StepResult(
                    "failed", f"cancelled by the operator at {when} UTC, but the action had "
                    f"already finished: {result.summary}. Nothing was undone; run the step "
                    "again to record it as done.",
                    {**(result.evidence if isinstance(result.evidence, dict) else
                        {"result": result.evidence}), "cancel_requested_at": asked})
            if step.action in ("pending_migrations", "no_pending_migrations", "detect_ledger",
                               "migrate", "rollback") or result.reverted:
                self.status_changed()
            return self.checklist.finish(key, result)

    def step_changed(self, key: str) -> str | None:
        """Call after any change of a step: when its phase is complete, save the report.

        Returns the report's path when one was written. A failure to write the report never
        fails the step: it is journaled instead.
        """
        phase = key.split(".", 1)[0]
        done, total = self.checklist.phase_progress(phase)
        rolled_back = bool(self.path.step(key).undoes) and \
            self.checklist.state(key).state in ("ok", "warn")
        if done < total and not rolled_back:  # a rollback goes on record at once
            return None
        return self.save_report("rollback" if rolled_back else f"phase {phase} complete")

    def save_report(self, why: str) -> str | None:
        """Write the report now (never fails the caller: a failure is journaled)."""
        from nchat_tui.report.markdown import save_report  # noqa: PLC0415 - loads backup engine, ~35 ms

        pw = self.target.params.get("password")
        try:
            path = save_report(self.journal.path.parent, secrets=[pw] if pw else [],
                               backup_dir=self.target.backup_dir)
        except OSError as exc:
            self.journal.append("report_failed", why=why, error=str(exc))
            return None
        self.journal.append("report_saved", why=why, path=str(path))
        return str(path)

    def files(self) -> SessionFiles:
        """Where this session's files are: the report (and whether it is written yet), the
        journal, the latest backup this session took or reused, the backup directory."""
        sdir = self.journal.path.parent
        report = sdir / "report.md"
        backup = None
        for r in reversed(self.journal.records()):
            if r.get("event") == "backup_finished" and r.get("file"):
                backup = str(r["file"])
                break
        return SessionFiles(report=str(report), report_written=report.is_file(),
                            journal=str(self.journal.path), backup=backup,
                            backup_dir=str(self.target.backup_dir),
                            session=self.journal.session_id)

    # -- what a crash left behind -------------------------------------------------------------
    def leftovers(self) -> list[Leftover]:
        """Partial backups, dead runs' manifests and scratch databases of interrupted runs."""
        from nchat_tui.backup.engine import find_leftovers, scratch_leftovers  # noqa: PLC0415 - slow to load

        found = list(find_leftovers(self.target.backup_dir))
        try:
            found += scratch_leftovers(self.target)
        except NchatError:
            pass  # cannot reach the server: the banner says so
        if found:
            self.journal.append("leftovers_found", leftovers=[lo.as_dict() for lo in found])
        return found

    def remove_leftovers(self, found: list[Leftover]) -> list[str]:
        from nchat_tui.backup.engine import remove_leftovers  # noqa: PLC0415 - backup engine, ~30 ms

        removed = remove_leftovers(found, journal=self.journal, target=self.target)
        self.journal.append("leftovers_removed", removed=removed)
        return removed

    def interrupted_run(self) -> dict[str, Any] | None:
        """The last migration run of this session that never finished, reconciled with the
        ledger (``live`` when its process still runs: never called dead)."""
        from nchat_tui.migrate.runner import reconcile_interrupted  # noqa: PLC0415 - runner loads pglast

        return reconcile_interrupted(self.target, self.journal)

    def start_up_notices(self) -> list[str]:
        """The app's start-up notice: what killed runs left half-done, settled now (a restore
        swap finished or undone, so production never stays refusing logins; a drop recorded
        as it happened) and an interrupted migration run as the ledger tells it. Raises
        ``NchatError`` when something could not be settled (its message says what to do)."""
        from nchat_tui.migrate.runner import describe_interrupted  # noqa: PLC0415 - runner loads pglast

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
