"""Confirmation dialogs of the monitor's guarded actions: cancel (confirm), terminate (type
the pid), and the second confirmation for superuser and replication sessions.

They only ask; the core (``nchat_tui.monitor.sampler``) checks and journals the action.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

MODAL_CSS = """
ActionConfirmModal, TypePidModal { align: center middle; }
ActionConfirmModal > Vertical, TypePidModal > Vertical {
    width: 68; max-width: 95%; height: auto; padding: 1 2;
    border: thick $warning; background: $surface;
}
ActionConfirmModal .title, TypePidModal .title { text-style: bold; margin-bottom: 1; }
ActionConfirmModal .question, TypePidModal .question { margin-bottom: 1; }
ActionConfirmModal .buttons { height: auto; align: right middle; }
ActionConfirmModal .buttons Button { margin-left: 2; }
TypePidModal .problem { color: $error; height: auto; }
"""


class ActionConfirmModal(ModalScreen[bool]):
    """Yes or no for one action on one backend. Escape or n answers no; focus starts on No."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape,n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes")]
    AUTO_FOCUS = "#no"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, title: str, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text, self.question, self.yes = title, question, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button("No (n)", id="no", variant="primary")  # the safe choice first
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class TypePidModal(ModalScreen[bool]):
    """Terminating a session: the operator types its pid. Escape cancels."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, pid: int, question: str) -> None:
        super().__init__()
        self.pid, self.question = pid, question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Terminate session {self.pid}", classes="title")
            yield Static(self.question, classes="question")
            yield Input(placeholder=f"type {self.pid} to terminate", id="typed")
            yield Static("", id="problem", classes="problem")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() != str(self.pid):
            self.query_one("#problem", Static).update(
                f"That is not {self.pid}. Type the pid exactly, or Escape to cancel.")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class PlanModal(ModalScreen[None]):
    """A query plan to read (the safe EXPLAIN of the monitor core). Escape closes."""

    DEFAULT_CSS = """
    PlanModal { align: center middle; }
    PlanModal > Vertical {
        width: 96%; height: 90%; padding: 0 1; border: thick $primary; background: $surface;
    }
    PlanModal .title { text-style: bold; height: auto; }
    PlanModal VerticalScroll { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, plan: str) -> None:
        super().__init__()
        self.title_text, self.plan = title, plan

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            with VerticalScroll():
                yield Static(self.plan, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
