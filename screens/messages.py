"""Messages the screens' workers post (past tense: they report what happened)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from nchat_tui.migrate.status import Status


@dataclass
class BannerLoaded(Message):
    status: Status
    """What nchat_tui.migrate.status.gather_status returned."""


@dataclass
class BannerFailed(Message):
    message: str
    """One line naming what went wrong (never a secret)."""


@dataclass
class StepChanged(Message):
    key: str
    """The step (phase.step) whose state changed."""


@dataclass
class StepProgressed(Message):
    key: str
    """The running step."""
    fraction: float | None
    """0..1, or None when the total is unknown."""
    text: str
    """What is happening now (a table, a statement)."""

    def can_replace(self, message: Message) -> bool:
        # A slow terminal must never build a backlog of progress updates.
        return isinstance(message, StepProgressed) and message.key == self.key
