"""Typed helpers for the app's pilot tests."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from nchat_tui.screens.phase import PhaseScreen


def current_key(screen: Screen[Any]) -> str:
    """The key of the step a phase screen highlights (it must be a phase screen with one)."""
    assert isinstance(screen, PhaseScreen), screen
    cur = screen.current()
    assert cur is not None, "no step highlighted"
    return cur.key
