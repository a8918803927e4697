"""The Textual app: one factory shared by the CLI, the demo and the tests.

``make_app(session)`` builds the app around an ``UpgradeSession`` (real, or the tests' fake);
``run_app(target)`` is what ``nchat-tui`` and ``nchat-tui demo`` call. A target that cannot be
reached at start opens the app anyway, on the connection troubleshooting, instead of exiting.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from nchat_tui.errors import ConnectError, NchatError, ToolMissing
from nchat_tui.migrate.status import Status, gather_status
from nchat_tui.pg.target import Target
from nchat_tui.quickstart import resume_gc
from nchat_tui.screens.dialogs.modals import ConfirmModal, HelpModal
from nchat_tui.screens.driver import quiet_driver_class
from nchat_tui.screens.home import HomeScreen
from nchat_tui.upgrade.contract import SessionLike
from nchat_tui.upgrade.recovery import recover_on_start
from nchat_tui.upgrade.session import UpgradeSession, ssh_without_multiplexer

if TYPE_CHECKING:
    from nchat_tui.screens.phase import PhaseScreen

PHASE_MODULE = "nchat_tui.screens.phase"
"""Loaded when the first phase opens (with the engines it drives: pglast, the tools), not at
start: the home screen is up about 70 ms sooner."""

PHASE_KEYS = {"1": 0, "2": 1, "3": 2, "4": 3}

ANYWHERE: list[tuple[str, str]] = [
    ("1-4", "open pre-migration, migration, post-migration, rollback"),
    ("m", "the monitor dashboard (sizes, connections, locks, slow queries)"),
    ("t", "troubleshooting (cannot connect, missing data, slow, v0.4.0 cases)"),
    ("P", "psql on the target (the app waits; \\q comes back here)"),
    ("w", "where the report, journal and backups are, and how to copy them"),
    ("tab / shift+tab", "move the focus between panes (to scroll the evidence, say)"),
    ("ctrl+p", "command palette: every screen and action by name"),
    ("?", "this help (for the screen it was opened on)"),
    ("q", "quit: the session resumes where it stood on the next start"),
]

DIALOGS: list[tuple[str, str]] = [
    ("enter / escape", "the safe choice (listed first, focused)"),
    ("1-9", "pick a choice by its number; y / n in a yes-or-no dialog"),
    ("down, j, space", "scroll the facts; a risky choice waits until you saw them all"),
    ("typed word", "a destructive choice asks you to type the database name (or what "
                   "you give up) first"),
]

TROUBLE = """\
Cannot connect: t, then "Cannot connect" (pg_isready, DNS, port, login, slots).
A step failed: its summary and evidence say why (tab to the right pane to scroll them);
  r reopens it, enter runs it again. Nothing is lost: the journal keeps every run.
The app looks stuck on a step: it is waiting for a lock or a long statement. m shows the
  lock tree; c cancels the step (asks first).
