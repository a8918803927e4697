"""Pilot tests: walking the steps by keys, an override with its reason, resuming from the journal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen

from nchat_tui.screens.app import make_app
from nchat_tui.screens.dialogs.modals import ReasonModal
from nchat_tui.screens.home import HomeScreen
from nchat_tui.screens.phase import PhaseScreen
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.checklist import Checklist, load_path
from tests.fakes import FakeSession
from tests.pilot_util import current_key

SIZE = (80, 24)


async def _until(condition, seconds: float) -> bool:
    """Wait (polling, without blocking the app) until ``condition()`` holds or time runs out."""
    import asyncio

    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


async def test_home_lists_pending_and_opens_a_phase(tmp_path):
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        pending = str(app.screen.query_one("#pending").render())
        assert "016_live_streaming.sql" in pending
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PhaseScreen)
        assert app.screen.phase_id == "pre"


async def test_walk_steps_run_auto_and_confirm_manual(tmp_path):
    session = FakeSession(tmp_path)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PhaseScreen)
        assert current_key(screen) == "pre.connect"
        await pilot.press("enter")  # run the automated connect step
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.checklist.state("pre.connect").state == "ok"
        assert session.executed == ["connect"]
        item = screen.query_one("#step-connect")
        assert item.has_class("-ok")
        await pilot.press("j")  # read-guide (manual)
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"read twice", "enter")
        await pilot.pause()
        st = session.checklist.state("pre.read-guide")
        assert st.state == "ok" and st.note == "read twice"
        await pilot.press("j", "enter")  # ledger
        await app.workers.wait_for_complete()
        await pilot.press("j", "enter")  # pending
        await app.workers.wait_for_complete()
        await pilot.press("j", "enter")  # disk: warn
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.checklist.state("pre.disk").state == "warn"
        assert screen.query_one("#step-disk").has_class("-warn")


async def test_gated_step_needs_override_with_reason(tmp_path):
    session = FakeSession(tmp_path)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PhaseScreen)
        keys = [s.key for s in screen.phase.steps]
        while current_key(screen) != "migration.run":
            await pilot.press("j")
        assert screen.query_one("#step-run").has_class("-gated")
        await pilot.press("enter")  # gated: refused, nothing runs
        await pilot.pause()
        assert session.checklist.state("migration.run").state == "pending"
        assert "migrate" not in session.executed
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"short", "enter")  # too short: stays open
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*" - backup verified by hand, CHG-1234", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ReasonModal)
        assert session.checklist.state("migration.run").override_reason.startswith("short - backup")
        ov = session.journal.last("override")
        assert ov is not None and ov["step"] == "migration.run"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.checklist.state("migration.run").state == "ok"
        assert session.executed[-1] == "migrate"
        assert "migration.run" in keys


async def test_resume_after_restart_lands_on_the_same_step(tmp_path):
    first = FakeSession(tmp_path)
    first.checklist.confirm("pre.read-guide")
    first.checklist.set_position("pre.disk")
    first.checklist.start("pre.connect")  # killed while running
    # a new process: same state dir, same target
    second = FakeSession(tmp_path)
    assert second.journal.path == first.journal.path
    app = make_app(second)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PhaseScreen)
        assert current_key(screen) == "pre.disk"
        assert screen.query_one("#step-read-guide").has_class("-ok")
        assert screen.query_one("#step-connect").has_class("-interrupted")


@pytest.mark.parametrize("key,phase", [("3", "post"), ("4", "rollback")])
async def test_number_keys_open_phases(tmp_path, key, phase):
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, PhaseScreen) and app.screen.phase_id == phase
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


def test_position_is_journaled(tmp_path):
    s = FakeSession(tmp_path)
    s.checklist.set_position("post.smoke")
    cl = Checklist(load_path("v0.4.0"), Journal(s.journal.path))
    assert cl.position == "post.smoke"


async def test_long_step_shows_progress_and_asks_the_operator(tmp_path):
    import threading

    from nchat_tui.screens.dialogs.modals import QuestionModal
    from nchat_tui.upgrade.actions import Progress, Question
    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)
    halfway = threading.Event()
    go_on = threading.Event()

    def slow(ctx):
        ctx.progress(Progress(0.5, "dumping public.nchat_messages"))
        halfway.set()
        go_on.wait(10)
        answer = ctx.decide(Question("Lock wait", "nchat_messages is locked by pid 42",
                                     [("retry", "Retry"), ("stop", "Stop")], default="stop"))
        return StepResult("ok" if answer == "retry" else "failed", f"answered {answer}")

    session.scripts["connect"] = slow
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "enter")
        await _until(lambda: halfway.is_set(), 10)
        assert halfway.is_set(), "the step never started"
        screen = app.screen
        await _until(lambda: "nchat_messages" in str(screen.query_one("#progress-text").render()), 5)
        assert screen.query_one("#progress").display
        assert "nchat_messages" in str(screen.query_one("#progress-text").render())
        assert screen.query_one("#step-connect").has_class("-running")
        go_on.set()
        await _until(lambda: isinstance(app.screen, QuestionModal), 4)
        assert isinstance(app.screen, QuestionModal)
        # the safe choice is listed first (1, enter, escape); the others follow in order
        assert [k for k, _ in app.screen.choices] == ["stop", "retry"]
        await pilot.press("2")  # number keys pick a choice
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.checklist.state("pre.connect").summary == "answered retry"
        dec = session.journal.last("decision")
        assert dec is not None and dec["answer"] == "retry" and dec["asked"] is True


def test_completed_phase_saves_the_report_without_secrets(tmp_path):
    s = FakeSession(tmp_path, path_id="v0.8.0")
    steps = s.path.phase("rollback").steps  # all manual in the application-only upgrade
    for st in steps[:-1]:
        s.checklist.confirm(st.key, "done")
        assert s.step_changed(st.key) is None  # phase not complete yet: no report
    s.checklist.confirm(steps[-1].key)
    path = s.step_changed(steps[-1].key)
    assert path is not None
    text = Path(path).read_text()
    assert "Redeploy the v0.7.0 application" in text
    assert "hunter2-secret" not in text
    assert s.journal.last("report_saved") is not None


async def test_leftovers_of_an_interrupted_backup_are_offered_for_removal(tmp_path):
    from nchat_tui.backup.engine import Leftover
    from nchat_tui.screens.dialogs.modals import ConfirmModal

    session = FakeSession(tmp_path)
    lo = Leftover([tmp_path / "nchat_20261122_030000.partial"], "interrupted backup (pid 4242)")
    session.fake_leftovers = [lo]
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert "interrupted backup" in str(app.screen.question)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.removed == [lo]
        assert session.journal.last("leftovers_removed") is not None


async def test_pressing_the_open_phase_again_keeps_the_screen(tmp_path):
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "3", "4")  # quick switches: no duplicate screen ids
        await pilot.pause(0.2)
        current = app.screen
        assert isinstance(current, PhaseScreen) and current.phase_id == "rollback"
        await pilot.press("4")  # the phase already open: the same screen stays, nothing rebuilt
        await pilot.pause()
        assert app.screen is current
        assert len(app.screen_stack) == 3


async def test_a_running_step_keeps_its_screen_and_quit_asks_first(tmp_path):
    import threading

    from nchat_tui.screens.dialogs.modals import ConfirmModal
    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)
    started, release = threading.Event(), threading.Event()

    def slow(ctx):
        started.set()
        while not release.is_set() and not ctx.cancel.is_set():
            release.wait(0.02)
        return StepResult("failed" if ctx.cancel.is_set() else "ok",
                          "cancelled" if ctx.cancel.is_set() else "done")

    session.scripts["connect"] = slow
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "enter")
        await _until(lambda: started.is_set(), 10)
        assert started.is_set()
        screen = app.screen
        assert isinstance(screen, PhaseScreen)
        phase = screen
        # Escape and the other phases' keys would unmount the screen and stop the step: refused.
        await pilot.press("escape", "2")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert phase.running_titles() == ["Connect, check server version"]
        # Quit asks; "Stay" keeps it running.
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert app.screen is screen and app.is_running
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert session.checklist.state("pre.connect").state == "ok"
        assert phase.running_titles() == []
        await pilot.press("escape")  # nothing runs any more: leaving is fine
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_closing_the_app_on_an_open_question_is_not_the_operators_choice(tmp_path):

    from nchat_tui.screens.dialogs.modals import QuestionModal
    from nchat_tui.upgrade.actions import Question
    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)

    def decide(ctx):
        answer = ctx.decide(Question("Choose the way back", "down or restore?",
                                     [("down", "Down"), ("none", "No rollback")], default="none"))
        return StepResult("warn" if answer == "none" else "ok", f"the operator chose {answer}")

    session.scripts["connect"] = decide
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "enter")
        await _until(lambda: isinstance(app.screen, QuestionModal), 6)
        assert isinstance(app.screen, QuestionModal)
        app.exit()  # a dropped SSH session closes the app with the question still open
        await pilot.pause(0.2)
    await _until(lambda: session.checklist.state("pre.connect").state != "running", 4)
    st = session.checklist.state("pre.connect")
    assert st.state == "failed", st
    assert "the app closed while 'Choose the way back' waited" in st.summary
    dec = session.journal.last("decision")
    assert dec is not None and dec["asked"] is False and "unanswered" in dec


def test_ssh_without_tmux_is_warned_about() -> None:
    from nchat_tui.upgrade.session import ssh_without_multiplexer

    over_ssh = {"SSH_CONNECTION": "10.0.0.9 52314 10.0.0.2 22"}
    assert ssh_without_multiplexer({}) is None
    assert "tmux or screen" in (ssh_without_multiplexer(over_ssh) or "")
    assert ssh_without_multiplexer({**over_ssh, "TMUX": "/tmp/tmux-0/default,1,0"}) is None
    assert ssh_without_multiplexer({**over_ssh, "STY": "1234.pts-0.box"}) is None


async def test_the_ssh_warning_shows_on_start(tmp_path, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.9 52314 10.0.0.2 22")
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("without tmux or screen" in str(n.message) for n in app._notifications)


async def test_double_enter_runs_a_step_once_and_escape_right_after_stays(tmp_path):
    import asyncio
    import threading

    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)
    calls: list[int] = []
    release = threading.Event()

    def slow(ctx):
        calls.append(1)
        release.wait(10)
        return StepResult("ok", "done")

    session.scripts["connect"] = slow
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        screen = app.screen
        await pilot.press("enter", "enter", "escape")  # no pause: before the worker starts
        await pilot.pause(0.3)
        assert app.screen is screen  # the step counts as running from the key press on
        release.set()
        await app.workers.wait_for_complete()
        await asyncio.sleep(0.1)
    assert calls == [1]
    assert session.checklist.state("pre.connect").state == "ok"


async def test_a_question_after_the_app_closed_does_not_hang_the_step(tmp_path):
    import threading

    from nchat_tui.upgrade.actions import Question
    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)
    started, finished = threading.Event(), threading.Event()

    def late_question(ctx):
        started.set()
        ctx.cancel.wait(10)  # the app closes while the step runs...
        answer = ctx.decide(Question("Lock wait", "blocked by pid 42",  # ...then it asks
                                     [("retry", "Retry"), ("stop", "Stop")], default="stop"))
        finished.set()
        return StepResult("failed", f"stopped ({answer})")

    session.scripts["connect"] = late_question
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "enter")
        await _until(lambda: started.is_set(), 6)
        app.exit()
        await pilot.pause(0.1)
    await _until(lambda: finished.is_set(), 5)
    assert finished.is_set(), "the worker hung on a question nobody can see"
    # the step function has returned; the worker records its result just after that
    await _until(lambda: session.checklist.state("pre.connect").state != "running", 5)
    st = session.checklist.state("pre.connect")
    assert st.state == "failed" and "waited for an answer" in st.summary


async def test_the_app_exiting_while_a_dialog_mounts_raises_nothing():
    """A dropped SSH session can close the app just as a running step opens a question."""
    from textual.app import App

    from nchat_tui.screens.dialogs.modals import (
        ConfirmModal,
        QuestionModal,
        ReasonModal,
        TypeToConfirmModal,
    )
    from nchat_tui.screens.dialogs.monitor import ActionConfirmModal, TypePidModal

    dialogs: list[Callable[[], Screen[Any]]] = [
        lambda: QuestionModal("Lock wait", "blocked", [("retry", "Retry"), ("stop", "Stop")],
                              default="stop"),
        lambda: ConfirmModal("Remove it?"),
        lambda: ReasonModal("Skip", "Why?"),
        lambda: TypeToConfirmModal("Restore over nchat?", "nchat"),
        lambda: ActionConfirmModal("Cancel", "Cancel pid 42?"),
        lambda: TypePidModal(42, "Terminate?")]
    for make in dialogs:
        app: App[None] = App()
        async with app.run_test():
            app.push_screen(make())
            app.exit()  # before the dialog's mount has run
