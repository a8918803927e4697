"""Pilot tests of the dashboard: pause, interval, sort, keyed updates and the guarded actions."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from psycopg.conninfo import make_conninfo
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Input

from nchat_tui.errors import Refused
from nchat_tui.monitor.model import ExplainResult, Locks, Session
from nchat_tui.monitor.sampler import SessionFilter
from nchat_tui.screens.dashboard import DashboardScreen, LiveTable
from nchat_tui.screens.dialogs.monitor import ActionConfirmModal, PlanModal, TypePidModal
from nchat_tui.screens.widgets.monitor_panel import MonitorPanel
from tests.monitor_fakes import (
    FROZEN_SAMPLE,
    LOCK_ROWS,
    FakeActions,
    FakeSampler,
    _session,
    dashboard_app,
    until_sampled,
)


async def _ready(pilot: Any) -> DashboardScreen:
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, DashboardScreen)
    await until_sampled(pilot, screen, 1)
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
        assert screen.next_sample_due is not None  # re-armed after the sample
        await pilot.press("p")
        assert screen.paused is True and screen.next_sample_due is None
        assert screen.has_class("-paused")
        assert "PAUSED" in str(screen.query_one("#dash-status").render())
        await pilot.press("p")
        await until_sampled(pilot, screen, 2)
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
        assert screen._suspended is True and screen.next_sample_due is None
        pilot.app.pop_screen()
        await pilot.pause()
        await until_sampled(pilot, screen, 2)
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
        s.tables = [t for t in s.tables if t.name != "nchat_users"]
        s.tables[0].total_bytes = 1
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


async def test_the_cancel_question_puts_the_safe_choice_first_and_enter_answers_no() -> None:
    """The dialog convention (safe choice first, Enter on it answers no): the monitor's own
    question showed "Cancel query" before "No"."""
    from textual.widgets import Button

    actions = FakeActions()
    app = dashboard_app(actions=actions)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await _select_pid(pilot, screen, 4107)
        await pilot.press("c")
        await pilot.pause()
        modal = pilot.app.screen
        assert isinstance(modal, ActionConfirmModal)
        assert [b.id for b in modal.query(Button)] == ["no", "yes"]
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen is screen and actions.calls == []


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
        inp = pilot.app.screen.query_one("Input", Input)
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
    FakeSampler().sample().tables.clear()
    assert before == FROZEN_SAMPLE


async def test_explain_shows_the_plan_or_why_not() -> None:
    class ExplainingActions(FakeActions):
        def explain(self, query: str, *, analyze: bool = False) -> ExplainResult:
            if "$1" in query:
                raise Refused("a statement with $n parameters can be explained only on "
                              "PostgreSQL 16+ (EXPLAIN (GENERIC_PLAN))")
            return ExplainResult(mode="plan",
                                 plan=["Seq Scan on nchat_users  (cost=0.00..1.05)"])

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
    quiet["locks"] = {"waiting": 0, "longest_wait_s": None, "longest": None, "tree": [],
                      "rows": []}
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


# -- issue 11/12: stable Queries, scope, filter, monitoring statements, lock rows in words ----
def _cursor_key(table: DataTable[Any]) -> str:
    return str(table.coordinate_to_cell_key(table.cursor_coordinate)[0].value)


async def _samples(pilot: Any, screen: DashboardScreen, n: int) -> None:
    for _ in range(400):
        if screen.samples_taken >= n:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"{n} samples not taken")


async def test_queries_keep_their_order_and_selection_across_samples() -> None:
    """The Queries tab re-sorted by each interval's deltas and the selection jumped."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("4")
        table = screen.query_one("#queries-table", DataTable)
        before = [table.coordinate_to_cell_key(Coordinate(i, 0))[0].value
                  for i in range(table.row_count)]
        await pilot.press("down")
        selected, row = _cursor_key(table), table.cursor_row
        # the next interval: the third statement is now the busiest; the core ranks
        # top_by_total by the interval's deltas, as the real Monitor does
        s = sampler.sample()
        sq = s.slow_queries
        for q in sq.top_by_total:
            if q.queryid == "7001":
                q.calls_delta, q.total_ms_delta = 90, 72_000.0
        sq.top_by_total.sort(key=lambda q: -(q.total_ms_delta or 0))
        for q in sq.statements:
            if q.queryid == "7001":
                q.calls_delta, q.total_ms_delta = 90, 72_000.0
        screen.apply_sample(s)
        await pilot.pause()
        after = [table.coordinate_to_cell_key(Coordinate(i, 0))[0].value
                 for i in range(table.row_count)]
        assert after == before
        assert (_cursor_key(table), table.cursor_row) == (selected, row)
        assert "72000" in [c.display for c in table.get_row("7001:nchat")]


