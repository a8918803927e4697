"""Snapshot tests of the screens and dialogs, with frozen figures (80x24 unless the size is the
point: a dialog at 60x20 and at 200x50). Every input's cursor blink is off, so a snapshot
never catches the cursor half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input

from nchat_tui.screens.app import make_app
from nchat_tui.state import journal as journal_mod
from nchat_tui.upgrade.checklist import StepResult
from tests.fakes import FakeSession

SIZE = (80, 24)
APP_CSS = str(Path(__file__).resolve().parent.parent / "screens" / "app.tcss")


@pytest.fixture(autouse=True)
def _frozen_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "now_iso", lambda: "2026-11-22T03:00:00.000+00:00")
    monkeypatch.setattr(journal_mod, "os_user", lambda: "oncall")


def _app(tmp_path: Path, path_id: str = "v0.4.0"):
    return make_app(FakeSession(tmp_path / "state", path_id=path_id), resume=False)


async def _settle(pilot) -> None:
    """Wait for the workers, freeze every input's cursor, let the screen repaint."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for screen in pilot.app.screen_stack:
        for inp in screen.query(Input):
            inp.cursor_blink = False
    await pilot.pause()


def _run(*keys: str):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await _settle(pilot)

    return run_before


class TestHome:
    """The home screen: target banner, ledger, pending migrations, phases."""

    def test_home(self, snap_compare, tmp_path):
        assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=_run())

    def test_home_v080(self, snap_compare, tmp_path):
        """v0.8.0 changes no schema: nothing pending, and the home screen says so."""
        assert snap_compare(_app(tmp_path, "v0.8.0"), terminal_size=SIZE, run_before=_run())

    def test_home_after_a_rollback(self, snap_compare, tmp_path):
        """The migration's steps the rollback undid are counted, not shown as done."""
        app = _app(tmp_path)
        cl = app.session.checklist
        for key in ("migration.run", "migration.record", "migration.no-pending"):
            if cl.open_gates(key):
                cl.override(key, "snapshot: the gates are not the point")
            cl.start(key)
            cl.finish(key, StepResult("ok", "done"))
        cl.override("rollback.restore", "snapshot: the decision is not the point")
        cl.start("rollback.restore")
        cl.finish("rollback.restore", app.session.execute("rollback"))
        assert snap_compare(app, terminal_size=SIZE, run_before=_run())


class TestPhases:
    """Each phase screen, with a few steps done so every state shows."""

    @pytest.mark.parametrize("key", ["1", "2", "3", "4"])
    def test_phase(self, snap_compare, tmp_path, key):
        app = _app(tmp_path)
        cl = app.session.checklist
        cl.confirm("pre.read-guide", "read")
        for k, st in (("pre.connect", "connect"), ("pre.disk", "disk_space")):
            cl.start(k)
            cl.finish(k, app.session.execute(st))
        cl.start("pre.ledger")  # left running: shows as running
        assert snap_compare(app, terminal_size=SIZE, run_before=_run(key))

    def test_evidence_in_words(self, snap_compare, tmp_path):
        """The backup step done: sizes, times and paths as an operator reads them."""
        app = _app(tmp_path)
        cl = app.session.checklist
        cl.start("pre.backup")
        cl.finish("pre.backup", app.session.execute("backup"))
        assert snap_compare(app, terminal_size=SIZE,
                            run_before=_run("1", "j", "j", "j", "j", "j"))

    def test_override_dialog(self, snap_compare, tmp_path):
        assert snap_compare(_app(tmp_path), terminal_size=SIZE,
                            run_before=_run("2", "j", "j", "j", "o"))


