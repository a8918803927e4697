"""The monitor's cancel and terminate, now through sql/runner/signal_backend.sql (the function
chosen by a parameter): each really does what it says, on a real session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.monitor.sampler import Monitor, SessionRegistry
from nchat_tui.state.journal import Journal
from tests.crashkit import wait_for
from tests.test_monitor import _Waiter


@pytest.mark.parametrize(("action", "error"), [("cancel", psycopg.errors.QueryCanceled),
                                                ("terminate", psycopg.errors.AdminShutdown)])
def test_cancel_cancels_and_terminate_terminates(pg_db: dict[str, str], tmp_path: Path,
                                                 action: str, error: Any) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    mon = Monitor(pg_db, journal=journal, registry=SessionRegistry())
    mon.sample()
    victim = _Waiter(pg_db, "SELECT pg_sleep(60)", "slow-report")
    victim.start()
    try:
        with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as watch:
            def sleeping() -> bool:
                row = watch.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s",
                                    (victim.pid,)).fetchone()
                return bool(row and row[0] == "active" and "pg_sleep" in row[1])
            # a cancel before pg_sleep runs would hit nothing
            wait_for(sleeping, what="the victim's pg_sleep")
        if action == "cancel":
            res = mon.cancel_backend(victim.pid, confirm_privileged=True)
        else:
            res = mon.terminate_backend(victim.pid, str(victim.pid), confirm_privileged=True)
        assert res.ok is True and res.action == action
        victim.join(timeout=30)
        assert isinstance(victim.error, error), victim.error
        if action == "cancel":  # the session itself lives on
            assert victim.conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        victim.conn.close()
        mon.close()
