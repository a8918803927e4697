"""The Textual app: one factory shared by the CLI, the demo and the tests.

``make_app(session)`` builds the app around an ``UpgradeSession`` (real, or the tests' fake);
``run_app(target)`` is what ``nchat-tui`` and ``nchat-tui demo`` call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from nchat_tui.errors import NchatError
from nchat_tui.screens.home import HomeScreen
from nchat_tui.screens.modals import ConfirmModal, HelpModal
from nchat_tui.screens.phase import PhaseScreen
from nchat_tui.session import UpgradeSession, ssh_without_multiplexer
from nchat_tui.target import Target

PHASE_KEYS = {"1": 0, "2": 1, "3": 2, "4": 3}


class NchatApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "nchat-tui"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("m", "dashboard", "Monitor"),
        Binding("t", "troubleshoot", "Troubleshoot", show=False),
        *[Binding(k, f"open_phase_n({i})", f"Phase {k}", show=False)
          for k, i in PHASE_KEYS.items()],
    ]

    def __init__(self, session: UpgradeSession, monitor: Any = None, workload: Any = None,
                 resume: bool = True) -> None:
        super().__init__()
        self.session = session
        self.monitor = monitor
        self.workload = workload
        self.resume = resume
        self.sub_title = session.target.masked()

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        cl = self.session.checklist
        if self.resume and cl.resumed_from:
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
        self.check_leftovers()
        risk = ssh_without_multiplexer(os.environ)
        if risk:
            self.notify(risk, severity="warning", timeout=15)
        if self.session.journal.damaged:
            self.notify(f"The journal has {len(self.session.journal.damaged)} damaged line(s) "
                        "(a crash cut a write); they were skipped.", severity="warning", timeout=12)

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
            f"An interrupted run left these behind:\n{lines}\nRemove them now? (nothing else "
            "is touched; the choice is journaled)", yes="Remove", no="Keep"), answered)

    @work(thread=True, exit_on_error=False, group="leftovers", description="removing leftovers")
    def remove_leftovers(self, found: list[Any]) -> None:
        removed = self.session.remove_leftovers(found)
        self.call_from_thread(self.notify, f"Removed {len(removed)} leftover(s).", timeout=8)

    # -- hooks for other screens ----------------------------------------------------------
    def compose_monitor_panel(self) -> Iterator[Widget]:
        """The compact monitor panel on every phase screen, when a monitor is available."""
        if self.monitor is None:
            return
        try:
            from nchat_tui.screens.monitor_panel import MonitorPanel
        except ImportError:
            return
        yield MonitorPanel(self.monitor)

    def open_phase(self, phase_id: str, step: str | None = None) -> None:
        # One phase screen on top of home at a time; never one that would stop a running step.
        for screen in self.screen_stack:
            if isinstance(screen, PhaseScreen):
                if screen.phase_id == phase_id and screen is self.screen:
                    return  # already here
                if screen.refuse_leaving():
                    return
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(PhaseScreen(phase_id, step))

    def running_steps(self) -> list[str]:
        return [t for s in self.screen_stack if isinstance(s, PhaseScreen)
                for t in s.running_titles()]

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
            "The journal keeps what ran.\nQuit anyway?", yes="Quit and cancel it", no="Stay"), answered)

    # -- actions --------------------------------------------------------------------------
    def action_open_phase_n(self, n: int) -> None:
        phases = self.session.path.phases
        if n < len(phases):
            self.open_phase(phases[n].id)

    def action_help(self) -> None:
        self.push_screen(HelpModal())

    def action_dashboard(self) -> None:
        try:
            from nchat_tui.screens.dashboard import DashboardScreen
        except ImportError:
            self.notify("The monitor dashboard is not available in this build.", severity="warning")
            return
        if self.monitor is None:
            self.notify("No monitor connection.", severity="warning")
            return
        self.push_screen(DashboardScreen(self.monitor))

    def action_troubleshoot(self) -> None:
        try:
            from nchat_tui.screens.troubleshoot import TroubleshootScreen
        except ImportError:
            self.notify("Troubleshooting is not available in this build.", severity="warning")
            return
        self.push_screen(TroubleshootScreen(self.session.target))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for ph in self.session.path.phases:
            yield SystemCommand(f"Open phase: {ph.title}", f"Show the {ph.title} checklist",
                                lambda p=ph.id: self.open_phase(p))
        yield SystemCommand("Help: keys", "Show the key bindings", self.action_help)
        yield SystemCommand("Monitor dashboard", "Live table sizes, connections, locks",
                            self.action_dashboard)

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


def make_app(session: UpgradeSession, monitor: Any = None, workload: Any = None,
             resume: bool = True) -> NchatApp:
    return NchatApp(session, monitor=monitor, workload=workload, resume=resume)


def open_session(target: Target, path_id: str | None = None,
                 new_session: bool = False) -> UpgradeSession:
    """The session ``run_app`` opens: first what a killed run left half-done is settled (an
    unfinished restore swap would otherwise keep even the connection check out; what was done
    goes into the start-up notice), then the connection is checked (a bad target is one line,
    exit 2, before any screen)."""
    from nchat_tui.recovery import recover_on_start
    from nchat_tui.status import gather_status

    settled = recover_on_start(target, reconcile_runs=False)
    status = gather_status(target)  # raises ConnectError (exit 2) before the screen opens
    session = UpgradeSession(target, path_id=path_id, new=new_session, status=status)
    session.settled_at_start = settled
    return session


def run_app(target: Target, workload: Any = None, path_id: str | None = None,
            new_session: bool = False) -> int:
    """Open the app on ``target`` (``open_session``, then the screens)."""
    session = open_session(target, path_id, new_session)
    monitor = None
    try:
        from nchat_tui.monitor import Monitor

        monitor = Monitor(target, journal=session.journal)
    except Exception:  # the monitor is optional: the checklist must still work without it
        monitor = None
    app = make_app(session, monitor=monitor, workload=workload)
    app.run()
    if monitor is not None and hasattr(monitor, "close"):
        monitor.close()
    return 0
