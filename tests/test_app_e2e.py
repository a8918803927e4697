"""The real app, driven by keys, over a real session on a real (small) demo database.

Pilot presses the keys an operator would at 80x24: all four phases of the v0.4.0 upgrade,
then both ways back: the restore of the backup, then (migrated again) the down migrations.
Every question is answered through its dialog (the safe choice first, numbers, typed names),
and at each step what the screens say is checked against the database itself: the ledger,
the pending files, the tables. The screens were only ever tested over a fake session, and
issue 11's bugs (the restore handed pg_restore the manifest, the home screen stale after a
rollback, dependants left done) lived exactly there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from textual.widgets import OptionList, Static

from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.migrate.status import gather_status
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.screens.app import NchatApp, make_app
from nchat_tui.screens.dialogs.modals import QuestionModal, ReasonModal, TypeToConfirmModal
from nchat_tui.screens.home import HomeScreen
from nchat_tui.screens.phase import PhaseScreen
from nchat_tui.upgrade.contract import SessionLike
from nchat_tui.upgrade.session import UpgradeSession
from tests.pilot_util import current_key

SIZE = (80, 24)
STEP_S = 240  # a loaded 2-core machine: the backup or a restore may take a while
PENDING = ["013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
           "016_live_streaming.sql"]


@pytest.fixture
def demo_target(pg_db: dict[str, str], pg_cluster: Any, tmp_path: Path) -> Any:
    load_demo(pg_db, scale=0.02)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    target = resolve_target(dsn=dsn, migrations=default_migrations_dir(),
                            backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                            environ={})
    yield target
    # the restore rollback keeps the replaced database: drop what this test made
    with psycopg.connect(**pg_cluster.socket_conninfo(), autocommit=True) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (pg_db["dbname"] + "\\_%",)).fetchall()]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_facts(target: Target) -> dict[str, Any]:
    """What the database says, independently of the app."""
    st = gather_status(target)
    with psycopg.connect(make_conninfo(**target.params)) as conn:
        led = detect_ledger(conn)
        e2ee = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name LIKE '%e2ee%'").fetchall()]
    return {"pending": st.pending, "applied": led.applied_names(), "e2ee": sorted(e2ee)}


def shown(widget: Any) -> str:
    return str(widget.render())


def screen_text(app: NchatApp) -> str:
    """Everything the current screen shows in its static texts and option lists."""
    parts = [shown(w) for w in app.screen.query(Static)]
    for ol in app.screen.query(OptionList):
        parts += [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]
    return "\n".join(parts)


async def until(cond: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


Answer = str | Callable[[QuestionModal], str]


class Operator:
    """Presses keys on the app as an operator would, and remembers what it was asked."""

    def __init__(self, app: NchatApp, pilot: Any) -> None:
        self.app, self.pilot = app, pilot
        self.asked: dict[str, list[str]] = {}

    @property
    def session(self) -> SessionLike:
        return self.app.session

    async def open_phase(self, n: int) -> PhaseScreen:
        await self.pilot.press(str(n))
        assert await until(lambda: isinstance(self.app.screen, PhaseScreen)
                           and self.app.screen.phase_id == self.session.path.phases[n - 1].id, 10)
        await self.pilot.pause()
        screen = self.app.screen
        assert isinstance(screen, PhaseScreen)
        return screen

    async def home(self) -> HomeScreen:
        while not isinstance(self.app.screen, HomeScreen):
            await self.pilot.press("escape")
            await self.pilot.pause()
        await self.app.workers.wait_for_complete()
        await self.pilot.pause()
        assert isinstance(self.app.screen, HomeScreen)
        return self.app.screen

    async def goto(self, key: str) -> PhaseScreen:
        screen = self.app.screen
        assert isinstance(screen, PhaseScreen), screen
        keys = [s.key for s in screen.phase.steps]
        for _ in range(len(keys) * 2):
            cur = screen.current()
            if cur is not None and cur.key == key:
                break
            await self.pilot.press("j" if keys.index(key) > keys.index(current_key(screen)) else "k")
        assert current_key(screen) == key
        return screen

    async def answer(self, modal: QuestionModal, answers: dict[str, Answer]) -> None:
        title = modal.title_text
        self.asked.setdefault(title, []).append(modal.text)
        want = answers.get(title, modal.default)
        key = want(modal) if callable(want) else want
        if key != modal.default and modal.gated:
            await self.pilot.press("end")  # read the facts to their end first
            await self.pilot.pause()
            assert not modal.gated
        n = [k for k, _ in modal.choices].index(key) + 1
        await self.pilot.press(str(n))
        await self.pilot.pause()

    async def run(self, key: str, answers: dict[str, Answer] | None = None,
                  typed: str | None = None) -> str:
        """Select the step, press enter, answer what it asks; return its final state."""
        screen = await self.goto(key)
        await self.pilot.press("enter")
        answers = answers or {}
        end = time.monotonic() + STEP_S
        while time.monotonic() < end:
            top = self.app.screen
            if isinstance(top, QuestionModal):
                await self.answer(top, answers)
                continue
            if isinstance(top, TypeToConfirmModal):
                assert typed is not None, f"asked to type {top.expected!r}"
                await self.pilot.press(*typed, "enter")
                await self.pilot.pause()
                continue
            if key not in screen._cancel and self.session.checklist.state(key).state \
                    != "running":
                break
            await asyncio.sleep(0.05)
        await self.pilot.pause()
        return self.session.checklist.state(key).state

    async def confirm(self, key: str, note: str = "") -> None:
        await self.goto(key)
        await self.pilot.press("space")
        assert await until(lambda: isinstance(self.app.screen, ReasonModal), 5)
        await self.pilot.press(*note, "enter")
        await self.pilot.pause()
        assert self.session.checklist.state(key).state == "ok"

    async def skip(self, key: str, why: str) -> None:
        await self.goto(key)
        await self.pilot.press("s")
        assert await until(lambda: isinstance(self.app.screen, ReasonModal), 5)
        await self.pilot.press(*why, "enter")
        await self.pilot.pause()
        assert self.session.checklist.state(key).state == "skipped"

    def detail(self) -> str:
        return shown(self.app.screen.query_one("#detail-text"))


def phase_line(home: HomeScreen, n: int) -> str:
    ol = home.query_one("#phases", OptionList)
    return str(ol.get_option_at_index(n - 1).prompt)


def pick(label: str) -> Callable[[QuestionModal], str]:
    """The choice whose label starts with ``label``."""
    return lambda m: next(k for k, lbl in m.choices if lbl.startswith(label))


async def test_the_whole_upgrade_and_both_ways_back_by_keys(demo_target: Target) -> None:
    session = UpgradeSession(demo_target, status=gather_status(demo_target))
    assert session.path.id == "v0.4.0"
    app = make_app(session)
    db = demo_target.database
    async with app.run_test(size=SIZE) as pilot:
        op = Operator(app, pilot)
        home = await op.home()
        assert db_facts(demo_target)["pending"] == PENDING
        pending = shown(home.query_one("#pending"))
        assert "Pending migrations: 4" in pending and all(f in pending for f in PENDING)

        # -- phase 1 -------------------------------------------------------------------------
        await op.open_phase(1)
        assert await op.run("pre.connect") == "ok"
        assert "PostgreSQL 15" in op.detail() and "superuser: yes" in op.detail()
        await op.confirm("pre.read-guide", "read it")
        assert await op.run("pre.ledger") == "ok"
        assert "go ledger: 12 applied" in op.detail()
        assert await op.run("pre.pending") == "ok"
        assert all(f in op.detail() for f in PENDING)
        assert await op.run("pre.disk") in ("ok", "warn")
        await op.goto("pre.backup")
        assert "What it runs" in op.detail() and "pg_dump -Fc" in op.detail()
        assert "PGPASSWORD=(set, never shown)" in op.detail()
        assert "test-secret-pw" not in screen_text(app)
        assert await op.run("pre.backup") == "ok", op.session.checklist.state("pre.backup")
        backup = Path(session.checklist.state("pre.backup").evidence["path"])
        assert backup.read_bytes()[:5] == b"PGDMP"
        assert backup.name in op.detail() and "What it runs" not in op.detail()
        await op.skip("pre.staging", "no staging here")
        await op.confirm("pre.rollback-doc")
        await op.skip("pre.window", "demo")
        await op.confirm("pre.notify")
        home = await op.home()
        assert "10/10 done" in phase_line(home, 1)

        # -- phase 2 -------------------------------------------------------------------------
        await op.open_phase(2)
        await op.skip("migration.maintenance-on", "additive migrations")
        assert session.checklist.state("migration.maintenance-off").state == "skipped"
        assert await op.run("migration.review-sql") in ("ok", "warn")
        await pilot.press("v")
        assert await until(lambda: type(app.screen).__name__ == "PlanScreen", 10)
        assert "4 file(s)" in shown(app.screen.query_one("#plan-title"))
        await pilot.press("n")
        await pilot.pause()
        assert "warning 1 of" in shown(app.screen.query_one("#plan-title"))  # n jumped
        await pilot.press("escape")
        await pilot.pause()
        time.sleep(1.1)  # the gate compares whole seconds of the backup and the ledger
        assert await op.run("migration.dry-run") == "ok"
        assert await op.run("migration.run", {"Run the production migration": "run"}) == "ok"
        facts = op.asked["Run the production migration"][-1]
        assert all(f in facts for f in PENDING)
        assert "ACCESS EXCLUSIVE on nchat_messages" in facts
        assert "a floor, not a promise" in facts
        now = db_facts(demo_target)
        assert now["pending"] == [] and set(PENDING) <= set(now["applied"]) and now["e2ee"]
        assert "applied 4 file(s)" in op.detail()
        assert await op.run("migration.record") == "ok"
        assert "16 applied" in op.detail()
        assert await op.run("migration.no-pending") == "ok"
        await op.confirm("migration.deploy")
        await op.confirm("migration.app-starts")
        home = await op.home()
        assert "Pending migrations: 0" in shown(home.query_one("#pending"))  # re-read
        assert "9/9 done" in phase_line(home, 2)

        # -- phase 3 -------------------------------------------------------------------------
        await op.open_phase(3)
        assert await op.run("post.health") in ("ok", "warn")
        assert await op.run("post.integrity") == "ok", session.checklist.state("post.integrity")
        assert await op.run("post.vacuum", {"VACUUM ANALYZE and refresh": "go"}) == "ok"
        assert "nchat_prekey_bundles" in \
            op.asked["VACUUM ANALYZE and refresh"][-1].split("REFRESH MATERIALIZED VIEW")[1]
        for key in ("post.smoke", "post.workflows", "post.logs", "post.performance",
                    "post.notify-done"):
            await op.confirm(key)
        await op.skip("post.cleanup-jobs", "later")
        assert (session.journal.path.parent / "report.md").is_file()

        # -- phase 4, the first way back: restore the backup -------------------------------
        await op.open_phase(4)
        assert await op.run("rollback.decide", {"Choose the way back": pick("Restore")}) == "ok"
        ways = op.asked["Choose the way back"][-1]
        assert backup.name in ways and ".manifest.json" not in ways
        await op.confirm("rollback.maintenance-on")
        state = await op.run("rollback.restore", {"Swap in the restored database": "yes"},
                             typed=db)
        assert state == "ok", session.checklist.state("rollback.restore")
        now = db_facts(demo_target)
        assert now["pending"] == PENDING and now["e2ee"] == []
        assert not set(PENDING) & set(now["applied"])
        assert f"restored from {backup.name}" in op.detail()
        assert await op.run("rollback.verify-rollback") == "ok"
        assert "equals the snapshot taken before the upgrade" in op.detail()
        # what the rollback removed is no longer shown as done
        for key in ("migration.run", "migration.record", "migration.no-pending",
                    "post.health", "post.integrity", "post.vacuum"):
            assert session.checklist.state(key).state == "pending", key
        home = await op.home()
        assert "Pending migrations: 4" in shown(home.query_one("#pending"))
        assert "9/9" not in phase_line(home, 2) and "undone by the rollback" in phase_line(home, 2)
        report = (session.journal.path.parent / "report.md").read_text()
        assert report.split("\n")[2].startswith("**Outcome: ROLLED BACK by restoring")

        # -- migrated again, then the second way back: the down migrations -----------------
        await op.open_phase(2)
        assert await op.run("migration.run", {"Run the production migration": "run"}) == "ok"
        assert db_facts(demo_target)["pending"] == []
        assert await op.run("migration.no-pending") == "ok"
        await op.open_phase(4)
        await op.goto("rollback.decide")
        await pilot.press("r")
        await pilot.pause()
        assert session.checklist.state("rollback.restore").state == "pending"  # relied on it
        assert await op.run("rollback.decide", {"Choose the way back": "down"}) == "ok"
        # the down way's gate wants a backup newer than the migration: said at once
        assert await op.run("rollback.restore") == "failed"
        assert "older than the ledger" in session.checklist.state("rollback.restore").summary
        await op.open_phase(1)
        await op.goto("pre.backup")
        await pilot.press("r")
        time.sleep(1.1)
        assert await op.run("pre.backup") == "ok"
        await op.open_phase(4)
        await op.goto("rollback.restore")
        await pilot.press("r")
        state = await op.run("rollback.restore", {"Run the down migrations": "run"}, typed=db)
        assert state == "ok", session.checklist.state("rollback.restore")
        assert "Revert 4 file(s)" in op.asked["Run the down migrations"][-1]
        now = db_facts(demo_target)
        assert now["pending"] == PENDING and now["e2ee"] == []
        assert "the schema equals the before-snapshot" in op.detail()
        assert session.checklist.state("rollback.verify-rollback").state == "pending"
        assert await op.run("rollback.verify-rollback") == "ok"
        home = await op.home()
        assert "Pending migrations: 4" in shown(home.query_one("#pending"))
        report = (session.journal.path.parent / "report.md").read_text()
        assert report.split("\n")[2].startswith("**Outcome: ROLLED BACK with the down "
                                                "migrations")
        assert "test-secret-pw" not in report
