"""Where this session's files are, and how to copy them (the ``w`` key).

Every path is shown whole on one line (never wrapped mid-name: the dialog scrolls sideways
when the terminal is narrower), with the command that copies it from the operator's own
machine. ``o`` prints the same on the plain terminal, where a long line wraps as the terminal
wraps it and copies whole; ``r`` writes the report now.
"""

from __future__ import annotations

import os
import socket
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from nchat_tui.upgrade.contract import SessionFiles, SessionLike


def copy_command(path: str) -> str:
    """What to run on the operator's machine to fetch ``path`` from this host."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "root"
    return f"scp '{user}@{socket.gethostname()}:{path}' ."


def files_lines(files: SessionFiles) -> list[tuple[str, str]]:
    """(label, value) rows: each file and its copy command."""
    rows: list[tuple[str, str]] = []
    rep = files.report
    rows.append(("Report", rep + ("" if files.report_written else
                                  "   (not written yet: r writes it now)")))
    rows.append(("  copy", copy_command(rep)))
    rows.append(("  print", "nchat-tui report --output -"))
    rows.append(("Journal", files.journal))
    rows.append(("  copy", copy_command(files.journal)))
    if files.backup:
        rows.append(("Backup", files.backup))
        rows.append(("  copy", copy_command(files.backup)))
    rows.append(("Backups in", files.backup_dir))
    return rows


class FilesModal(ModalScreen[None]):
    """The session's files. Escape closes; r writes the report now; o prints on the terminal."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,w", "close", "Close"),
        Binding("r", "write_report", "Write the report now"),
        Binding("o", "print_out", "Print on the terminal"),
        Binding("left,h", "scroll_side(-8)", "Scroll left", show=False),
        Binding("right,l", "scroll_side(8)", "Scroll right", show=False),
    ]

    def __init__(self, session: SessionLike, commands: list[str] | None = None) -> None:
        super().__init__(classes="modal")
        self.session = session
        self.commands = commands or []
        """The selected step's commands, shown whole (the phase screen shortens their paths)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog files"):
            yield Label(f"Files of session {self.session.journal.session_id}",
                        classes="dialog-title")
            with ScrollableContainer(classes="paths"):
                yield Static("", id="files-text")
            yield Static("r writes the report now · o prints these lines on the terminal "
                         "(to copy over SSH) · left/right scroll · escape closes",
                         classes="help-foot")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        rows = files_lines(self.session.files())
        rows += [("Runs" if n == 0 else "", c) for n, c in enumerate(self.commands)]
        width = max(len(label) for label, _ in rows)
        t = Text(no_wrap=True, overflow="ignore")
        for label, value in rows:
            t.append(f"{label:<{width}}  ", style="bold")
            t.append(value + "\n")
        self.query_one("#files-text", Static).update(t)
        longest = max(len(v) for _, v in rows) + width + 2
        self.query_one("#files-text", Static).styles.width = longest
        screen_w = self.app.size.width
        self.query_one(".files", Vertical).styles.width = max(40, min(longest + 8, screen_w - 2))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_side(self, cols: int) -> None:
        self.query_one(".paths", ScrollableContainer).scroll_relative(x=cols, animate=False)

    def action_write_report(self) -> None:
        path = self.session.save_report("asked for (w, r)")
        self._show()
        if path is None:
            self.query_one(".help-foot", Static).update("The report could not be written: "
                                                       "see the journal (report_failed).")

    def action_print_out(self) -> None:
        rows = files_lines(self.session.files())
        try:
            with self.app.suspend():
                print()
                for label, value in rows:
                    print(f"{label.strip():<10} {value}")
                print()
                try:
                    input("press enter to return to nchat-tui ")
                except (EOFError, OSError):
                    pass
        except Exception as exc:  # no terminal to suspend to (a web terminal, a test)
            self.query_one(".help-foot", Static).update(f"Cannot print here: {exc}")
