"""Generic modal dialogs: confirm, ask for a reason, type a name to confirm, help."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmModal(ModalScreen[bool]):
    """Yes/no. Escape or n answers no."""

    BINDINGS = [Binding("escape,n", "answer(False)", "No"), Binding("y", "answer(True)", "Yes")]
    AUTO_FOCUS = "#no"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="modal")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")
                yield Button(f"{self.no} (n)", id="no", variant="primary")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ReasonModal(ModalScreen[str | None]):
    """Ask for a typed text (a reason, a note). Escape cancels with None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, title: str, prompt: str, min_length: int = 0, placeholder: str = "") -> None:
        super().__init__(classes="modal")
        self.title_text, self.prompt, self.min_length = title, prompt, min_length
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.prompt, classes="question")
            yield Input(placeholder=self.placeholder, id="reason")
            yield Static("", id="problem", classes="problem")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if len(text) < self.min_length:
            self.query_one("#problem", Static).update(
                f"At least {self.min_length} characters, please: this goes into the journal.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TypeToConfirmModal(ModalScreen[bool]):
    """A destructive step: the operator types the exact word (usually the database name)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, question: str, expected: str) -> None:
        super().__init__(classes="modal")
        self.question, self.expected = question, expected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            yield Label(f"Type {self.expected!r} to go on, escape to cancel:")
            yield Input(id="typed")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() == self.expected)

    def action_cancel(self) -> None:
        self.dismiss(False)


HELP_TEXT = """\
[b]Moving[/b]
  up/down, j/k      move between steps / phases
  enter             open a phase; run an automated step
  escape            back to the previous screen
[b]Steps[/b]
  space             confirm a manual step (asks for an optional note)
  o                 override a closed gate (asks for a reason, journaled)
  s                 skip an optional step (asks for a reason)
  r                 reopen a done step to run it again
  c                 cancel the running step (asks first)
  v                 read the migration plan (SQL, locks, lint)
  1-9 in a question pick that answer
[b]Anywhere[/b]
  1-4               open pre-migration, migration, post-migration, rollback
  m                 monitor dashboard      t  troubleshooting
  ctrl+p            command palette        q  quit (the session resumes next start)

Every change is journaled (fsync'd) and the session resumes where it stood
after a crash or a dropped SSH connection."""


class HelpModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("nchat-tui keys", classes="dialog-title")
            yield Static(HELP_TEXT)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class QuestionModal(ModalScreen[str]):
    """A decision put by a running action (a lock wait, a risky file). Escape = the default."""

    BINDINGS = [Binding("escape", "default", "Default")]

    def __init__(self, title: str, text: str, choices: list[tuple[str, str]], default: str,
                 danger: tuple[str, ...] = (), confirm_word: str | None = None) -> None:
        super().__init__(classes="modal")
        self.title_text, self.text = title, text
        self.choices, self.default = choices, default
        self.danger, self.confirm_word = danger, confirm_word

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog question-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            # A long question (a lock wait's blockers, the migration's locks) scrolls, so the
            # choices stay on screen at 80x24; the choices sit in a grid, never cut off.
            with VerticalScroll(classes="question-scroll"):
                yield Static(self.text, classes="question")
            with Grid(classes="choices"):
                for n, (key, label) in enumerate(self.choices, 1):
                    yield Button(f"{n} {label}", id=f"choice-{key}", compact=True,
                                 variant="error" if key in self.danger else "default")

    def on_mount(self) -> None:
        # query, not query_one: when the app exits while this modal mounts, nothing is there
        for button in self.query(f"#choice-{self.default}").results(Button):
            button.focus()

    def on_key(self, event: Any) -> None:
        # Keyboard first: the number keys pick a choice.
        if event.character and event.character.isdigit():
            n = int(event.character)
            if 1 <= n <= len(self.choices):
                event.stop()
                self.choose(self.choices[n - 1][0])

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.choose((event.button.id or "").removeprefix("choice-"))

    def choose(self, key: str) -> None:
        if key in self.danger and self.confirm_word:
            def typed(ok: bool | None) -> None:
                self.dismiss(key if ok else self.default)

            self.app.push_screen(TypeToConfirmModal(
                f"{dict(self.choices)[key]}: this cannot be undone.", self.confirm_word), typed)
            return
        self.dismiss(key)

    def action_default(self) -> None:
        self.dismiss(self.default)