async def test_monitoring_statements_show_on_m_only() -> None:
    app = dashboard_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("4")
        table = screen.query_one("#queries-table", DataTable)
        keys = {str(k.value) for k in table.rows}
        assert "5550001:postgres" not in keys and len(keys) == 3
        await pilot.press("m")
        await pilot.pause()
        cells = [c.display for c in table.get_row("5550001:postgres")]
        assert cells[-1].startswith("[pg_activity] SELECT a.pid")
        assert "with monitoring" in str(screen.query_one("#dash-status").render())
        await pilot.press("m")
        await pilot.pause()
        assert "5550001:postgres" not in {str(k.value) for k in table.rows}


async def test_other_monitors_samples_show_on_m_or_an_application_filter() -> None:
    """Another monitor caught in a short read of the statistics is not listed (m lists it, and
    so does a filter on its application); one stuck for 12 s is listed at once."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        s = sampler.sample()
        assert s.connections is not None
        pga = "WITH dbinfo AS( SELECT COALESCE(SUM(sd.xact_commit), 0) FROM pg_stat_database sd"
        s.connections.sessions += [
            Session.from_json(_session(6001, "pga", "pg_activity", "active", pga, 0.07)),
            Session.from_json(_session(6002, "pga", "pg_activity", "active", pga, 12.0))]
        screen.apply_sample(s)
        await pilot.pause()
        table = screen.query_one("#sessions-table", DataTable)

        def pids() -> set[str]:
            return {str(k.value) for k in table.rows}

        assert "6001" not in pids() and "6002" in pids()
        await pilot.press("m")
        await pilot.pause()
        assert {"6001", "6002"} <= pids()
        await pilot.press("m")
        await pilot.pause()
        assert "6001" not in pids()
        await pilot.press("slash", *"app:pg_act", "enter")
        await pilot.pause()
        assert pids() == {"6001", "6002"}


async def test_whole_server_by_default_and_this_database_on_d() -> None:
    app = dashboard_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", DataTable)
        pids = {str(k.value) for k in table.rows}
        assert {"5201", "5202"} <= pids  # pgbench's sessions, in another database
        assert "4188" not in pids  # our own sampling session is counted, not listed
        assert "whole server" in str(screen.query_one("#dash-title").render())
        assert screen.last is not None and screen.last.connections is not None
        c = screen.last.connections
        assert f"conns {c.total}/100" in str(screen.query_one("#dash-summary").render())
        await pilot.press("d")
        await pilot.pause()
        assert {str(k.value) for k in table.rows} == {"4101", "4107", "4110", "4120", "4190"}
        assert "database nchat" in str(screen.query_one("#dash-title").render())
        assert f"conns {c.this_database}/100" in str(
            screen.query_one("#dash-summary").render())
        assert c.this_database < c.total
        # idle sessions are counted in the summary and listed on i, as in pg_activity
        assert "1 idle" in str(screen.query_one("#dash-summary").render())
        await pilot.press("i")
        await pilot.pause()
        assert "4115" in {str(k.value) for k in table.rows}
        assert "with idle sessions" in str(screen.query_one("#dash-status").render())


async def test_filter_applies_as_it_is_typed() -> None:
    app = dashboard_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", DataTable)
        await pilot.press("slash")
        box = screen.query_one("#dash-filter")
        assert box.display and box.has_focus
        for key in "db:pgbench":
            await pilot.press(key)
        await pilot.pause()
        assert {str(k.value) for k in table.rows} == {"5201", "5202"}
        await pilot.press("escape")  # leaves the filter line, keeps the filter
        await pilot.pause()
        assert not box.display and pilot.app.screen is screen
        assert "filter: db pgbench" in str(screen.query_one("#dash-status").render())
        await pilot.press("slash")
        for _ in range(len("db:pgbench")):
            await pilot.press("backspace")
        for key in "state:idle min:30s":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await pilot.pause()
        assert {str(k.value) for k in table.rows} == {"4101"}  # idle in transaction, 42 s


async def test_lock_rows_and_summary_read_in_words() -> None:
    """A lock row read 'holds holds'; another 'wants None on a transaction'."""
    sample = copy.deepcopy(FROZEN_SAMPLE)
    sample["locks"] = {
        "waiting": 1, "longest_wait_s": 3.2,
        "longest": {"pid": 5202, "wait_s": 3.2, "mode": None, "relation": None,
                    "locktype": "extend", "wait_event": "extend", "blocked_by": [5201]},
        "tree": [],
        "rows": [
            {**LOCK_ROWS[0], "pid": 5201, "held_modes": [], "queue": 1},
            {**LOCK_ROWS[1], "pid": 5202, "mode": None, "locktype": "extend",
             "relation": None, "wait_event": "extend", "blocked_by": [5201], "wait_s": 3.2}]}
    app = dashboard_app(FakeSampler(sample))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        summary = str(screen.query_one("#dash-summary").render())
        assert "lock wait 3.2s: pid 5202 waits to extend a relation" in summary
        await pilot.press("2")
        table = screen.query_one("#locks-table", DataTable)
        text = " | ".join(c.display for i in range(table.row_count)
                          for c in table.get_row_at(i))
        assert "holds holds" not in text and "None" not in text
        assert "blocking" in text and "(extend)" in text


async def test_dashboard_on_a_real_server(pg_db: dict[str, str]) -> None:
    """The real Monitor behind the screen: whole server, query age, filter, host columns."""
    import psycopg

    from nchat_tui.monitor.sampler import Monitor

    sleeper = psycopg.connect(make_conninfo(**pg_db), autocommit=True, application_name="sleeper")
    runner = __import__("threading").Thread(
        target=lambda: _swallow(sleeper, "SELECT pg_sleep(30)"), daemon=True)
    runner.start()
    mon = Monitor(pg_db)
    app = dashboard_app(mon, actions=FakeActions(), interval=0.5)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            screen = pilot.app.screen
            assert isinstance(screen, DashboardScreen)
            await _samples(pilot, screen, 3)
            table = screen.query_one("#sessions-table", DataTable)
            pid = str(sleeper.info.backend_pid)
            for _ in range(200):
                if pid in {str(k.value) for k in table.rows}:
                    break
                await pilot.pause(0.02)
            labels = [str(c.label) for c in table.ordered_columns]
            assert labels[:7] == ["pid", "db", "user", "application", "state", "wait", "age"]
            assert {"cpu%", "mem", "r+w/s"} <= set(labels)  # the test server runs here
            row = dict(zip([str(c.key.value) for c in table.ordered_columns],
                           [c.display for c in table.get_row(pid)], strict=True))
            assert row["db"] == pg_db["dbname"][:7] or row["db"].startswith(pg_db["dbname"][:6])
            assert row["state"] == "act" and row["age"].endswith("s")
            assert "host: load" in str(screen.query_one("#dash-summary").render())
            await pilot.press("slash", *"app:sleeper", "enter")
            await pilot.pause()
            assert {str(k.value) for k in table.rows} == {pid}
    finally:
        mon.close()
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (sleeper.info.backend_pid,))
        runner.join(timeout=10)
        sleeper.close()


def _swallow(conn: Any, query: str) -> None:
    try:
        conn.execute(query)
    except Exception:
        pass


LIGHT = {7, 15}
DARK = {0, 8}


async def test_light_and_dark_themes_read_in_16_colours() -> None:
    """Summary lines, chart labels, the detail and status lines: on a 16-colour terminal
    (Rich's standard palette, what Textual emits for TERM=xterm) each foreground lands on an
    ANSI colour other than its background's, never light on light or dark on dark."""
    from rich.color import ColorSystem

    for theme in ("textual-dark", "textual-light"):
        app = dashboard_app()
        async with app.run_test(size=(80, 24)) as pilot:
            pilot.app.theme = theme
            screen = await _ready(pilot)
            await pilot.pause()
            styles = {sel: screen.query_one(sel).rich_style
                      for sel in ("#dash-title", "#dash-summary", "#dash-detail",
                                  "#dash-status", "#sessions-table")}
            bg = styles["#dash-summary"].bgcolor
            for part in ("dash--label", "dash--bars", "dash--alert", "dash--quiet"):
                st = screen.get_component_rich_style(part, partial=True)
                styles[part] = st.__class__(color=st.color, bgcolor=bg)
            for name, st in styles.items():
                assert st.color is not None and st.bgcolor is not None, (theme, name)
                fg = st.color.downgrade(ColorSystem.STANDARD).number
                back = st.bgcolor.downgrade(ColorSystem.STANDARD).number
                assert fg != back, (theme, name, fg, back)
                assert not ({fg, back} <= LIGHT or {fg, back} <= DARK), (theme, name, fg, back)
            # and the summary really draws its parts with those styles
            summary = screen.query_one("#dash-summary").render()
            assert "connections" in str(summary)


async def test_panel_slowest_line_has_no_comment_header(pg_db: dict[str, str]) -> None:
    """The compact panel's 'slowest' line showed the statement's SQL comment header."""
    import psycopg

    from nchat_tui.monitor.sampler import Monitor
    from tests.monitor_fakes import panel_app

    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        c.execute("CREATE TABLE report_rows AS SELECT g AS id FROM generate_series(1, 20000) g")
        for _ in range(3):  # the slowest statement by mean, with a header comment
            c.execute("/* reports/weekly.sql: messages per user, for the Monday mail */\n"
                      "SELECT count(*) FROM report_rows a JOIN report_rows b ON a.id = b.id")
    mon = Monitor(pg_db)
    try:
        mon.sample()
        sample = mon.sample()
    finally:
        mon.close()
    top = next(q for q in sample.slow_queries.top_by_mean
               if "FROM report_rows a JOIN" in q.query)
    assert top.query.startswith("SELECT count(*) FROM report_rows")
    sample.slow_queries.top_by_mean = [top]  # the slowest, as on a busy server
    async with panel_app(sample).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = str(pilot.app.query_one("#mp-slow").render())
        assert "SELECT count(*) FROM report_rows" in line
        assert "/*" not in line and "--" not in line


def _screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_a_session_that_comes_and_goes_is_drawn_without_laying_the_screen_out(
        monkeypatch: Any) -> None:
    """A row added or removed repaints the table only: a DataTable's new virtual size used to
    lay the whole screen out and repaint every widget on it, every time a short query came
    and went. The row must still show (the first fix left it undrawn)."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        layouts: list[int] = []
        real = screen._refresh_layout

        def counted(*a: Any, **k: Any) -> Any:
            layouts.append(1)
            return real(*a, **k)

        monkeypatch.setattr(screen, "_refresh_layout", counted)
        first = sampler.sample()
        assert first.connections is not None
        gone = first.connections.sessions.pop()  # one session fewer: a row leaves
        screen.apply_sample(first)
        await pilot.pause()
        assert not re.search(rf"\b{gone.pid}\b", _screen_text(app))
        assert layouts == []  # DataTable.remove_row asks for one
        screen.apply_sample(sampler.sample())  # it comes back
        await pilot.pause()
        assert re.search(rf"^ *{gone.pid}\b", _screen_text(app), re.M)
        assert layouts == []


async def test_a_ticking_age_is_drawn_with_the_rates_and_renders_that_cell_only(
        monkeypatch: Any) -> None:
    """A session's age ticks every second: like the summary's rates it is drawn at most every
    RATES_EVERY_S (a change of anything else at once), and then its row is repainted with
    that one cell rendered again (through Rich, the other ten cells were most of the
    repaint); the screen shows what a table drawn from scratch shows."""
    import nchat_tui.screens.dashboard as dashboard

    monkeypatch.setattr(dashboard, "RATES_EVERY_S", 3600.0)
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", LiveTable)
        rendered: list[tuple[str | None, str | None]] = []
        real = vars(LRUCache)["__setitem__"]

        def counted(cache: Any, key: Any, value: Any) -> None:
            if cache is table._cell_render_cache:  # a cell rendered (a cache miss)
                rendered.append((key[0].value, key[1].value))
            elif cache is table._shown_cache:  # a data cell rendered, kept by what it shows
                rendered.append(("shown", key[0]))
            real(cache, key, value)

        def row_4120() -> str:
            return next(line for line in _screen_text(app).splitlines()
                        if line.lstrip().startswith("4120 "))

        s = sampler.sample()
        assert s.connections is not None
        session = next(a for a in s.connections.sessions if a.pid == 4120)
        session.query_age_s = session.state_age_s = 7.0
        monkeypatch.setattr(LRUCache, "__setitem__", counted)
        screen.apply_sample(s)  # the rates are not due: the tick waits for them
        await pilot.pause()
        assert rendered == [] and " 0s " in row_4120(), row_4120()
        screen._rates_at = -math.inf  # they are due
        screen.apply_sample(s)
        await pilot.pause()
        assert rendered == [("shown", "7s")], rendered  # that cell, nothing else
        assert " 7s " in row_4120(), row_4120()
        ticked = _table_text(table)
        session.query_age_s = session.state_age_s = 8.0
        session.state = "idle in transaction"  # not a rate: drawn at once, age included
        screen.apply_sample(s)
        await pilot.pause()
        assert " idle-tx " in row_4120() and " 8s " in row_4120(), row_4120()
        session.state, session.query_age_s, session.state_age_s = "active", 7.0, 7.0
    fresh = dashboard_app(FakeSampler())
    async with fresh.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        screen._rates_at = -math.inf
        screen.apply_sample(s)
        await pilot.pause()
        got = _table_text(screen.query_one("#sessions-table", DataTable))
        assert got == ticked, f"{got}\n----\n{ticked}"


async def test_rows_that_come_and_go_render_no_cell_that_did_not_change(
        monkeypatch: Any) -> None:
    """Under pgbench -c 50 sessions come, go and change every second, and each such change
    made DataTable render every visible cell again through Rich (most of the dashboard's CPU
    under load). A session that ends moves the rows under it up: no cell of theirs is
    rendered again, the screen is what a table drawn from scratch shows, and each row's
    segments carry the row it is now (what a mouse click selects)."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", LiveTable)
        s = sampler.sample()
        assert s.connections is not None
        keys = [str(k.value) for k in table.rows]
        gone = keys[1]  # a row with rows under it
        s.connections.sessions = [a for a in s.connections.sessions if str(a.pid) != gone]
        rendered: list[Any] = []
        real = vars(LRUCache)["__setitem__"]

        def counted(cache: Any, key: Any, value: Any) -> None:
            if cache is table._shown_cache or (
                    cache is table._cell_render_cache and key[0] != table._header_row_key):
                rendered.append(key[:2])
            real(cache, key, value)

        monkeypatch.setattr(LRUCache, "__setitem__", counted)
        screen.apply_sample(s)
        await pilot.pause()
        monkeypatch.undo()
        assert [str(k.value) for k in table.rows] == [k for k in keys if k != gone]
        assert rendered == [], rendered
        shown = _table_text(table)
        for y in range(1, table.row_count + 1):
            rows = {seg.style.meta.get("row") for seg in table.render_line(y)
                    if seg.style is not None and seg.style.meta}
            assert rows == {y - 1}, (y, rows)
    fresh = dashboard_app(FakeSampler())
    async with fresh.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        screen.apply_sample(s)
        await pilot.pause()
        got = _table_text(screen.query_one("#sessions-table", DataTable))
        assert got == shown, f"{got}\n----\n{shown}"