class TestPlan:
    """The plan viewer: SQL with syntax colour, locks and lint per statement (no database)."""

    def test_plan_screen(self, snap_compare):
        from nchat_tui.migrate.plan import FilePlan, Plan, analyse_sql
        from nchat_tui.screens.plan import PlanScreen

        sql = ("ALTER TABLE nchat_messages ADD COLUMN is_encrypted BOOLEAN NOT NULL DEFAULT FALSE;\n"
               "CREATE INDEX idx_messages_sender ON nchat_messages(sender_device_id);\n")
        a = analyse_sql(sql)
        fp = FilePlan(file="014_e2ee_system.sql", version=14, path="/m/014_e2ee_system.sql",
                      checksum="ab" * 32, txn_mode=a.txn_mode, txn_explanation=a.txn_explanation,
                      statements=a.statements, findings=[f for s in a.statements for f in s.findings],
                      strongest_lock="ACCESS EXCLUSIVE")
        plan = Plan(direction="up", ledger_kind="go", files=[fp])

        class PlanApp(App[None]):
            CSS_PATH = APP_CSS

            def on_mount(self) -> None:
                self.push_screen(PlanScreen(plan))

        assert snap_compare(PlanApp(), terminal_size=SIZE)


LOCK_TEXT = ("014_e2ee_system.sql statement 12 (line 88) gave up after 5 s waiting for a lock "
             "(attempt 1).\nBlocked by:\n" + "\n".join(
                 f"  pid {4100 + i} nchat-api (10.0.0.{i}) idle in transaction for {30 + i} s: "
                 "UPDATE nchat_messages SET is_pinned = true WHERE id = $1" for i in range(8))
             + "\nThe file was rolled back and will re-run from its start.")

RUN_TEXT = ("Apply 4 file(s), 140 statement(s), to postgres@db.example.internal:5432/nchat:\n"
            "  013_e2ee_system.sql\n  014_e2ee_system.sql\n  015_voice_calls.sql\n"
            "  016_live_streaming.sql\n"
            "Locks on existing tables (the app's queries on them wait while each is held):\n"
            "  ACCESS EXCLUSIVE on nchat_messages (~2,684,354 rows, 2.5 GiB)\n"
            "  ACCESS EXCLUSIVE on nchat_channels (~300 rows, 360.0 KiB)\n"
            "  SHARE ROW EXCLUSIVE on nchat_users (~5,000 rows, 2.3 MiB)\n"
            "Time: the rehearsal ran them in 12.0 s on a scratch copy of the backup, with no "
            "other sessions: a floor, not a promise. Here, 9 statement(s) lock an existing "
            "table and each may wait up to 5 s for its lock before you are asked: up to about "
            "57 s before any question.\n"
            "Each file commits with its ledger rows, or not at all.")


def _dialog_app(dialog_factory):
    class DialogApp(App[None]):
        CSS_PATH = APP_CSS

        def on_mount(self) -> None:
            self.push_screen(dialog_factory())

    return DialogApp()


class TestDialogs:
    """The one dialog convention: the safe choice first; sized to the facts; a risky choice
    waits until the facts were scrolled to their end."""

    def test_lock_wait_question(self, snap_compare):
        from nchat_tui.screens.dialogs.modals import QuestionModal

        app = _dialog_app(lambda: QuestionModal(
            "Lock wait", LOCK_TEXT,
            [("retry", "Retry"), ("wait_longer", "Wait longer"),
             ("cancel_blocker", "Cancel blocker"), ("terminate_blocker", "Terminate blocker"),
             ("stop", "Stop")], default="stop", danger=("terminate_blocker",),
            confirm_word="4100"))
        assert snap_compare(app, terminal_size=SIZE, run_before=_run())

    @pytest.mark.parametrize("size", [(60, 20), (200, 50)])
    def test_production_run_confirmation(self, snap_compare, size):
        from nchat_tui.screens.dialogs.modals import QuestionModal

        app = _dialog_app(lambda: QuestionModal(
            "Run the production migration", RUN_TEXT, [("run", "Run it now"), ("no", "Not now")],
            default="no"))
        assert snap_compare(app, terminal_size=size, run_before=_run())

    def test_help_on_a_phase(self, snap_compare, tmp_path):
        assert snap_compare(_app(tmp_path), terminal_size=SIZE,
                            run_before=_run("2", "question_mark"))
