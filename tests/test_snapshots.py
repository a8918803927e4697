"""Snapshot tests of the home screen and each phase screen at 80x24, with frozen figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App

from nchat_tui import journal as journal_mod
from nchat_tui.screens.app import make_app
from tests.fakes import FakeSession

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def _frozen_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "now_iso", lambda: "2026-11-22T03:00:00.000+00:00")
    monkeypatch.setattr(journal_mod, "os_user", lambda: "oncall")


def _app(tmp_path: Path, path_id: str = "v0.4.0"):
    return make_app(FakeSession(tmp_path / "state", path_id=path_id), resume=False)


class TestHome:
    """The home screen: target banner, ledger, pending migrations, phases."""

    def test_home(self, snap_compare, tmp_path):
        async def run_before(pilot):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

        assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)

    def test_home_v080(self, snap_compare, tmp_path):
        assert snap_compare(_app(tmp_path, "v0.8.0"), terminal_size=SIZE)


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

        async def run_before(pilot):
            await pilot.press(key)
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_override_dialog(self, snap_compare, tmp_path):
        async def run_before(pilot):
            await pilot.press("2")
            for _ in range(3):
                await pilot.press("j")
            await pilot.press("o")
            await pilot.pause()

        assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)


class TestPlan:
    """The plan viewer: SQL with syntax colour, locks and lint per statement (no database)."""

    def test_plan_screen(self, snap_compare):
        from nchat_tui.plan import FilePlan, Plan, analyse_sql
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
            def on_mount(self) -> None:
                self.push_screen(PlanScreen(plan))

        assert snap_compare(PlanApp(), terminal_size=SIZE)


class TestQuestion:
    """A running step's question at 80x24: a long text scrolls, five choices all stay visible."""

    def test_lock_wait_question(self, snap_compare):
        from nchat_tui.screens.modals import QuestionModal

        blockers = "\n".join(
            f"  pid {4100 + i} nchat-api (10.0.0.{i}) idle in transaction for {30 + i} s: "
            "UPDATE nchat_messages SET is_pinned = true WHERE id = $1" for i in range(8))
        text = ("014_e2ee_system.sql statement 12 (line 88) gave up after 5 s waiting for a lock "
                f"(attempt 1).\nBlocked by:\n{blockers}\n"
                "The file was rolled back and will re-run from its start.")

        class QuestionApp(App[None]):
            CSS_PATH = str(Path(__file__).resolve().parent.parent / "screens" / "app.tcss")

            def on_mount(self) -> None:
                self.push_screen(QuestionModal(
                    "Lock wait", text,
                    [("retry", "Retry"), ("wait_longer", "Wait longer"),
                     ("cancel_blocker", "Cancel blocker"), ("terminate_blocker", "Terminate blocker"),
                     ("stop", "Stop")], default="stop", danger=("terminate_blocker",),
                    confirm_word="4100"))

        assert snap_compare(QuestionApp(), terminal_size=SIZE)
