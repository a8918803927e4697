"""nchat_tui.quickstart: the collector paused while an app starts, resumed by the app."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nchat_tui import quickstart


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    was = gc.isenabled()
    yield
    quickstart._gc_paused_by_us = False
    gc.unfreeze()
    if was:
        gc.enable()


def test_paused_while_starting_and_resumed_by_the_app_with_the_start_frozen() -> None:
    gc.unfreeze()
    with quickstart.gc_paused():
        assert not gc.isenabled()
        quickstart.resume_gc()  # the app, after its first paint
        assert gc.isenabled() and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        quickstart.resume_gc()  # a second call changes nothing
        assert gc.get_freeze_count() == frozen
    assert gc.isenabled()


def test_the_end_of_the_block_resumes_when_the_app_never_painted() -> None:
    with pytest.raises(RuntimeError), quickstart.gc_paused():
        raise RuntimeError("the app failed to start")
    assert gc.isenabled()


def test_resume_is_a_no_op_unless_paused_by_the_launcher() -> None:
    """Tests run the apps under Pilot without a launcher: nothing is frozen or changed."""
    gc.unfreeze()
    quickstart.resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # someone else turned it off: the block leaves it as it found it
    with quickstart.gc_paused():
        pass
    assert not gc.isenabled()
