"""Issue 11's bugs, each pinned by a test that failed before its fix.

The ones that touch the database run on a small real demo (``load_demo`` at scale 0.02) with
the real pg_dump/pg_restore and the real runner; the others test the core piece that was wrong.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from textual.widgets import OptionList

from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.pg.target import Target, resolve_target
from nchat_tui.upgrade.actions import Question
from nchat_tui.upgrade.checklist import ChecklistError
from nchat_tui.upgrade.session import UpgradeSession
from tests.pilot_util import current_key

PENDING = ["013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
           "016_live_streaming.sql"]


@pytest.fixture
def demo_target(pg_db: dict[str, str], tmp_path: Path) -> Target:
    load_demo(pg_db, scale=0.02)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    return resolve_target(dsn=dsn, migrations=default_migrations_dir(),
                          backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                          environ={})


class Operator:
    """Answers questions by title; records every question it was asked."""

    def __init__(self, **answers: str) -> None:
        self.answers = {k.replace("_", " "): v for k, v in answers.items()}
        self.asked: list[Question] = []

    def __call__(self, q: Question) -> str:
        self.asked.append(q)
        return self.answers.get(q.title, q.default)

    def question(self, title: str) -> Question:
        return next(q for q in self.asked if q.title == title)


def _e2ee_tables(target: Target) -> list[str]:
    with psycopg.connect(make_conninfo(**target.params)) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE "
                            "table_schema = 'public' AND table_name LIKE '%e2ee%'").fetchall()
    return [r[0] for r in rows]


def _migrated(target: Target, operator: Operator) -> UpgradeSession:
    """A session where phase 1's backup and phase 2's migration ran."""
    s = UpgradeSession(target, path_id="v0.4.0")
    for key in ("pre.ledger", "pre.pending"):
        assert s.run_step(key, ask=operator).state == "ok"
    assert s.run_step("pre.backup", ask=operator).state == "ok"
    assert s.run_step("migration.review-sql", ask=operator).state in ("ok", "warn")
    time.sleep(1.1)  # the gate compares whole seconds of the backup against the ledger
    st = s.run_step("migration.run", ask=operator)
    assert st.state == "ok", st.summary
    return s


# -- bug 1 -------------------------------------------------------------------------------------
def test_bug1_the_restore_rollback_restores_the_dump_not_its_manifest(demo_target):
    """Phase 1 backup, phase 2 migration, phase 4 'Restore backup', then 'Roll the database
    back': it failed with '...manifest.json is not a pg_dump archive'."""
    from nchat_tui.rollback.engine import rollback_options

    op = Operator(**{"Choose_the_way_back": "restore", "Run_the_production_migration": "run",
                     "Swap_in_the_restored_database": "yes"})
    s = _migrated(demo_target, op)
    facts = rollback_options(demo_target)
    assert facts.restore.backup is not None
    assert facts.restore.backup.endswith(".dump"), facts.restore.backup
    assert Path(facts.restore.backup).read_bytes()[:5] == b"PGDMP"
    assert facts.restore.manifest is not None
    assert facts.restore.manifest.endswith(".manifest.json")
    assert s.run_step("rollback.decide", ask=op).state == "ok"
    st = s.run_step("rollback.restore", ask=op)
    assert st.state == "ok", st.summary
    assert _e2ee_tables(demo_target) == []
    assert s.refresh_banner().pending == PENDING


# -- bug 2 -------------------------------------------------------------------------------------
def test_bug2_an_override_without_backup_says_so_and_is_confirmed_specifically(demo_target):
    """'o' on 'Run the production migration' with any reason, then run it: the confirmation
    never said there was no verified backup."""
    s = UpgradeSession(demo_target, path_id="v0.4.0")
    for key in ("pre.ledger", "pre.pending"):
        assert s.run_step(key).state == "ok"
    assert s.run_step("migration.review-sql").state in ("ok", "warn")
    with pytest.raises(ChecklistError, match="gated"):
        s.run_step("migration.run")
    s.checklist.override("migration.run", "DBA took a snapshot of the volume, CHG-7")
    op = Operator()  # answers the default: not now
    st = s.run_step("migration.run", ask=op)
    q = op.question("Run the production migration")
    assert "NO VERIFIED BACKUP" in q.text and "DBA took a snapshot of the volume" in q.text
    run_key = next(k for k, _ in q.choices if k != q.default)
    assert run_key in q.danger and q.confirm_word, "running without a backup must be typed"
    assert "backup" in (q.confirm_word or "")
    assert st.state == "failed" and "declined" in st.summary
    assert s.refresh_banner().pending == PENDING