def _table_text(table: DataTable[Any]) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_the_detail_gives_the_transaction_age_when_it_says_more() -> None:
    """A single statement's transaction is as old as the statement (the age column gives it:
    the detail would tick with it); a statement in an older transaction shows both."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        table = screen.query_one("#sessions-table", DataTable)
        table.move_cursor(row=table.get_row_index("4120"))
        await pilot.pause()
        detail = screen.query_one("#dash-detail")
        assert str(detail.render()).startswith("pid 4120 nchat-api (db nchat): SELECT")
        s = sampler.sample()
        assert s.connections is not None
        session = next(a for a in s.connections.sessions if a.pid == 4120)
        session.xact_age_s = 75.0
        screen.apply_sample(s)
        await pilot.pause()
        assert str(detail.render()).startswith("pid 4120 nchat-api (db nchat, xact 1m): SELECT")


async def test_an_empty_sessions_table_says_why() -> None:
    """All sessions idle: none listed (as in pg_activity), and the line under the table says
    how many are idle and that i lists them; with i, they are listed and the line goes."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        s = sampler.sample()
        assert s.connections is not None
        others = [a for a in s.connections.sessions if a.pid != s.backend_pid]
        for a in s.connections.sessions:
            a.state = "idle"
        screen.apply_sample(s)
        await pilot.pause()
        table = screen.query_one("#sessions-table", DataTable)
        note = screen.query_one("#sessions-empty")
        assert table.row_count == 0 and note.display
        assert f"{len(others)} idle, not listed (i lists them)" in str(note.render())
        await pilot.press("i")
        await pilot.pause()
        assert table.row_count == len(others) and not note.display


