"""Issue 11's friction list, each fixed item pinned: one dialog convention, dialogs sized to their
facts, help per screen, a footer that fits 80 columns, evidence in words, the session's files
and how to copy them, toasts that never cover a dialog, what a tool step runs, steps the tool
can check itself, troubleshooting when the target cannot be reached, the command palette."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Button
from textual.widgets._footer import FooterKey

from nchat_tui.screens.app import make_app
from nchat_tui.screens.dialogs.modals import ConfirmModal, HelpModal, QuestionModal
from nchat_tui.screens.home import HomeScreen
from nchat_tui.screens.phase import PhaseScreen
from tests.fakes import FakeSession
from tests.pilot_util import current_key

APP_CSS = str(Path(__file__).resolve().parent.parent / "screens" / "app.tcss")

LONG_FACTS = ("Apply 4 file(s), 140 statement(s), to postgres@db.example.internal:5432/nchat:\n"
              + "\n".join(f"  01{n}_file.sql" for n in range(3, 7))
              + "\nLocks on existing tables (the app's queries on them wait while each is "
              "held):\n" + "\n".join(f"  ACCESS EXCLUSIVE on nchat_table_{n} (~{n * 1000:,} "
                                     "rows, 1.2 GiB)" for n in range(14))
              + "\nEach file commits with its ledger rows, or not at all.")


async def until(cond: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


class DialogApp(App[None]):
    CSS_PATH = APP_CSS

    def __init__(self, dialog: Any) -> None:
        super().__init__()
        self.dialog = dialog
        self.result: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.result.append)


def run_question(default: str = "no") -> QuestionModal:
    return QuestionModal("Run the production migration", LONG_FACTS,
                         [("run", "Run it now"), ("no", "Not now")], default=default)


# -- one dialog convention -------------------------------------------------------------------
@pytest.mark.parametrize("key", ["enter", "escape", "1", "n"])
async def test_enter_escape_1_and_n_all_take_the_safe_choice(key: str) -> None:
    app = DialogApp(QuestionModal("Run the down migrations", "Revert 4 file(s).",
                                  [("run", "Run them"), ("no", "Not now")], default="no"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert [k for k, _ in app.dialog.choices] == ["no", "run"]  # safe first, whatever order
        assert app.focused is not None and app.focused.id == "choice-no"
        await pilot.press(key)
        await pilot.pause()
    assert app.result == ["no"]


async def test_confirm_dialogs_follow_the_same_convention() -> None:
    app = DialogApp(ConfirmModal("Remove them?", yes="Remove them", no="Keep them"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        labels = [str(b.label) for b in app.dialog.query(Button)]
        assert labels[0].startswith("Keep them") and "enter" in labels[0]
        await pilot.press("y")
        await pilot.pause()
    assert app.result == [True]


async def test_at_60x20_the_run_choice_waits_until_the_facts_were_read() -> None:
    app = DialogApp(run_question())
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await pilot.pause()
        d: QuestionModal = app.dialog
        assert isinstance(d, QuestionModal)
        assert d.gated, "the facts do not fit 60x20: the run choice must wait"
        assert d.query_one("#choice-run", Button).disabled
        assert d.region.height <= 20 and d.region.width <= 60
        await pilot.press("2")  # refused: not read yet
        await pilot.press("y")
        await pilot.pause()
        assert app.result == [] and app.screen is d
        await pilot.press("end")
        await pilot.pause()
        assert not d.gated and not d.query_one("#choice-run", Button).disabled
        await pilot.press("2")
        await pilot.pause()
    assert app.result == ["run"]


async def test_at_200x50_the_dialog_is_sized_to_its_facts_without_a_scrollbar() -> None:
    app = DialogApp(run_question())
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.pause()
        d = app.dialog
        facts = d.query_one(".facts")
        assert not d.gated and facts.max_scroll_y == 0
        longest = max(len(line) for line in LONG_FACTS.splitlines())
        dialog = d.query_one(".choice-dialog")
        assert longest + 4 <= dialog.region.width <= longest + 12, dialog.region


# -- help -------------------------------------------------------------------------------------
def plain(help_modal: HelpModal) -> str:
    from rich.console import Console

    from nchat_tui.screens.dialogs.modals import help_text

    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(help_text(help_modal.sections))
    return console.export_text()


async def test_help_is_per_screen_scrollable_and_complete(tmp_path: Path) -> None:
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert await until(lambda: isinstance(app.screen, HelpModal), 5)
        home_help = app.screen
        assert isinstance(home_help, HelpModal)
        home_text = plain(home_help)
        assert "Help: home" in str(home_help.query_one(".dialog-title").render())
        facts = home_help.query_one(".facts")
        assert facts.max_scroll_y > 0  # longer than 80x24 allows: it scrolls
        await pilot.press("pagedown")
        await pilot.pause()
        assert facts.scroll_y > 0
        await pilot.press("escape", "2")
        await pilot.pause()
        await pilot.press("question_mark")
        assert await until(lambda: isinstance(app.screen, HelpModal), 5)
        phase_modal = app.screen
        assert isinstance(phase_modal, HelpModal)
        phase_help = plain(phase_modal)
    rendered = home_text + phase_help
    for key in ("tab", "g", "m", "t", "P", "w", "ctrl+p", "1-4", "c", "v", "o"):
        assert any(line.strip().startswith(key) for line in rendered.splitlines()), key
    assert "Cannot connect" in rendered and "psql" in rendered
    assert phase_help != home_text


# -- the footer fits 80 columns ---------------------------------------------------------------
async def test_the_footer_is_never_cut_at_80_columns(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    app = make_app(session)

    def fits() -> list[str]:
        keys = list(app.screen.query(FooterKey))
        palette = [k for k in keys if k.has_class("-command-palette")]
        edge = palette[0].region.x if palette else 80
        return [f"{k.key} ends at {k.region.right} > {edge}" for k in keys
                if k not in palette and k.region.right > edge]

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert fits() == [], "home"
        for n, phase in enumerate(session.path.phases, 1):
            await pilot.press(str(n))
            await pilot.pause()
            for step in phase.steps:
                screen = app.screen
                assert isinstance(screen, PhaseScreen)
                while current_key(screen) != step.key:
                    await pilot.press("j")
                await pilot.pause()
                assert fits() == [], step.key


# -- evidence, files, toasts -------------------------------------------------------------------
async def test_the_backup_step_reads_in_words_and_w_shows_the_files_whole(tmp_path: Path) -> None:
    from nchat_tui.screens.files import FilesModal

    session = FakeSession(tmp_path)
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("1")
        await pilot.pause()
        screen = app.screen
        while current_key(screen) != "pre.backup":
            await pilot.press("j")
        detail = str(screen.query_one("#detail-text").render())
        assert "pg_dump -Fc" in detail and "PGPASSWORD=(set, never shown)" in detail
        assert "hunter2" not in detail
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = str(screen.query_one("#detail-text").render())
        assert "212.4 MiB" in detail and "222717542" not in detail and "True" not in detail
        for line in detail.splitlines():  # a file name is never cut in two
            if "nchat_20261122_030000" in line:
                assert "nchat_20261122_030000.dump" in line or ".manifest.json" in line, line
        session.save_report("test")
        await pilot.press("w")
        assert await until(lambda: isinstance(app.screen, FilesModal), 5)
        text = str(app.screen.query_one("#files-text").render())
    report = str(session.journal.path.parent / "report.md")
    assert any(line.rstrip().endswith(report) for line in text.splitlines())
    assert any("scp" in line and report in line for line in text.splitlines())
    assert "nchat-tui report --output -" in text


async def test_a_toast_waits_while_a_dialog_is_open(tmp_path: Path) -> None:
    app = make_app(FakeSession(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.notify("A toast shown before the dialog opens")
        await pilot.pause()
        seen: list[Any] = []
        app.push_screen(ConfirmModal("Remove them?"), seen.append)
        await pilot.pause()
        assert len(app._notifications) == 0  # taken down while the dialog is open
        await pilot.pause()
        before = len(app._notifications)
        app.notify("Phase complete: the report is saved.")
        await pilot.pause()
        assert len(app._notifications) == before  # held back: it would cover the dialog
        await pilot.press("escape")
        await pilot.pause()
        assert len(app._notifications) == before + 2  # both shown once the dialog closed


# -- steps the tool can check itself -------------------------------------------------------
def test_maintenance_off_is_skipped_with_maintenance_on_and_reopened_with_it(tmp_path: Path
                                                                               ) -> None:
    s = FakeSession(tmp_path)
    cl = s.checklist
    cl.skip("migration.maintenance-on", "additive migrations")
    st = cl.state("migration.maintenance-off")
    assert st.state == "skipped" and "was skipped" in st.summary
    cl.reset("migration.maintenance-on", "we use it after all")
    assert cl.state("migration.maintenance-off").state == "pending"
    assert s.path.step("rollback.verify-rollback").kind == "auto"  # the tool checks it


# -- an unreachable target opens troubleshooting ---------------------------------------------
def test_an_unreachable_target_still_opens_the_app(tmp_path: Path) -> None:
    import socket

    from nchat_tui.pg.target import resolve_target
    from nchat_tui.screens.app import prepare_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    target = resolve_target(dsn=f"host=127.0.0.1 port={port} dbname=nchat user=postgres "
                            "password=hunter2-secret connect_timeout=2",
                            state_dir=tmp_path / "state", environ={})
    app = prepare_app(target)
    assert app.connect_error and "hunter2" not in app.connect_error
    assert app.session.journal.last("connect_failed") is not None


async def test_the_app_opens_on_the_connection_troubleshooting(tmp_path: Path) -> None:
    from nchat_tui.screens.troubleshoot import TroubleshootScreen

    app = make_app(FakeSession(tmp_path), connect_error="connection refused at 127.0.0.1:1")
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(lambda: isinstance(app.screen, TroubleshootScreen), 5)
        screen = app.screen
        assert isinstance(screen, TroubleshootScreen)
        assert screen.tree_name == "connection" and screen.autorun
        assert "connection refused" in str(screen.query_one("#ts-title").render())
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


def test_the_palette_offers_troubleshooting_the_plan_the_report_and_psql(tmp_path: Path) -> None:
    app = make_app(FakeSession(tmp_path))
    titles = [c.title for c in app.get_system_commands(HomeScreen())]
    for want in ("Troubleshoot: Cannot connect", "Troubleshoot: Everything is slow",
                 "Migration plan", "Report and files", "psql on the target"):
        assert want in titles, titles


# -- what a tool step runs, shown before it runs ----------------------------------------------
def test_the_commands_shown_before_a_backup_are_the_ones_it_runs(target: Any) -> None:
    """The preview and the commands a real backup journals agree, flag for flag (only the
    snapshot id and the time in the file name are unknown beforehand)."""
    import re

    from nchat_tui.backup.engine import run_backup
    from nchat_tui.state.journal import Journal
    from nchat_tui.upgrade.steps import commands_preview

    preview = commands_preview("backup", target)
    j = Journal.for_target(target.state_dir, target.masked())
    run_backup(target, journal=j)
    ran = [r["argv"] for r in j.records() if r.get("event") == "command_run"]
    assert len(ran) >= 3, ran

    def pattern(line: str) -> str:
        cmd = line.split("  ", 1)[0].strip()  # the explanation follows two spaces
        return "^" + ".+".join(re.escape(p) for p in re.split(r"<[^>]*>", cmd)) + "$"

    for line, argv in zip(preview[:3], ran[:3], strict=True):
        assert re.match(pattern(line), " ".join(argv)), (line, argv)
    env = preview[-1]
    assert "PGPASSWORD=(set, never shown)" in env and "test-secret-pw" not in " ".join(preview)


async def test_a_second_step_does_not_start_while_one_runs(tmp_path: Path) -> None:
    """Enter on another step while one runs used to queue it behind the first, unseen, with
    the first one's progress shown under it."""
    import threading

    from nchat_tui.upgrade.actions import Progress
    from nchat_tui.upgrade.checklist import StepResult

    session = FakeSession(tmp_path)
    started, release = threading.Event(), threading.Event()

    def slow(ctx):
        started.set()
        ctx.progress(Progress(0.5, "dumping public.nchat_messages"))
        release.wait(10)
        return StepResult("ok", "done")

    session.scripts["connect"] = slow
    app = make_app(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("1", "enter")
        assert await until(started.is_set, 10)
        screen = app.screen
        await pilot.press("j", "j", "enter")  # Verify version: refused while connect runs
        await pilot.pause()
        assert session.executed == ["connect"]
        assert session.checklist.state("pre.ledger").state == "pending"
        assert not screen.query_one("#progress").display  # connect's progress stays with it
        await pilot.press("k", "k")
        assert await until(lambda: "nchat_messages" in str(
            screen.query_one("#progress-text").render()), 5)
        release.set()
        await app.workers.wait_for_complete()


async def test_home_says_unknown_when_the_pending_files_cannot_be_listed(tmp_path: Path) -> None:
    session = FakeSession(tmp_path)
    session.status = dataclasses.replace(
        session.status, pending=[], pending_known=False, pending_files=[],
        pending_unknown="no migrations directory (give --migrations or --backend-dir)")
    app = make_app(session, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(app.screen.query_one("#pending").render())
    assert "Pending migrations: unknown (no migrations directory" in text
    assert "Pending migrations: 0" not in text
