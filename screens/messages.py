"""Messages the screens' workers post (past tense: they report what happened)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class BannerLoaded(Message):
    status: dict[str, Any]
    """What nchat_tui.status.gather_status returned."""


@dataclass
class BannerFailed(Message):
    message: str
    """One line naming what went wrong (never a secret)."""


@dataclass
class StepChanged(Message):
    key: str
    """The step (phase.step) whose state changed."""
