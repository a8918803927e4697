"""Pilot tests of the dashboard: pause, interval, sort, keyed updates and the guarded actions."""

from __future__ import annotations

import copy
from typing import Any

from textual.screen import Screen
from textual.widgets import DataTable

from nchat_tui.errors import Refused
from nchat_tui.screens.dashboard import DashboardScreen
from nchat_tui.screens.monitor_modals import ActionConfirmModal, PlanModal, TypePidModal
from nchat_tui.screens.monitor_panel import MonitorPanel
from tests.monitor_fakes import FakeActions, FakeSampler, dashboard_app


async def _ready(pilot: Any) -> DashboardScreen:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


def _first_column(table: DataTable[Any]) -> list[str]:
    return [table.get_row_at(i)[0].display for i in range(table.row_count)]


async def _select_pid(pilot: Any, screen: DashboardScreen, pid: int) -> None:
    table = screen.query_one("#sessions-table", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(pid)))
    await pilot.pause()


async def test_pause_stops_polling_and_resume_samples_again() -> None:
    sampler = FakeSampler()
    app = dashboard_app(sampler, interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        assert sampler.calls == 1 and screen.samples_taken == 1
        assert screen._timer is not None  # re-armed after the sample
        await pilot.press("p")
        assert screen.paused is True and screen._timer is None
        assert screen.has_class("-paused")
        assert "PAUSED" in str(screen.query_one("#dash-status").render())
        await pilot.press("p")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.paused is False
        assert sampler.calls == 2 and screen.samples_taken == 2
        # the slow size upkeep runs after each delivered sample, never before or inside one
        assert sampler.events == ["sample", "size", "sample", "size"]


async def test_interval_keys() -> None:
    app = dashboard_app(interval=2.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("plus")
        assert screen.interval == 5.0
        await pilot.press("minus", "minus", "minus")
        assert screen.interval == 0.5
        await pilot.press("minus")
        assert screen.interval == 0.5
        assert "every 0.5s" in str(screen.query_one("#dash-status").render())


async def test_hidden_screen_does_not_poll() -> None:
    sampler = FakeSampler()
    app = dashboard_app(sampler, interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.app.push_screen(Screen())
        await pilot.pause()
        assert screen._suspended is True and screen._timer is None
        pilot.app.pop_screen()
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert screen._suspended is False
        assert sampler.calls == 2


async def test_sort_keeps_cursor_on_its_row_and_updates_by_key() -> None:
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("3")
        table = screen.query_one("#tables-table", DataTable)
        assert _first_column(table)[0] == "nchat_messages"  # the sample's size order
        await pilot.press("down")  # cursor on nchat_attachments
        await pilot.press("s")  # by table name, ascending
        assert _first_column(table) == ["nchat_attachments", "nchat_channels",
                                        "nchat_messages", "nchat_reactions", "nchat_users"]
        assert table.coordinate_to_cell_key(table.cursor_coordinate)[0].value == "16420"
        for _ in range(2):
            await pilot.press("s")  # lock, then total size (largest first)
        assert screen.specs["tables"].sort_column == "total"
        assert _first_column(table)[:2] == ["nchat_messages", "nchat_attachments"]
        await pilot.press("r")  # smallest first
        assert _first_column(table)[0] == "nchat_channels"

        # a new sample: one table gone, one changed; rows are updated in place
        s = sampler.sample()
        s["tables"] = [t for t in s["tables"] if t["name"] != "nchat_users"]
        s["tables"][0]["total_bytes"] = 1
        screen.apply_sample(s)
        await pilot.pause()
        assert table.row_count == 4
        assert _first_column(table)[0] == "nchat_messages"  # now the smallest
        assert table.coordinate_to_cell_key(table.cursor_coordinate)[0].value == "16420"


async def test_header_click_sorts() -> None:
    app = dashboard_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", DataTable)
        table.post_message(DataTable.HeaderSelected(table, table.ordered_columns[6].key, 6,
                                                    table.ordered_columns[6].label))
        await pilot.pause()
        assert screen.specs["sessions"].sort_column == "age"
        assert _first_column(table)[0] == "4101"  # the oldest transaction first


async def test_cancel_asks_then_cancels() -> None:
    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4107)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ActionConfirmModal)
        assert "pid 4107" in pilot.app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert pilot.app.screen is screen and actions.calls == []
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert actions.calls == [("cancel", 4107, False)]


async def test_cancel_of_superuser_session_needs_second_confirmation() -> None:
    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4101)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        modal = pilot.app.screen
        assert isinstance(modal, ActionConfirmModal) and "superuser" in modal.question
        await pilot.press("n")
        await pilot.pause()
        assert actions.calls == []
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("y")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert actions.calls == [("cancel", 4101, True)]


