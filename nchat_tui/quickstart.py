"""A quick start for the interactive apps: the cyclic garbage collector paused while they start.

The launchers (``nchat-tui``, ``monitor --tui``, ``demo``) pause the collector while Textual
and the screens import and the first screen is built: two full collections cost 25 to 30 ms
there, before the operator sees anything. The app resumes it once its first data is on the
screen: one full collection of the start's garbage, then what the start built is frozen (it
lives as long as the app), so later full collections walk only what came after. Nothing
here imports Textual: the pause must begin before it loads.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_gc_paused_by_us = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for an app's start (the launcher's import of it and
    its run); ``resume_gc`` (the app, after its first paint) or the end of the block resumes
    it. Only a launcher that runs the app in this process uses it, never the tests."""
    global _gc_paused_by_us
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _gc_paused_by_us = True
    try:
        yield
    finally:
        resume_gc()


def resume_gc() -> None:
    """Resume the collector if ``gc_paused`` paused it (a no-op otherwise, as under tests):
    collect the start's garbage, freeze what is left (it lives as long as the app: full
    collections then walk only what came after), and collect again from then on."""
    global _gc_paused_by_us
    if _gc_paused_by_us:
        _gc_paused_by_us = False
        gc.collect()  # the start's own garbage first: frozen, it would never be freed
        gc.freeze()
        gc.enable()
