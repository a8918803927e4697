"""The app's dialogs, all on one convention, and the help.

One convention for every choice (a confirmation, a running step's question):

- the safe choice is listed first, has the focus, and is what Enter and Escape answer;
- the number keys pick the choices in the order shown (1 is always the safe one); a dialog
  with two choices also takes ``n`` (the safe one) and ``y`` (the other);
- a choice marked dangerous asks the operator to type a word (the database name, or what is
  being given up) before it counts;
- the facts that justify a choice come first and the dialog is sized to them (as wide as its
  longest line allows, as tall as the screen allows); when they do not fit, they scroll, and
  the choices other than the safe one stay disabled until the operator has scrolled to their
  end: nobody runs a migration past lock facts they could not see.

Text entry dialogs (a reason, a note, a typed confirmation): Enter submits, Escape cancels.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

T = TypeVar("T")

SAFE_HINT = "enter"
GATE_HINT = "▼ more below: scroll to its end (j, space) to choose"
"""Shown while a risky choice waits for the facts to be read (enter: the safe one, always)."""
MIN_WIDTH = 44
MAX_WIDTH = 100


class _Facts(VerticalScroll, can_focus=False):
    """The dialog's scrolling facts; the dialog's keys scroll it, the focus stays on a choice."""


class ChoiceDialog(ModalScreen[T], Generic[T]):
    """The one choice dialog (see the module's docstring). Subclasses say what a key means."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "safe", "Safe choice", show=False),
        Binding("down,j", "scroll(1)", "Scroll", show=False),
        Binding("up,k", "scroll(-1)", "Scroll", show=False),
        Binding("pagedown,space", "page(1)", "Page", show=False),
        Binding("pageup", "page(-1)", "Page", show=False),
        Binding("end", "to_end", "End", show=False),
        Binding("left,shift+tab", "app.focus_previous", "Previous", show=False),
        Binding("right,tab", "app.focus_next", "Next", show=False),
    ]
    AUTO_FOCUS = None  # on_mount focuses the safe choice by selector (a closing app finds none)

    def __init__(self, title: str, text: str, choices: list[tuple[str, str]], default: str,
                 danger: tuple[str, ...] = (), confirm_word: str | None = None) -> None:
        super().__init__(classes="modal")
        self.title_text, self.text = title, text
        # the safe choice first, whatever order the caller gave
        self.choices = [c for c in choices if c[0] == default] + \
            [c for c in choices if c[0] != default]
        self.default = default
        self.danger, self.confirm_word = danger, confirm_word
        self.gated = False
        """True while the facts have not been read to their end: only the safe choice works."""
        self._read_to_end = False

    # -- building ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog choice-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with _Facts(classes="facts"):
                yield Static(Text(self.text), classes="question")
            yield Static("", classes="gate-hint")
            with Grid(classes="choices"):
                for n, (key, label) in enumerate(self.choices, 1):
                    keys = [str(n)]
                    if len(self.choices) == 2:
                        keys.append("n" if key == self.default else "y")
                    if key == self.default:
                        keys.append(SAFE_HINT)
                    yield Button(f"{label} ({', '.join(keys)})", id=f"choice-{key}",
                                 compact=True,
                                 variant="error" if key in self.danger else
                                 "primary" if key == self.default else "default")

    def on_mount(self) -> None:
        # query, not query_one: when the app exits while this modal mounts, nothing is there
        for button in self.query(f"#choice-{self.default}").results(Button):
            button.focus()
        self._fit()
        for facts in self.query(_Facts).results(_Facts):
            self.watch(facts, "scroll_y", self._scrolled, init=False)
        self.call_after_refresh(self._check_gate)

    def on_resize(self) -> None:
        self._fit()
        self.call_after_refresh(self._check_gate)

    def _fit(self) -> None:
        """As wide as the longest line of the facts allows, and the facts as tall as the screen
        leaves after the title, the hint and the choices (which must always stay visible)."""
        dialogs = list(self.query(".choice-dialog").results(Vertical))
        if not dialogs:
            return
        dialog = dialogs[0]
        longest = max([len(line) for line in self.text.splitlines()] + [len(self.title_text)]
                      + [sum(len(label) + 12 for _, label in self.choices[:2])])
        screen_w, screen_h = self.app.size
        width = max(min(MIN_WIDTH, screen_w), min(longest + 8, MAX_WIDTH, screen_w - 2))
        dialog.styles.width = width
        inner = max(10, width - 6)  # border and padding

        def lines(text: str) -> int:
            return max(1, -(-len(text) // inner))

        rows = (len(self.choices) + 1) // 2
        # border 2, padding 2, the title and its margin, the hint and its margin, the
        # choices and their margin
        overhead = 2 + 2 + lines(self.title_text) + 1 + lines(GATE_HINT) + 1 + rows + 1
        for facts in self.query(_Facts).results(_Facts):
            facts.styles.max_height = max(2, screen_h - overhead)
        self.call_after_refresh(self._keep_choices_visible)

    def _keep_choices_visible(self) -> None:
        """Should a line wrap more than reckoned, the facts give way: never the choices."""
        dialog = next(iter(self.query(".choice-dialog").results(Vertical)), None)
        grid = next(iter(self.query(".choices").results(Grid)), None)
        facts = next(iter(self.query(_Facts).results(_Facts)), None)
        if dialog is None or grid is None or facts is None:
            return
        over = grid.region.bottom - dialog.content_region.bottom
        if over > 0 and facts.size.height > 2:
            facts.styles.max_height = max(2, facts.size.height - over)
            self.call_after_refresh(self._check_gate)

    # -- the gate on the facts ---------------------------------------------------------------
    def _scrolled(self, _: float) -> None:
        self._check_gate()

    def _check_gate(self) -> None:
        facts = next(iter(self.query(_Facts).results(_Facts)), None)
        if facts is None:
            return
        if facts.max_scroll_y <= 0 or facts.scroll_y >= facts.max_scroll_y:
            self._read_to_end = True  # once seen, scrolling back up does not lock it again
        self.gated = not self._read_to_end
        self._show_gate()

    def _show_gate(self) -> None:
        for key, _label in self.choices:
            if key == self.default:
                continue
            for b in self.query(f"#choice-{key}").results(Button):
                b.disabled = self.gated
        for hint in self.query(".gate-hint").results(Static):
            hint.update(Text(GATE_HINT, style="bold") if self.gated else "")
            hint.display = self.gated

    def action_scroll(self, lines: int) -> None:
        for facts in self.query(_Facts).results(_Facts):
            facts.scroll_relative(y=lines, animate=False)

    def action_page(self, pages: int) -> None:
        for facts in self.query(_Facts).results(_Facts):
            facts.scroll_relative(y=pages * max(1, facts.size.height - 1), animate=False)

    def action_to_end(self) -> None:
        for facts in self.query(_Facts).results(_Facts):
            facts.scroll_end(animate=False)

    # -- answering ---------------------------------------------------------------------------
    def on_key(self, event: Any) -> None:
        ch = event.character or ""
        key: str | None = None
        if ch.isdigit() and 1 <= int(ch) <= len(self.choices):
            key = self.choices[int(ch) - 1][0]
        elif len(self.choices) == 2 and ch in ("y", "n"):
            key = self.default if ch == "n" else self.choices[1][0]
        if key is not None:
            event.stop()
            self.choose(key)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.choose((event.button.id or "").removeprefix("choice-"))

    def choose(self, key: str) -> None:
        if key != self.default and self.gated:
            self.app.bell()
            for hint in self.query(".gate-hint").results(Static):
                hint.set_class(True, "-insist")
            return
        if key in self.danger and self.confirm_word:
            def typed(ok: bool | None) -> None:
                self.answer(key if ok else self.default)

            self.app.push_screen(TypeToConfirmModal(
                f"{self.title_text}: {dict(self.choices)[key]}. This is the choice that "
                "changes the database; typing the word is your confirmation.",
                self.confirm_word), typed)
            return
        self.answer(key)

    def action_safe(self) -> None:
        self.answer(self.default)

    def answer(self, key: str) -> None:
        raise NotImplementedError


class QuestionModal(ChoiceDialog[str]):
    """A decision put by a running action (a lock wait, the production run). Answers the
    chosen key; Escape and Enter (on the focused safe choice) answer the default."""

    def answer(self, key: str) -> None:
        self.dismiss(key)


class ConfirmModal(ChoiceDialog[bool]):
    """Do it, or the safe "no": ``yes`` and ``no`` are the two buttons' labels."""

    def __init__(self, question: str, yes: str = "Yes", no: str = "No",
                 title: str = "Confirm", danger_word: str | None = None) -> None:
        super().__init__(title, question, [("no", no), ("yes", yes)], default="no",
                         danger=("yes",) if danger_word else (), confirm_word=danger_word)
        self.question = question

    def answer(self, key: str) -> None:
        self.dismiss(key == "yes")


class ReasonModal(ModalScreen[str | None]):
    """Ask for a typed text (a reason, a note). Enter submits; Escape cancels with None."""

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
    """A destructive step: the operator types the exact word (usually the database name).
    Enter submits; Escape cancels (the safe answer)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"  # a selector: a modal closed while it mounts finds nothing, no error

    def __init__(self, question: str, expected: str) -> None:
        super().__init__(classes="modal")
        self.question, self.expected = question, expected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            yield Label(f"Type {self.expected!r} and enter to go on; escape cancels:")
            yield Input(id="typed")
            yield Static("", id="problem", classes="problem")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() != self.expected:
            self.query_one("#problem", Static).update(
                f"That is not {self.expected!r}: type it exactly, or escape to cancel.")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class HelpModal(ModalScreen[None]):
    """Help for the screen it was opened on: its keys, the keys that work anywhere, and what
    to do when something goes wrong. Scrolls; escape, q or ? close it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "Close"),
        Binding("down,j", "scroll(1)", "Scroll", show=False),
        Binding("up,k", "scroll(-1)", "Scroll", show=False),
        Binding("pagedown,space", "page(1)", "Page", show=False),
        Binding("pageup", "page(-1)", "Page", show=False),
    ]

    def __init__(self, title: str, sections: list[tuple[str, list[tuple[str, str]] | str]]
                 ) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(self.title_text, classes="dialog-title")
            with _Facts(classes="facts"):
                yield Static(help_text(self.sections), classes="help-text")
            yield Static("j/k, page up/down scroll · escape closes", classes="help-foot")

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        screen_w, screen_h = self.app.size
        for d in self.query(".help").results(Vertical):
            d.styles.width = max(MIN_WIDTH, min(84, screen_w - 2))
        for facts in self.query(_Facts).results(_Facts):
            facts.styles.max_height = max(3, screen_h - 2 - 7)

    def action_scroll(self, lines: int) -> None:
        for facts in self.query(_Facts).results(_Facts):
            facts.scroll_relative(y=lines, animate=False)

    def action_page(self, pages: int) -> None:
        for facts in self.query(_Facts).results(_Facts):
            facts.scroll_relative(y=pages * max(1, facts.size.height - 1), animate=False)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


def help_text(sections: list[tuple[str, list[tuple[str, str]] | str]]) -> Group:
    """Sections of (key, meaning) rows, or of prose: the keys in a fixed column, a long
    meaning wrapping under itself (a hanging indent), never under the keys."""
    parts: list[RenderableType] = []
    for n, (head, body) in enumerate(sections):
        parts.append(Text(("\n" if n else "") + head, style="bold"))
        if isinstance(body, str):
            parts.append(Text(body))
            continue
        grid = Table.grid(padding=(0, 2), pad_edge=True)
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(ratio=1)
        for key, meaning in body:
            grid.add_row(key, meaning)
        parts.append(Padding(grid, (0, 0, 0, 2)))
    return Group(*parts)