async def test_a_filter_whose_sessions_are_idle_says_they_are_idle_not_unmatched() -> None:
    """A filter on an application whose sessions are all idle listed nothing and said "No
    session matches the filter": the operator went looking for a typo. It says the filter
    matches them, that they are idle, and that i lists them; a filter matching none says so."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        s = sampler.sample()
        assert s.connections is not None
        apps = [a for a in s.connections.sessions
                if a.pid != s.backend_pid and a.application == "nchat-api"]
        assert len(apps) >= 2
        for a in apps:
            a.state = "idle"
        screen.filter = SessionFilter.parse("app:nchat-api")
        screen.apply_sample(s)
        await pilot.pause()
        table = screen.query_one("#sessions-table", DataTable)
        note = screen.query_one("#sessions-empty")
        assert table.row_count == 0 and note.display
        text = str(note.render())
        assert f"The filter matches {len(apps)} sessions: {len(apps)} idle" in text
        assert "i lists them" in text and "No session matches" not in text
        await pilot.press("i")
        await pilot.pause()
        assert table.row_count == len(apps) and not note.display
        await pilot.press("i")
        screen.filter = SessionFilter.parse("app:no-such-app")
        screen.apply_sample(s)
        await pilot.pause()
        assert "No session matches the filter" in str(note.render())


async def test_a_first_sample_without_the_kept_panels_is_followed_at_once_but_only_once(
) -> None:
    """The prefetched first sample carries the always-read panels only: the next one, asking
    for the rest, follows at once. A sampler that keeps leaving them out must not make the
    dashboard sample in a loop."""

    class Partial(FakeSampler):
        def sample(self, panels: Any = None) -> Any:
            s = super().sample(panels)
            for name in ("tables", "progress", "replication"):
                s.panels_at[name] = None  # never read, whatever was asked
            return s

    sampler = Partial()
    app = dashboard_app(sampler, interval=30.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await until_sampled(pilot, screen, 2)
        assert sampler.panels[1] is not None and "tables" in sampler.panels[1]
        await pilot.pause(0.3)
        assert sampler.calls == 2  # the next is an interval (30 s) away


async def test_an_empty_sessions_table_without_a_connection_claims_nothing() -> None:
    """Unreachable server: the table is empty because nothing was read, not because nobody
    is connected (the note said "No other session is connected")."""
    sampler = FakeSampler()
    app = dashboard_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        s = sampler.sample()
        s.connections = None
        s.panels_at["connections"] = None
        s.panels_at["locks"] = None
        s.locks = Locks.none_yet()  # what the sampler carries for a panel never read
        s.error = ("no server on the local socket for postgres@/tmp/nonexist:5432/postgres "
                   "(is PostgreSQL running? give --dsn with host and port)")
        screen.apply_sample(s)
        await pilot.pause()
        note = str(screen.query_one("#sessions-empty").render())
        assert "No session read yet" in note and "No other session" not in note
        # the status line cuts the reason; the note under the empty table says it whole
        assert "give --dsn with host and port" not in str(
            screen.query_one("#dash-status").render())
        screen_text = "\n".join(strip.text for strip in screen._compositor.render_strips())
        assert "(is PostgreSQL running? give --dsn with host and port)" in " ".join(
            screen_text.split()), screen_text
        # and the summary claims no "no lock waits" it never read
        assert "no lock waits" not in screen_text and "lock waits not read yet" in screen_text


async def test_the_summary_is_redrawn_in_the_new_colours_after_a_theme_change() -> None:
    """The summary draws through TextLines, which keeps each line's strip: a theme change
    must still repaint it (Text's == leaves the base style out, the strip cache must go)."""
    from nchat_tui.screens.widgets.textlines import TextLines

    app = dashboard_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await pilot.pause()
        summary = screen.query_one("#dash-summary", TextLines)

        def backgrounds() -> set[Any]:
            return {seg.style.bgcolor for y in range(len(summary.lines))
                    for seg in summary.render_line(y) if seg.style is not None}

        dark = backgrounds()
        assert dark == {summary.rich_style.bgcolor}
        pilot.app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        light = backgrounds()
        assert light == {summary.rich_style.bgcolor} and light != dark
        label = summary.lines[-2]
        assert str(label.style) == str(screen.get_component_rich_style("dash--label"))