async def test_own_session_is_refused_without_a_dialog() -> None:
    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4190)
        await pilot.press("c")
        await pilot.pause()
        assert pilot.app.screen is screen
        assert actions.calls == []
        assert any("own sessions" in n.message for n in pilot.app._notifications)


async def test_terminate_requires_the_typed_pid() -> None:
    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4110)
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(pilot.app.screen, TypePidModal)
        await pilot.press("4", "1", "1", "1", "enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, TypePidModal)  # wrong pid: still asking
        assert actions.calls == []
        inp = pilot.app.screen.query_one("Input")
        inp.value = ""
        await pilot.press("4", "1", "1", "0", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert actions.calls == [("terminate", 4110, False)]


async def test_cancel_from_the_locks_tab_targets_the_blocker() -> None:
    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("2")
        table = screen.query_one("#locks-table", DataTable)
        assert table.coordinate_to_cell_key(table.cursor_coordinate)[0].value == "4101"
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        # 4101 is a superuser session (known from the Sessions rows): second confirmation
        assert isinstance(pilot.app.screen, ActionConfirmModal)
        await pilot.press("y")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert actions.calls == [("cancel", 4101, True)]


async def test_panel_polls_its_sampler() -> None:
    from textual.app import App, ComposeResult

    sampler = FakeSampler()

    class PanelHost(App[None]):
        def compose(self) -> ComposeResult:
            yield MonitorPanel(sampler, interval=30.0)

    async with PanelHost().run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        panel = pilot.app.query_one(MonitorPanel)
        assert sampler.calls == 1 and panel.has_sample
        assert sampler.events == ["sample", "size"]
        assert "lock wait 12s" in str(panel.query_one("#mp-locks").render())


def test_frozen_sample_is_not_mutated() -> None:
    from tests.monitor_fakes import FROZEN_SAMPLE

    before = copy.deepcopy(FROZEN_SAMPLE)
    FakeSampler().sample()["tables"].clear()
    assert before == FROZEN_SAMPLE


async def test_explain_shows_the_plan_or_why_not() -> None:
    class ExplainingActions(FakeActions):
        def explain(self, query: str, analyze: bool = False) -> dict[str, Any]:
            if "$1" in query:
                raise Refused("a statement with $n parameters can be explained only on "
                              "PostgreSQL 16+ (EXPLAIN (GENERIC_PLAN))")
            return {"mode": "plan", "plan": ["Seq Scan on nchat_users  (cost=0.00..1.05)"]}

    app = dashboard_app(actions=ExplainingActions())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4120)
        await pilot.press("e")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(pilot.app.screen, PlanModal)
        assert "Seq Scan on nchat_users" in pilot.app.screen.plan
        await pilot.press("escape")
        await pilot.pause()
        await _select_pid(pilot, screen, 4107)
        await pilot.press("e")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert pilot.app.screen is screen
        assert any("PostgreSQL 16" in n.message for n in pilot.app._notifications)


async def test_empty_locks_and_progress_say_so_and_own_queries_are_labelled() -> None:
    from nchat_tui.screens.dashboard import query_line
    from tests.monitor_fakes import FROZEN_SAMPLE

    quiet = copy.deepcopy(FROZEN_SAMPLE)
    quiet["locks"] = {"waiting": 0, "longest_wait_s": None, "rows": []}
    quiet["progress"] = []
    app = dashboard_app(FakeSampler(quiet), interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        for tab, says in (("locks", "No session waits"), ("progress", "Nothing to follow")):
            note = screen.query_one(f"#{tab}-empty")
            assert note.display
            assert says in str(note.render())
    busy = dashboard_app(FakeSampler(), interval=30.0)
    async with busy.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        assert not screen.query_one("#locks-empty").display
        assert not screen.query_one("#progress-empty").display
    assert query_line("-- activity.sql: every client backend\nSELECT pid\nFROM x", 60) == \
        "[nchat-tui activity.sql] SELECT pid FROM x"
    assert query_line("-- a note\nUPDATE t SET a = 1", 60) == "UPDATE t SET a = 1"
    cut = "-- slow_queries.sql: this database's statements\n-- by mean execution time (a templ"
    assert query_line(cut, 60) == "[nchat-tui slow_queries.sql] this database's statements"