Data looks missing, or everything is slow: t, then the matching tree.
To look for yourself: P opens psql on the target (the password stays in its environment).
Every change is journaled (fsync'd); after a crash or a dropped SSH connection the session
resumes where it stood."""


class NchatApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "nchat-tui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("m", "dashboard", "Monitor", show=False),
        Binding("t", "troubleshoot", "Troubleshoot", show=False),
        Binding("P", "psql", "psql", show=False),
        Binding("w", "where", "Files", show=False),
        *[Binding(k, f"open_phase_n({i})", f"Phase {k}", show=False)
          for k, i in PHASE_KEYS.items()],
    ]

    def __init__(self, session: SessionLike, monitor: Any = None, workload: Any = None,
                 resume: bool = True, connect_error: str | None = None) -> None:
        super().__init__()
        self.session = session
        self.monitor = monitor
        self.workload = workload
        self.resume = resume
        self.connect_error = connect_error
        """Why the target could not be reached at start (the app opens on troubleshooting)."""
        self.sub_title = session.target.masked()
        self._held: list[tuple[str, dict[str, Any]]] = []

    def get_driver_class(self) -> type[Driver]:
        return quiet_driver_class(super().get_driver_class())

    def on_mount(self) -> None:
        self.call_after_refresh(resume_gc)  # the start is over (nchat_tui.quickstart)
        self.push_screen(HomeScreen())
        self.screen_change_signal.subscribe(self, self._screen_changed)
        cl = self.session.checklist
        if self.connect_error:
            self.open_troubleshooting("connection", note=self.connect_error)
        elif self.resume and cl.resumed_from:
            phase, step = cl.resume_point()
            self.open_phase(phase, step)
            last = self.session.journal.records()[-1]
            self.notify(f"Resumed session {self.session.journal.session_id}: last change "
                        f"{last.get('ts', '?')[:19]} by {last.get('user', '?')}", timeout=8)
        interrupted = [k for k, s in cl.states.items() if s.state == "interrupted"]
        if interrupted:
            self.notify("Interrupted while running: " + ", ".join(
                cl.path.step(k).title for k in interrupted) + ". Re-run them (enter).",
                severity="warning", timeout=12)
        if not self.connect_error:
            self.check_leftovers()
        risk = ssh_without_multiplexer(os.environ)
        if risk:
            self.notify(risk, severity="warning", timeout=15)
        if self.session.journal.damaged:
            self.notify(f"The journal has {len(self.session.journal.damaged)} damaged line(s) "
                        "(a crash cut a write); they were skipped.", severity="warning", timeout=12)

    # -- toasts never cover a dialog ------------------------------------------------------
    def notify(self, message: str, **kwargs: Any) -> None:
        """A toast, held back while a dialog is open (it would cover the dialog's text or its
        choices) and shown once the dialog closes."""
        if isinstance(self.screen, ModalScreen):
            self._held.append((message, kwargs))
            return
        super().notify(message, **kwargs)

    def _screen_changed(self, screen: Screen[Any]) -> None:
        if isinstance(screen, ModalScreen):
            # toasts already up would cover the dialog: take them down, show them after it
            for n in list(self._notifications):
                self._held.append((n.message, {"title": n.title, "severity": n.severity,
                                               "timeout": n.timeout}))
            self.clear_notifications()
            return
        if not self._held:
            return
        held, self._held = self._held, []
        for message, kwargs in held:
            super().notify(message, **kwargs)

    # -- what an interrupted run left -----------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="leftovers",
          description="looking for what an interrupted run left behind")
    def check_leftovers(self) -> None:
        try:
            notes = self.session.start_up_notices()
        except NchatError as exc:
            notes = [f"What an interrupted run left could not be settled: {exc.one_line()}"]
        if notes:
            self.call_from_thread(self.notify, "\n".join(notes), severity="error", timeout=30)
        found = self.session.leftovers()
        if not found:
            return
        lines = "\n".join(f"  {lo.reason}: " + ", ".join(
            [str(p) for p in lo.paths] + ([f"database {lo.database}"] if lo.database else []))
            for lo in found[:8])

        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_leftovers(found)

        self.call_from_thread(self.push_screen, ConfirmModal(
            f"An interrupted run left these behind:\n{lines}\nRemove them now? Nothing else "
            "is touched; the choice is journaled.", yes="Remove them", no="Keep them",
            title="Leftovers of an interrupted run"), answered)

    @work(thread=True, exit_on_error=False, group="leftovers", description="removing leftovers")
    def remove_leftovers(self, found: list[Any]) -> None:
        removed = self.session.remove_leftovers(found)
        self.call_from_thread(self.notify, f"Removed {len(removed)} leftover(s).", timeout=8)

    # -- hooks for other screens ----------------------------------------------------------
    def compose_monitor_panel(self) -> Iterator[Widget]:
        """The compact monitor panel on every phase screen, when a monitor is available."""
        if self.monitor is None:
            return
        from nchat_tui.screens.widgets.monitor_panel import (  # noqa: PLC0415 - not at app start
            MonitorPanel,
        )
        yield MonitorPanel(self.monitor)

    def open_phase(self, phase_id: str, step: str | None = None) -> None:
        # One phase screen on top of home at a time; never one that would stop a running step.
        for screen in self.phase_screens():
            if screen.phase_id == phase_id and screen is self.screen:
                return  # already here
            if screen.refuse_leaving():
                return
        while len(self.screen_stack) > 2:
            self.pop_screen()
        from nchat_tui.screens.phase import PhaseScreen  # noqa: PLC0415 - see PHASE_MODULE

        self.push_screen(PhaseScreen(phase_id, step))

    def phase_screens(self) -> list[PhaseScreen]:
        """The phase screens on the stack, bottom first (none before the first phase opens:
        the module is not loaded until then)."""
        module = sys.modules.get(PHASE_MODULE)
        if module is None:
            return []
        return [s for s in self.screen_stack if isinstance(s, module.PhaseScreen)]

    def running_steps(self) -> list[str]:
        return [t for s in self.phase_screens() for t in s.running_titles()]

    def current_phase_title(self) -> str:
        """The phase the operator is in (the nearest phase screen), for prompts and journals."""
        for screen in reversed(self.phase_screens()):
            return str(screen.phase.title)
        return "home"

    async def action_quit(self) -> None:
        running = self.running_steps()
        if not running:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmModal(
            f"'{running[0]}' is still running. Quitting cancels it: a backup's partial file is "
            "removed; a migration stops between files (a file commits with its ledger rows or "
            "not at all; a non-transactional one stops between statements, each journaled). "
            "The journal keeps what ran.\nQuit anyway?", yes="Quit and cancel it", no="Stay",
            title="Quit while a step runs"), answered)

    # -- actions --------------------------------------------------------------------------
    def action_open_phase_n(self, n: int) -> None:
        phases = self.session.path.phases
        if n < len(phases):
            self.open_phase(phases[n].id)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, ModalScreen):
            return
        own = screen.help_sections() if hasattr(screen, "help_sections") else \
            [(f"{type(screen).__name__.removesuffix('Screen')} keys", _keys_of(screen))]
        name = getattr(screen, "HELP_TITLE", type(screen).__name__.removesuffix("Screen"))
        self.push_screen(HelpModal(f"Help: {name}", [
            *own, ("Anywhere", ANYWHERE), ("In a dialog", DIALOGS),
            ("When something goes wrong", TROUBLE)]))

    def action_dashboard(self) -> None:
        from nchat_tui.screens.dashboard import DashboardScreen  # noqa: PLC0415 - not at app start

        if self.monitor is None:
            self.notify("No monitor connection.", severity="warning")
            return
        self.push_screen(DashboardScreen(self.monitor))

    def action_troubleshoot(self) -> None:
        self.open_troubleshooting()

    def open_troubleshooting(self, tree: str | None = None, note: str | None = None) -> None:
        from nchat_tui.screens.troubleshoot import TroubleshootScreen  # noqa: PLC0415 - not at app start

        self.push_screen(TroubleshootScreen(self.session.target, journal=self.session.journal,
                                            tree=tree, autorun=tree is not None, note=note))

    def action_where(self) -> None:
        """w: the files of this session (report, journal, backups) and how to copy them."""
        from nchat_tui.screens.files import FilesModal  # noqa: PLC0415 - not at app start

        commands: list[str] = []
        phases = self.phase_screens()
        if phases and phases[-1] is self.screen:
            from nchat_tui.upgrade.steps import commands_preview  # noqa: PLC0415 - with the phase

            step = phases[-1].current()
            if step is not None:
                commands = commands_preview(step.action, self.session.target)
        self.push_screen(FilesModal(self.session, commands=commands))

    def action_plan(self) -> None:
        plan = self.session.cache.plan
        if plan is not None:
            from nchat_tui.screens.plan import PlanScreen  # noqa: PLC0415 - pygments: when the plan opens

            self.push_screen(PlanScreen(plan))
            return
        self.notify("Reading the migration plan...", timeout=4)
        self._load_plan()

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan",
          description="reading the migration plan")
    def _load_plan(self) -> None:
        try:
            self.session.plan()
        except NchatError as exc:
            self.call_from_thread(self.notify, f"No plan: {exc.one_line()}",
                                  severity="warning", timeout=8)
            return
        self.call_from_thread(self.action_plan)

    def action_psql(self, query: str | None = None, label: str = "") -> None:
        """P: psql on the target; the app is suspended until psql exits, then comes back to the
        same screen. A troubleshooting screen passes the query to load."""
        from nchat_tui.upgrade.psql_shell import (  # noqa: PLC0415 - not at app start
            prepare_psql,
            run_psql,
            wait_for_enter,
        )

        phase = self.current_phase_title()
        try:
            launch = prepare_psql(self.session.target, phase, query=query, query_label=label)
        except ToolMissing as exc:
            self.notify(f"psql: {exc.one_line()}", severity="error", timeout=10)
            return
        screen = type(self.screen).__name__
        try:
            with self.suspend():
                rc = run_psql(launch, self.session.journal, phase=phase, screen=screen)
                if rc not in (0, -1) and rc is not None:
                    wait_for_enter(f"psql exited with {rc}: press enter to return to nchat-tui")
        except Exception as exc:  # SuspendNotSupported (a web terminal), or the tty went away
            launch.cleanup()
            self.notify(f"psql cannot run here: {exc}", severity="error", timeout=10)
            return
        self.refresh()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for ph in self.session.path.phases:
            yield SystemCommand(f"Open phase: {ph.title}", f"Show the {ph.title} checklist",
                                lambda p=ph.id: self.open_phase(p))
        yield SystemCommand("Help: keys of this screen", "What each key does here, and what "
                            "to do when something goes wrong", self.action_help)
        yield SystemCommand("Monitor dashboard", "Live table sizes, connections, locks",
                            self.action_dashboard)
        from nchat_tui.monitor.troubleshoot import TREES  # noqa: PLC0415 - not at app start
        for name, tree in TREES.items():
            yield SystemCommand(f"Troubleshoot: {tree.title}", tree.description,
                                lambda n=name: self.open_troubleshooting(n))
        yield SystemCommand("Migration plan", "Read the pending files' SQL, locks and lint",
                            self.action_plan)
        yield SystemCommand("Report and files", "Where the report, the journal and the backups "
                            "are, and the commands to copy them", self.action_where)
        yield SystemCommand("psql on the target", "Open psql (the app waits; \\q returns)",
                            self.action_psql)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"{event.worker.description or event.worker.name} failed: "
                        f"{type(err).__name__}: {err}", severity="error", timeout=15)

    def on_unmount(self) -> None:
        if self.workload is not None:
            stop = getattr(self.workload, "stop", None)
            if stop:
                stop()


def _keys_of(screen: Screen[Any]) -> list[tuple[str, str]]:
    """A screen without its own help: its bindings, as the footer would name them."""
    out = []
    for b in getattr(screen, "BINDINGS", []):
        if isinstance(b, Binding) and b.description:
            out.append((b.key_display or b.key.replace(",", " / "), b.description))
    return out


def make_app(session: SessionLike, monitor: Any = None, workload: Any = None,
             resume: bool = True, connect_error: str | None = None) -> NchatApp:
    return NchatApp(session, monitor=monitor, workload=workload, resume=resume,
                    connect_error=connect_error)


def open_session(target: Target, path_id: str | None = None,
                 new_session: bool = False) -> UpgradeSession:
    """The session the app opens: first what a killed run left half-done is settled (an
    unfinished restore swap would otherwise keep even the connection check out; what was done
    goes into the start-up notice), then the connection is checked. When the target cannot be
    reached the session still opens, with ``connect_error`` set: the app then starts on the
    connection troubleshooting instead of dropping the operator back to the shell."""
    status: Status | None = None
    connect_error: str | None = None
    settled: list[str] = []
    try:
        settled = recover_on_start(target, reconcile_runs=False)
        status = gather_status(target)
    except ConnectError as exc:
        connect_error = exc.one_line()
    session = UpgradeSession(target, path_id=path_id, new=new_session, status=status)
    session.settled_at_start = settled
    session.connect_error = connect_error
    if connect_error:
        session.journal.append("connect_failed", error=connect_error)
    return session


def prepare_app(target: Target, workload: Any = None, path_id: str | None = None,
                new_session: bool = False) -> NchatApp:
    """The app for ``target``, ready to run (``open_session``, the monitor, the screens)."""
    session = open_session(target, path_id, new_session)
    connect_error = session.connect_error
    monitor = None
    try:
        from nchat_tui.monitor.sampler import Monitor  # noqa: PLC0415 - not at app start

        monitor = Monitor(target, journal=session.journal)
    except Exception:  # the monitor is optional: the checklist must still work without it
        monitor = None
    return make_app(session, monitor=monitor, workload=workload, connect_error=connect_error)


def run_app(target: Target, workload: Any = None, path_id: str | None = None,
            new_session: bool = False) -> int:
    """Open the app on ``target`` (``nchat-tui``, ``nchat-tui demo``). Exit code 2 when the
    target was never reached while the app ran."""
    app = prepare_app(target, workload=workload, path_id=path_id, new_session=new_session)
    app.run()
    if app.monitor is not None and hasattr(app.monitor, "close"):
        app.monitor.close()
    return 0 if app.session.status_loaded else 2
