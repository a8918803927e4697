"""Snapshot tests of the monitor dashboard and the compact panel at 80x24, frozen samples."""

from __future__ import annotations

import copy
import math

from nchat_tui.screens.dashboard import DashboardScreen
from tests.monitor_fakes import (
    FROZEN_SAMPLE,
    FakeSampler,
    dashboard_app,
    local_sample,
    panel_app,
    until_idle,
)

SIZE = (80, 24)


def _settled(*keys: str, extra_samples: int = 4, theme: str | None = None):
    """Wait for the first sample, feed a few more (sparklines), then press ``keys``."""

    async def run_before(pilot) -> None:
        if theme:
            pilot.app.theme = theme
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, DashboardScreen)
        await until_idle(pilot, screen)
        for _ in range(extra_samples):
            screen._rates_at = -math.inf  # the rates' redraw pace is wall-clock: not here
            screen.apply_sample(pilot.app.sampler.sample())
        for k in keys:
            await pilot.press(k)
            await until_idle(pilot, screen)  # a tab opened samples its panel at once

    return run_before


def _unavailable_and_stale() -> dict:
    s = copy.deepcopy(FROZEN_SAMPLE)
    s["slow_queries"] = {
        "installed_version": None, "default_version": "1.10", "state": "not_created",
        "unavailable": "the pg_stat_statements extension is not created in this database",
        "fix": "CREATE EXTENSION pg_stat_statements; (as a superuser, in this database)"}
    s["stale"] = {"tables": {"since": "2026-11-22T02:59:58.000+00:00",
                             "reason": "canceling statement due to statement timeout",
                             "last_ok": "2026-11-22T02:59:56.000+00:00", "has_data": True}}
    return s


def _degraded() -> dict:
    s = copy.deepcopy(FROZEN_SAMPLE)
    s["access"] = {"role": "nchat", "superuser": False, "pg_monitor": False, "level": "degraded",
                   "label": "degraded view: role nchat is neither superuser nor a member of "
                            "pg_monitor; other roles' sessions, queries, waits and progress "
                            "are hidden", "fix": "GRANT pg_monitor TO nchat;"}
    for sess in s["connections"]["sessions"]:
        if sess["user"] != "nchat":
            sess.update(state=None, query="<insufficient privilege>", wait_event_type=None,
                        wait_event=None, xact_age_s=None)
    s["connections"]["by_state"] = {"active": 2, "hidden": 2, "idle": 1}
    return s


class TestDashboard:
    """The full dashboard: each tab, and the states an operator must not miss."""

    def test_sessions(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled())

    def test_locks_tree(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("2"))

    def test_tables_with_locked_table(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("3"))

    def test_queries(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("4"))

    def test_progress(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("5"))

    def test_pgss_unavailable_and_stale_panel(self, snap_compare):
        app = dashboard_app(FakeSampler(_unavailable_and_stale()))
        assert snap_compare(app, terminal_size=SIZE, run_before=_settled("4"))

    def test_degraded_and_paused(self, snap_compare):
        app = dashboard_app(FakeSampler(_degraded()))
        assert snap_compare(app, terminal_size=SIZE, run_before=_settled("p"))


    def test_on_the_database_host(self, snap_compare):
        """CPU/memory/IO per backend and the host line, as on the database host."""
        app = dashboard_app(FakeSampler(local_sample()))
        assert snap_compare(app, terminal_size=SIZE, run_before=_settled())

    def test_this_database_only(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("d"))

    def test_filter(self, snap_compare):
        keys = ("slash", *"state:act", "enter")
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled(*keys))

    def test_queries_with_monitoring_statements(self, snap_compare):
        assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=_settled("4", "m"))

    def test_light_theme(self, snap_compare):
        app = dashboard_app(FakeSampler(local_sample()))
        assert snap_compare(app, terminal_size=SIZE,
                            run_before=_settled(theme="textual-light"))

    def test_wide_terminal(self, snap_compare):
        app = dashboard_app(FakeSampler(local_sample()))
        assert snap_compare(app, terminal_size=(200, 50), run_before=_settled())


class TestPanel:
    """The compact panel under a phase screen."""

    def test_panel_lock_wait(self, snap_compare):
        fake = FakeSampler()
        history = [fake.sample() for _ in range(4)]
        assert snap_compare(panel_app(fake.sample(), history), terminal_size=SIZE)

    def test_panel_quiet_without_pgss(self, snap_compare):
        s = _unavailable_and_stale()
        s["stale"] = {}
        s["locks"] = {"waiting": 0, "longest_wait_s": None, "longest": None, "tree": [],
                      "rows": []}
        assert snap_compare(panel_app(s), terminal_size=SIZE)
