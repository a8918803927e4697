"""The dashboard over a real Monitor on a real database (the other dashboard tests use a fake
with frozen numbers): the app `monitor --tui` runs, its sampling thread, the first sample
that reads the always-read panels only and the follow-up that reads the rest, a session that
comes and goes, the empty Sessions table's line, pause."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from nchat_tui.monitor.sampler import Monitor
from nchat_tui.screens.dashboard import DashboardScreen, MonitorApp
from tests.monitor_fakes import until_sampled


def _text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@contextlib.asynccontextmanager
async def _dashboard(mon: Monitor, interval: float) -> AsyncIterator[tuple[Any, DashboardScreen]]:
    """`monitor --tui` over a real Monitor at 80x24, its first sample drawn; the Monitor is
    closed on the way out."""
    app = MonitorApp(mon, interval=interval)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await until_sampled(pilot, screen, 1)
            yield pilot, screen
    finally:
        mon.close()


async def _until(pilot: Any, cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    await pilot.pause()


async def test_the_dashboard_on_a_real_database(pg_db: dict[str, str]) -> None:
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1,10)")
    idle = psycopg.connect(make_conninfo(**pg_db), autocommit=True,
                           application_name="idle-one")
    busy = psycopg.connect(make_conninfo(**pg_db), autocommit=True,
                           application_name="busy-one")
    busy_pid = busy.info.backend_pid

    def sleep() -> None:
        try:
            busy.execute("SELECT pg_sleep(600)")
        except psycopg.Error:
            pass

    mon = Monitor(pg_db)
    mon.prefetch(panels=())  # as `monitor --tui` does: the always-read panels first
    try:
        async with _dashboard(mon, 0.5) as (pilot, screen):
            app = pilot.app
            # only idle sessions: none listed, and the line under the table says why
            note = screen.query_one("#sessions-empty")
            assert note.display and "idle, not listed (i lists them)" in str(note.render())
            # the follow-up sample read the panels the first one left out, at once
            await until_sampled(pilot, screen, 2)
            assert screen.last is not None
            assert screen.last.panels_at.get("tables") is not None
            # the summary (TextLines) and the key line (KeyBar) read the real figures
            lines = _text(app).splitlines()
            assert re.match(r" conns \d+/\d+ ", lines[1]) and "no lock waits" in lines[2], lines
            assert lines[-1].startswith(" esc Back  p Pause ") and "^p palette" in lines[-1]
            # a session that starts working shows, with its application
            worker = threading.Thread(target=sleep, daemon=True)
            worker.start()
            await _until(pilot, lambda: re.search(rf"^ *{busy_pid}\b.*busy-one", _text(app),
                                                  re.M) is not None)
            assert not note.display
            # ... and goes when it ends
            with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
                c.execute("SELECT pg_cancel_backend(%s)", (busy_pid,))
            worker.join(10)
            await _until(pilot, lambda: not re.search(rf"^ *{busy_pid}\b", _text(app), re.M))
            assert note.display
            # paused: no sample is taken
            await pilot.press("p")
            await asyncio.sleep(0.3)  # a sample under way when p was pressed is still drawn
            await pilot.pause()
            taken = screen.samples_taken
            await asyncio.sleep(1.2)
            await pilot.pause()
            assert screen.paused and screen.samples_taken == taken
            assert "PAUSED" in _text(app)
    finally:
        idle.close()
        busy.close()


async def test_the_dashboard_against_a_server_that_is_not_there(tmp_path: Any) -> None:
    """A real Monitor pointed at a socket with no server: the empty Sessions table gives the
    whole reason (the status line cuts it), and the summary claims no lock state."""
    mon = Monitor({"host": str(tmp_path), "port": "5432", "dbname": "postgres",
                   "user": "postgres"})
    async with _dashboard(mon, 0.5) as (pilot, _screen):
        text = " ".join(_text(pilot.app).split())
        assert "No session read yet: no server on the local socket" in text, text
        assert "(is PostgreSQL running? give --dsn with host and port)" in text, text
        assert "lock waits not read yet" in text and "no lock waits" not in text


async def test_another_monitors_sample_is_left_out_until_it_is_news(
        pg_db: dict[str, str], monkeypatch: Any) -> None:
    """A session named pg_activity reading the statistics is another monitor's sample: not
    listed, counted in the note, listed on m; listed anyway once it runs longer than a
    sample may (here 3 s)."""
    from nchat_tui.monitor import querytext

    monkeypatch.setattr(querytext, "BRIEF_SAMPLE_S", 3.0)
    other = psycopg.connect(make_conninfo(**pg_db), autocommit=True,
                            application_name="pg_activity")
    pid = other.info.backend_pid
    started = threading.Event()

    def read() -> None:  # a long read of the statistics, no write, no wait
        started.set()
        try:
            other.execute("SELECT count(*) FROM (SELECT generate_series(1, 2000000000) AS g) s "
                          "WHERE g > (SELECT count(*) FROM pg_stat_database)")
        except psycopg.Error:
            pass

    worker = threading.Thread(target=read, daemon=True)
    try:
        async with _dashboard(Monitor(pg_db), 0.3) as (pilot, screen):
            app = pilot.app
            worker.start()
            started.wait(5)
            t0 = time.monotonic()

            def caught() -> bool:  # the last sample saw it running, and for under 3 s
                last = screen.last
                return last is not None and last.connections is not None and any(
                    a.pid == pid and a.state == "active" and (a.query_age_s or 0) < 2.5
                    for a in last.connections.sessions)

            await _until(pilot, caught, timeout=2.5)
            assert not re.search(rf"^ *{pid}\b", _text(app), re.M)
            note = screen.query_one("#sessions-empty")
            assert note.display and re.search(r"\d+ monitoring \(m lists their samples\)",
                                              str(note.render())), str(note.render())
            await pilot.press("m")  # listed on m, and the status line says so
            assert re.search(rf"^ *{pid}\b.*pg_activity", _text(app), re.M), _text(app)
            assert "with monitoring" in _text(app)
            await pilot.press("m")
            assert time.monotonic() - t0 < 3.0, "too slow to see it as a sample"
            assert not re.search(rf"^ *{pid}\b", _text(app), re.M)
            # past 3 s it is no sample: it is listed without m
            await _until(pilot, lambda: re.search(rf"^ *{pid}\b.*pg_activity", _text(app),
                                                  re.M) is not None, timeout=10)
            assert not note.display
    finally:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (pid,))
        worker.join(10)
        other.close()
