"""A phase of the upgrade: its steps with their state, the selected step's guide and evidence.

Step state is a CSS class on the list item (``-ok``, ``-failed``...), the stylesheet colours it.
Automated steps run in a thread worker; the screen only renders what the session reports.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, ListItem, ListView, ProgressBar, Static

from nchat_tui.report.evidence import render as render_evidence
from nchat_tui.report.evidence import shorten_path
from nchat_tui.screens.dialogs.modals import ConfirmModal, QuestionModal, ReasonModal
from nchat_tui.screens.messages import StepChanged, StepProgressed
from nchat_tui.upgrade.actions import DefaultAnswer, Progress, Question
from nchat_tui.upgrade.checklist import STATES, ChecklistError, StepDef, StepState
from nchat_tui.upgrade.steps import commands_preview

if TYPE_CHECKING:
    from nchat_tui.screens.app import NchatApp

ICONS = {"pending": "·", "running": "»", "ok": "✔", "warn": "!", "failed": "✘",
         "skipped": "↷", "interrupted": "⚡"}


class StepItem(ListItem):
    """One step in the list; its state is a CSS class."""

    def __init__(self, step: StepDef) -> None:
        super().__init__(id=f"step-{step.id}")
        self.step = step

    def compose(self) -> ComposeResult:
        yield Label("", classes="step-label")

    def show(self, st: StepState, gated: bool) -> None:
        for s in STATES:
            self.set_class(st.state == s, f"-{s}")
        self.set_class(gated, "-gated")
        lock = "⊘ " if gated else ""
        self.query_one(Label).update(
            Text(f"{ICONS[st.state]} {lock}{self.step.title}", no_wrap=True, overflow="ellipsis"))


class PhaseScreen(Screen[None]):
    # The footer shows only what applies to the selected step (check_action), so it fits 80
    # columns; ? lists every key.
    BINDINGS = [
        Binding("escape", "back", "Back", show=False),
        # priority: the step list's own enter would hide this one from the footer
        Binding("enter", "run", "Run", show=True, priority=True),
        Binding("space", "confirm", "Confirm"),
        Binding("o", "override", "Override"),
        Binding("s", "skip", "Skip"),
        Binding("r", "reopen", "Reopen"),
        Binding("c", "cancel_step", "Cancel run"),
        Binding("v", "view", "Plan"),
        Binding("j", "down", "Down", show=False),
        Binding("k", "up", "Up", show=False),
    ]
    HELP_TITLE = "a phase's checklist"

    def __init__(self, phase_id: str, focus_step: str | None = None) -> None:
        # No fixed id: a popped phase screen is removed asynchronously, and the next one for
        # the same phase must never collide with it.
        super().__init__(classes=f"phase-{phase_id}")
        self.phase_id = phase_id
        self.focus_step = focus_step
        self._position_timer: Any = None
        self._cancel: dict[str, threading.Event] = {}
        self._waiting: set[threading.Event] = set()
        self._progress: dict[str, tuple[float | None, str]] = {}
        """The last progress of each running step (shown when that step is selected)."""
        self._closed = False

    @property
    def nchat(self) -> NchatApp:
        return self.app  # type: ignore[return-value]

    @property
    def phase(self) -> Any:
        return self.nchat.session.path.phase(self.phase_id)

    def compose(self) -> ComposeResult:
        yield Static("", id="phase-title")
        with Horizontal(id="phase-body"):
            yield ListView(*[StepItem(s) for s in self.phase.steps], id="steps")
            with VerticalScroll(id="detail"):
                with Vertical(id="progress"):
                    yield Static("", id="progress-text")
                    yield ProgressBar(id="progress-bar", show_eta=False)
                yield Static("", id="detail-text")
        yield from self.nchat.compose_monitor_panel()
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_all()
        lv = self.query_one("#steps", ListView)
        keys = [s.key for s in self.phase.steps]
        if self.focus_step in keys:
            lv.index = keys.index(self.focus_step)
        else:
            nxt = self.nchat.session.checklist.next_step(self.phase_id)
            lv.index = keys.index(nxt) if nxt in keys else 0
        lv.focus()

    # -- rendering ------------------------------------------------------------------------
    def refresh_all(self) -> None:
        cl = self.nchat.session.checklist
        done, total = cl.phase_progress(self.phase_id)
        title = Text.assemble((self.phase.title, "bold"), f" · {done}/{total} done · ",
                              (self.nchat.session.path.title, "dim"))
        title.no_wrap, title.overflow = True, "ellipsis"
        self.query_one("#phase-title", Static).update(title)
        for item in self.query(StepItem):
            item.show(cl.state(item.step.key), cl.is_blocked(item.step.key))
        self.show_detail()

    def current(self) -> StepDef | None:
        lv = self.query_one("#steps", ListView)
        item = lv.highlighted_child
        return item.step if isinstance(item, StepItem) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do nothing for the selected step stay out of the footer."""
        if action not in ("confirm", "override", "skip", "reopen", "cancel_step", "view", "run"):
            return True
        if not self.is_mounted or not self.query("#steps"):
            return True
        step = self.current()
        if action == "cancel_step":
            return any(not ev.is_set() for ev in self._cancel.values())
        if action == "view":
            return self.nchat.session.cache.plan is not None or any(
                s.action == "plan" for s in self.phase.steps)
        if step is None:
            return False
        cl = self.nchat.session.checklist
        st = cl.state(step.key).state
        if action == "run":  # enter: runs an automated step, confirms a manual one
            return st != "running" and step.key not in self._cancel
        if action == "confirm":
            return step.kind == "manual" and st not in ("ok",)
        if action == "override":
            return bool(cl.open_gates(step.key)) and not cl.state(step.key).override_reason
        if action == "skip":
            return (step.optional or step.kind == "manual") and st in ("pending", "failed",
                                                                     "interrupted")
        if action == "reopen":
            return st not in ("pending", "running")
        return True

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]] | str]]:
        return [("This phase's checklist", [
            ("up / down, j / k", "move between steps"),
            ("enter", "run the selected automated step (a manual one: confirm it)"),
            ("space", "confirm a manual step (asks for an optional note)"),
            ("o", "override a closed gate (asks for a reason, journaled with your name)"),
            ("s", "skip an optional step (asks why)"),
            ("r", "reopen a done step, to run it again (what relied on it reopens too)"),
            ("c", "cancel the running step (asks first; journaled)"),
            ("v", "read the migration plan: SQL, locks, lint (n / N jump between warnings)"),
            ("tab", "focus the right pane: up / down / page keys scroll the step's evidence"),
            ("escape", "back to the phases (refused while a step runs: c cancels it)"),
        ]), ("What the marks mean", "✔ done   ! done with a warning   ✘ failed   » running\n"
             "· to do   ↷ skipped   ⚡ interrupted by a crash   ⊘ gated (o overrides)")]

    def show_detail(self) -> None:
        self.refresh_bindings()
        step = self.current()
        running = step is not None and step.key in self._cancel
        self.query_one("#progress").display = running
        if running and step is not None:
            self._show_progress(step.key)
        box = self.query_one("#detail-text", Static)
        if step is None:
            box.update("")
            return
        cl = self.nchat.session.checklist
        st = cl.state(step.key)
        state = "running" if running else st.state
        t = Text()
        t.append(step.title + "\n", style="bold")
        kind = ("automated check: enter runs it" if step.kind == "auto"
                else "manual: space confirms it")
        t.append(f"{state.upper()}", style=f"bold {_state_style(state)}")
        t.append(f" · {kind}{' (optional)' if step.optional else ''}\n")
        if st.summary and not running:
            t.append(st.summary + "\n")
        if st.by and st.state != "pending" and not running:
            when = (st.at or "")[:19].replace("T", " ")
            t.append(f"by {st.by}, {when} UTC\n", style="dim")
        if st.note and not st.summary.endswith(st.note):
            t.append(f"note: {st.note}\n")
        gates = cl.open_gates(step.key)
        if gates:
            titles = ", ".join(cl.path.step(g).title for g in gates)
            if st.override_reason:
                t.append(f"gate overridden: {st.override_reason}\n", style="yellow")
            else:
                t.append(f"gated by: {titles} (o to override)\n", style="yellow")
        width = max(20, self.query_one("#detail").size.width - 2)
        commands = commands_preview(step.action, self.nchat.session.target)
        if commands and st.state in ("pending", "failed", "interrupted", "running"):
            t.append("\nWhat it runs", style="bold")
            t.append("  (w shows it whole)\n", style="dim")
            # a long path is shortened in its middle, never cut inside a file name
            t.append("\n".join(" ".join(shorten_path(w, width) for w in c.split(" "))
                               for c in commands) + "\n")
        ev = render_evidence(st.evidence, width=width) if not running else ""
        if ev:
            t.append("\nEvidence", style="bold")
            t.append("  (tab, then up / down scrolls; w shows whole paths)\n", style="dim")
            t.append(ev + "\n")
        if step.guide:
            t.append("\nThe guide says\n", style="bold")
            t.append(reflow(step.guide) + "\n", style="italic")
        if step.guide_differs:
            t.append("\nWhere the guide differs from the real system\n", style="bold yellow")
            t.append(reflow(step.guide_differs) + "\n")
        box.update(t)

    @on(ListView.Highlighted, "#steps")
    def _highlighted(self, _: ListView.Highlighted) -> None:
        self.show_detail()
        # Journal the position once the operator settles, not on every key repeat.
        if self._position_timer is not None:
            self._position_timer.stop()
        self._position_timer = self.set_timer(0.6, self._save_position)

    def _save_position(self) -> None:
        step = self.current()
        if step:
            self.nchat.session.checklist.set_position(step.key)

    @on(ListView.Selected, "#steps")
    def _selected(self, _: ListView.Selected) -> None:
        self.action_run()

    @on(StepChanged)
    def _changed(self, msg: StepChanged) -> None:
        self.refresh_all()
        self._after_change(msg.key)

    def _after_change(self, key: str) -> None:
        saved = self.nchat.session.step_changed(key)
        if saved:
            what = "Rollback recorded" if self.nchat.session.path.step(key).undoes else \
                "Phase complete"
            self.notify(f"{what}: the report is saved (w shows where, and how to copy it).",
                        timeout=10)

    # -- actions --------------------------------------------------------------------------
    def _guarded(self, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except ChecklistError as exc:
            self.notify(str(exc), severity="warning", timeout=6)
            return False
        self.refresh_all()
        if args and isinstance(args[0], str):
            self._after_change(args[0])
        return True

    def action_run(self) -> None:
        step = self.current()
        if step is None:
            return
        if step.kind == "manual":
            self.action_confirm()
            return
        cl = self.nchat.session.checklist
        if cl.is_blocked(step.key):
            self.notify("This step is gated: complete "
                        + ", ".join(cl.path.step(g).title for g in cl.open_gates(step.key))
                        + " first, or press o to override with a reason.",
                        severity="warning", timeout=6)
            return
        if cl.state(step.key).state == "running" or step.key in self._cancel:
            return  # already running (a double enter must not start it twice)
        others = self.running_titles()
        if others:  # one at a time: the second would only queue behind the first, unseen
            self.notify(f"'{others[0]}' is running: wait for it to finish, or press c to "
                        "cancel it.", severity="warning", timeout=6)
            return
        # Registered here, on the UI thread, before the worker starts: from this moment Escape,
        # the phase keys and quit know the step runs, however late the worker gets going.
        cancel = self._cancel[step.key] = threading.Event()
        self._mark_running(step.key)
        self.show_detail()
        self.run_step(step.key, cancel)

    @work(thread=True, exclusive=False, exit_on_error=False, group="steps",
          description="running a checklist step")
    def run_step(self, key: str, cancel: threading.Event) -> None:
        session = self.nchat.session

        def progress(p: Progress) -> None:
            self.post_message(StepProgressed(key, p.fraction, p.text))

        try:
            session.run_step(key, progress=progress, ask=self._ask_from_thread, cancel=cancel)
        except ChecklistError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
        finally:
            self._cancel.pop(key, None)
            self._progress.pop(key, None)
        self.post_message(StepChanged(key))

    def _ask_from_thread(self, q: Question) -> str:
        """Put a question to the operator from a worker thread and wait for the answer."""
        answered = threading.Event()
        answer: list[str] = [DefaultAnswer(q.default)]  # kept if the screen closes first
        if self._closed:
            return answer[0]
        self._waiting.add(answered)

        def done(choice: str | None) -> None:
            answer[0] = choice or q.default
            answered.set()

        try:
            self.app.call_from_thread(self.app.push_screen, QuestionModal(
                q.title, q.text, q.choices, q.default, q.danger, q.confirm_word), done)
            # Never wait on a screen that is gone: the worker must end (and release, say, the
            # migration lock) when the app closes, whenever its question came.
            while not answered.wait(0.5) and not self._closed:
                pass
        except RuntimeError:  # the app is no longer running
            pass
        finally:
            self._waiting.discard(answered)
        return answer[0]

    def on_unmount(self) -> None:
        # The app is closing while a step waits on the operator: answer with the safe default
        # (and ask the step to stop) so the worker thread can end.
        self._closed = True
        for ev in list(self._cancel.values()):
            ev.set()
        for ev in list(self._waiting):
            ev.set()

    @on(StepProgressed)
    def _progressed(self, msg: StepProgressed) -> None:
        self._progress[msg.key] = (msg.fraction, msg.text)
        step = self.current()
        if step is not None and step.key == msg.key:
            self._show_progress(msg.key)

    def _show_progress(self, key: str) -> None:
        """The progress box shows the selected step's progress, never another step's."""
        fraction, text = self._progress.get(key, (None, "starting…"))
        self.query_one("#progress").display = True
        self.query_one("#progress-text", Static).update(text)
        bar = self.query_one("#progress-bar", ProgressBar)
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=1000, progress=int(fraction * 1000))

    def running_titles(self) -> list[str]:
        """Titles of the steps running on this screen (their workers live with the screen)."""
        return [self.nchat.session.path.step(k).title
                for k, ev in list(self._cancel.items()) if not ev.is_set()]

    def refuse_leaving(self) -> bool:
        """Leaving would stop a running step: say so and stay, unless nothing runs."""
        running = self.running_titles()
        if running:
            self.notify(f"'{running[0]}' is running: wait for it to finish, or press c to "
                        "cancel it first.", severity="warning", timeout=6)
        return bool(running)

    def action_back(self) -> None:
        if not self.refuse_leaving():
            self.app.pop_screen()

    def action_cancel_step(self) -> None:
        running = [k for k in self._cancel if not self._cancel[k].is_set()]
        if not running:
            self.notify("Nothing is running.", timeout=3)
            return
        key = running[0]

        def done(yes: bool | None) -> None:
            if not yes:
                return
            ev = self._cancel.get(key)
            if ev is None:
                self.notify("It had already finished: nothing to cancel (its result is "
                            "shown).", timeout=6)
                return
            self.nchat.session.request_cancel(key, ev)
            self.notify("Cancelling: the child process is stopped and its partial "
                        "output removed.", timeout=6)

        self.app.push_screen(ConfirmModal(
            f"Cancel '{self.nchat.session.path.step(key).title}' while it runs?",
            yes="Cancel it", no="Keep running"), done)
    def _mark_running(self, key: str) -> None:
        for item in self.query(StepItem):
            if item.step.key == key:
                item.show(StepState(state="running"), False)

    def action_confirm(self) -> None:
        step = self.current()
        if step is None:
            return
        if step.kind != "manual":
            self.notify("Automated step: press enter to run it.", timeout=4)
            return
        cl = self.nchat.session.checklist
        if cl.is_blocked(step.key):
            self._guarded(cl.confirm, step.key, None)  # reports the gate
            return

        def done(note: str | None) -> None:
            if note is not None:
                self._guarded(cl.confirm, step.key, note or None)

        self.app.push_screen(ReasonModal(
            f"Confirm: {step.title}", "Optional note for the journal (enter to confirm, "
            "escape to cancel):", min_length=0), done)

    def action_override(self) -> None:
        step = self.current()
        if step is None:
            return
        cl = self.nchat.session.checklist
        if not cl.open_gates(step.key):
            self.notify("Nothing to override: this step's gates are open.", timeout=4)
            return

        def done(reason: str | None) -> None:
            if reason:
                self._guarded(cl.override, step.key, reason)

        gates = ", ".join(cl.path.step(g).title for g in cl.open_gates(step.key))
        self.app.push_screen(ReasonModal(
            "Override a gate", f"'{step.title}' waits for: {gates}.\nWhy is it safe to go on? "
            "The reason is journaled with your name.", min_length=8), done)

    def action_skip(self) -> None:
        step = self.current()
        if step is None:
            return
        cl = self.nchat.session.checklist

        def done(reason: str | None) -> None:
            if reason:
                self._guarded(cl.skip, step.key, reason)

        self.app.push_screen(ReasonModal(f"Skip: {step.title}", "Why skip it?", min_length=3),
                             done)

    def action_reopen(self) -> None:
        step = self.current()
        if step is None:
            return
        cl = self.nchat.session.checklist
        if cl.state(step.key).state in ("pending", "running"):
            return
        self._guarded(cl.reset, step.key, "by the operator (r)")

    def action_view(self) -> None:
        """v: read the migration plan (SQL with syntax colour, locks, lint)."""
        plan = self.nchat.session.cache.plan
        if plan is None:
            self.notify("No plan yet: run 'Review the migration SQL' first (enter).", timeout=5)
            return
        from nchat_tui.screens.plan import PlanScreen  # noqa: PLC0415 - pygments: when the plan opens

        self.app.push_screen(PlanScreen(plan))

    def action_down(self) -> None:
        self.query_one("#steps", ListView).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#steps", ListView).action_cursor_up()


def reflow(text: str) -> str:
    """Join the lines a checklist's prose was wrapped at in its TOML file, so the pane wraps
    it at its own width (no sentence broken after three words); commands and SQL lines, short
    or ending in punctuation, keep their own lines."""
    out: list[str] = []
    for line in text.splitlines():
        prev = out[-1].rstrip() if out else ""
        if len(prev) >= 40 and not prev.endswith((":", ";", ".", "?", "!")) \
                and line[:1].islower():
            out[-1] = f"{prev} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out)


def _state_style(state: str) -> str:
    return {"ok": "green", "warn": "yellow", "failed": "red", "interrupted": "red",
            "running": "cyan", "skipped": "dim"}.get(state, "")