def test_bug2_an_override_of_another_gate_keeps_the_backup_gate(demo_target):
    """With a verified backup, an override of the review gate must not turn the run into a
    run without backup."""
    s = UpgradeSession(demo_target, path_id="v0.4.0")
    assert s.run_step("pre.backup").state == "ok"
    s.checklist.override("migration.run", "the plan was reviewed on staging, CHG-8")
    time.sleep(1.1)
    op = Operator(Run_the_production_migration="run")
    st = s.run_step("migration.run", ask=op)
    assert st.state == "ok", st.summary
    assert "NO VERIFIED BACKUP" not in op.question("Run the production migration").text
    gate = st.evidence["gate"]
    assert gate.get("backup") and not gate.get("without_backup"), gate


# -- bug 6 -------------------------------------------------------------------------------------
def test_bug6_the_maintenance_question_names_the_view_and_the_count_adds_up(demo_target):
    """'REFRESH MATERIALIZED VIEW: None' while a view is refreshed; '16 item(s) done' listing 15."""
    op = Operator(Run_the_production_migration="run", VACUUM_ANALYZE_and_refresh="go")
    s = _migrated(demo_target, op)
    st = s.run_step("post.vacuum", ask=op)
    assert st.state == "ok", st.summary
    text = op.question("VACUUM ANALYZE and refresh").text
    assert "None" not in text
    assert "REFRESH MATERIALIZED VIEW" in text and "nchat_prekey_bundles" in \
        text.split("REFRESH MATERIALIZED VIEW", 1)[1]
    n = int(st.summary.split(" item(s)", 1)[0])
    assert n == len(st.evidence["results"]), (st.summary, st.evidence["results"])


# -- bug 7 -------------------------------------------------------------------------------------
def test_bug7_a_cancel_during_verification_is_a_cancel_not_a_bad_dump(demo_target):
    """A cancel confirmed after pg_dump finished (checksum, full read) was not honoured as a
    cancel: the backup either finished or was called damaged."""
    from nchat_tui.backup import engine as bk
    from nchat_tui.state.journal import Journal

    cancel = threading.Event()

    def on_progress(p: Any) -> None:
        if p.operation == "verify" or p.phase in ("verify", "checksum", "full-read"):
            cancel.set()

    j = Journal.for_target(demo_target.state_dir, demo_target.masked())
    with pytest.raises(bk.Cancelled):
        bk.run_backup(demo_target, on_progress=on_progress, cancel_event=cancel, journal=j)
    assert j.last("backup_cancelled") is not None
    assert j.last("backup_finished") is None and j.last("backup_failed") is None
    assert [p.name for p in demo_target.backup_dir.iterdir()] == []


def test_bug7_a_step_that_ends_after_a_confirmed_cancel_is_not_done(tmp_path):
    """Whatever the engine did after the cancel, the operator's cancel is journaled and the
    step is not recorded as done."""
    from nchat_tui.upgrade.checklist import StepResult
    from tests.fakes import FakeSession

    s = FakeSession(tmp_path)
    started = threading.Event()

    def finishes_anyway(ctx):
        started.set()
        ctx.cancel.wait(5)
        return StepResult("ok", "verified: nchat_20261122_030000.dump, 212.4 MiB")

    s.scripts["backup"] = finishes_anyway
    cancel = threading.Event()
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(s.run_step("pre.backup", cancel=cancel)))
    t.start()
    assert started.wait(5)
    s.request_cancel("pre.backup", cancel)
    t.join(10)
    st = out[0]
    assert st.state == "failed", st
    assert "cancel" in st.summary and "nchat_20261122_030000.dump" in st.summary
    rec = s.journal.last("cancel_requested")
    assert rec is not None and rec["step"] == "pre.backup"


# -- bug 8 -------------------------------------------------------------------------------------
def test_bug8_make_demo_args_new_session_reaches_the_app(monkeypatch, tmp_path):
    """`make demo ARGS=--new-session` was refused: `demo` did not know the option."""
    import subprocess

    from nchat_tui.cli import demo as cmd_demo
    from nchat_tui.cli import main as cli
    from nchat_tui.demo.builder import DemoInfo

    repo = Path(__file__).resolve().parent.parent
    dry = subprocess.run(["make", "-n", "demo", "ARGS=--new-session"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    assert "nchat-tui demo --new-session" in dry
    info = DemoInfo("127.0.0.1", 5999, "postgres", "pw", "nchat", tmp_path, tmp_path,
                    tmp_path / "password", tmp_path / "backups", default_migrations_dir(),
                    0.02, False)
    monkeypatch.setattr(cmd_demo, "ensure_demo", lambda **_: info)
    got: dict[str, Any] = {}

    def fake_run_app(target: Target, **kw: Any) -> int:
        got.update(kw)
        return 0

    import nchat_tui.screens.app as app_mod

    monkeypatch.setattr(app_mod, "run_app", fake_run_app)
    assert cli.main(["demo", "--new-session", "--no-workload"]) == 0
    assert got.get("new_session") is True
    assert cli.main(["demo", "--no-workload", "--upgrade-path", "v0.4.0"]) == 0
    assert got.get("new_session") is False and got.get("path_id") == "v0.4.0"


# -- bug 3 -------------------------------------------------------------------------------------
def test_bug3_rerunning_a_step_reopens_the_steps_that_depend_on_it(tmp_path):
    """Re-running a step left the steps that depend on its result marked done."""
    from nchat_tui.state.journal import Journal
    from nchat_tui.upgrade.checklist import Checklist, StepResult, load_path

    path = load_path("v0.4.0")
    assert "migration.run" in path.step("migration.no-pending").depends_on
    assert "rollback.decide" in path.step("rollback.restore").depends_on
    j = Journal(tmp_path / "journal.jsonl")
    cl = Checklist(path, j)
    for key in ("rollback.decide", "rollback.restore"):
        cl.override(key, "test: gates not under test") if cl.open_gates(key) else None
        cl.start(key)
        cl.finish(key, StepResult("ok", "done"))
    cl.start("rollback.decide")  # a new decision: the rollback done for the old one is stale
    st = cl.state("rollback.restore")
    assert st.state == "pending" and "Choose the way back" in st.summary
    # replayed from the journal, the same
    again = Checklist(path, Journal(j.path))
    assert again.state("rollback.restore").state == "pending"


def test_bug3_a_rollback_undoes_the_migration_steps(tmp_path):
    """After a rollback the phases still said 'Migration 9/9 done', 'Verify no pending ✔'."""
    from nchat_tui.state.journal import Journal
    from nchat_tui.upgrade.checklist import Checklist, StepResult, load_path

    path = load_path("v0.4.0")
    cl = Checklist(path, Journal(tmp_path / "journal.jsonl"))
    for key in ("migration.run", "migration.record", "migration.no-pending", "post.health",
                "post.integrity"):
        if cl.open_gates(key):
            cl.override(key, "test: gates not under test")
        cl.start(key)
        cl.finish(key, StepResult("ok", "done"))
    cl.confirm("migration.deploy")
    cl.override("rollback.restore", "test: gates not under test")
    cl.start("rollback.restore")
    cl.finish("rollback.restore", StepResult("ok", "down migrations ran", reverted=True))
    for key in ("migration.run", "migration.record", "migration.no-pending", "migration.deploy",
                "post.health", "post.integrity"):
        st = cl.state(key)
        assert st.state == "pending", (key, st.state)
        assert "rolled back" in st.summary, st.summary
    assert cl.state("rollback.restore").state == "ok"
    done, total = cl.phase_progress("migration")
    assert done < total


async def test_bug3_home_shows_the_database_as_it_is_after_a_rollback(tmp_path):
    from nchat_tui.screens.app import make_app
    from nchat_tui.screens.home import HomeScreen
    from nchat_tui.upgrade.checklist import StepResult
    from tests.fakes import FakeSession

    s = FakeSession(tmp_path)
    s.status.pending = []  # migrated
    s.status.ledger.applied += PENDING

    def rollback(ctx):
        s.status.pending = list(PENDING)
        return StepResult("ok", "down migrations ran; the schema equals the before-snapshot",
                          {"choice": "down"}, reverted=True)

    s.scripts["rollback"] = rollback
    for key in ("migration.run", "migration.no-pending"):
        if s.checklist.open_gates(key):
            s.checklist.override(key, "test: gates not under test")
        s.checklist.start(key)
        s.checklist.finish(key, StepResult("ok", "done"))
    app = make_app(s, resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Pending migrations: 0" in str(app.screen.query_one("#pending").render())
        s.checklist.override("rollback.restore", "test: the decision is not under test")
        await pilot.press("4")
        await pilot.pause()
        while current_key(app.screen) != "rollback.restore":
            await pilot.press("j")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert "Pending migrations: 4" in str(app.screen.query_one("#pending").render())
        phases = app.screen.query_one("#phases", OptionList)
        migration = str(phases.get_option_at_index(1).prompt)
        assert "9/9" not in migration and "Migration" in migration


# -- bug 4 -------------------------------------------------------------------------------------
def test_bug4_the_report_says_first_that_the_database_was_rolled_back():
    """After a down rollback report.md opened with the run 'ok' and 'Verification: passed'."""
    from nchat_tui.report.markdown import render_report

    t = "2026-11-22T03:%02d:00.000+00:00"
    recs = [
        {"seq": 1, "ts": t % 0, "event": "session_started", "target": "postgres@db:5432/nchat"},
        {"seq": 2, "ts": t % 1, "event": "checklist_opened", "path": "v0.4.0", "title": "x"},
        {"seq": 3, "ts": t % 2, "event": "migrate_finished", "status": "ok",
         "committed": PENDING, "run_id": "r1"},
        {"seq": 4, "ts": t % 3, "event": "verification", "ok": True, "checks": []},
        {"seq": 5, "ts": t % 4, "event": "rollback_decision", "choice": "down", "user": "oncall"},
        {"seq": 6, "ts": t % 5, "event": "rollback_down_finished", "status": "ok",
         "inventory_equal": True, "ledger_equal": True, "user": "oncall"},
    ]
    text = render_report(recs, session_id="s1")
    head = text.split("## Phases and steps", 1)[0]
    first_mention = min(i for i in (head.find("ROLLED BACK"), head.find("Migration run"),
                                    head.find("Verification")) if i >= 0)
    assert head.find("ROLLED BACK") == first_mention, head
    assert "down migrations" in head
    assert "before the rollback" in head  # the verification no longer describes the database


# -- bug 5 -------------------------------------------------------------------------------------
def _bk_progress(**kw: Any) -> Any:
    from nchat_tui.backup.engine import Progress

    base = {"operation": "backup", "kind": "tick", "phase": "data", "tables_total": 43}
    return Progress(**{**base, **kw})


def test_bug5_backup_progress_has_one_fraction_for_bar_bytes_and_eta():
    """'32.4 of ~57.1 MiB written' beside a bar at 81%; '20.7 of ~44.4 MiB' at 8%."""
    import re

    from nchat_tui.upgrade.steps import BackupProgressView

    mib = 1024 ** 2
    clock = [100.0]
    view = BackupProgressView(now=lambda: clock[0])
    seen = []
    est = int(57.1 * mib)  # the engine's guess from an earlier backup's ratio
    events = [
        _bk_progress(kind="phase", phase="snapshot", message="exporting a snapshot"),
        _bk_progress(tables_done=12, bytes_done=int(12.3 * mib), bytes_estimate=est,
                     fraction=0.05, elapsed_s=1),
        _bk_progress(kind="table", table="public.a", tables_done=20,
                     bytes_done=int(20.7 * mib), bytes_estimate=est, fraction=0.08, elapsed_s=2),
        _bk_progress(kind="table", table="public.b", tables_done=28,
                     bytes_done=int(32.4 * mib), bytes_estimate=est, fraction=0.81, elapsed_s=3),
        _bk_progress(tables_done=40, bytes_done=int(38.0 * mib), bytes_estimate=est,
                     fraction=0.90, elapsed_s=4),
        _bk_progress(operation="verify", kind="phase", phase="full-read",
                     message="pg_restore -f /dev/null", elapsed_s=1),
    ]
    for ev in events:
        clock[0] += 1.0
        p = view.update(ev)
        seen.append(p)
        m = re.search(r"([\d.]+) (KiB|MiB|GiB) of ~([\d.]+) (KiB|MiB|GiB)", p.text)
        if p.fraction is not None and m:
            units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}
            shown = float(m.group(1)) * units[m.group(2)] / (float(m.group(3)) * units[m.group(4)])
            assert abs(shown - p.fraction) < 0.02, (p.text, p.fraction)
        pct = re.search(r"(\d+)%", p.text)
        if pct and p.fraction is not None:
            assert abs(int(pct.group(1)) / 100 - p.fraction) <= 0.01, (p.text, p.fraction)
    fracs = [p.fraction for p in seen[1:5]]
    assert all(f is not None for f in fracs)
    known = [f for f in fracs if f is not None]
    assert known == sorted(known), fracs  # never goes backwards
    assert seen[-1].fraction is None  # verification: no made-up percentage
    assert "verif" in seen[-1].text
    assert all("left" not in p.text and "ETA" not in p.text for p in seen[:2])  # too early
    assert any("left" in p.text and "verification" in p.text for p in seen[2:5]), \
        [p.text for p in seen]


async def test_a_narrow_terminal_still_shows_quit_and_help_on_the_home_footer(tmp_path):
    """At 60 columns the home footer cut `q Quit` and `? Help` (the app's keys come after the
    screen's, and the footer cuts from the right)."""
    from nchat_tui.screens.app import make_app
    from nchat_tui.screens.home import HomeScreen
    from tests.fakes import FakeSession

    app = make_app(FakeSession(tmp_path), resume=False)
    async with app.run_test(size=(60, 20)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        footer = [strip.text for strip in app.screen._compositor.render_strips()][-1]
        assert "Quit" in footer and "Help" in footer, footer
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HomeScreen)  # the key still opens the help
