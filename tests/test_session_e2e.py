"""The whole v0.4.0 upgrade driven through the session, as the app drives it, on a real demo.

Every automated step of the checklist runs its real engine (pg_dump, the runner, verification,
VACUUM, the rollback decision and the down rollback) against a small demo database; questions
are answered by a scripted operator.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.pg.target import resolve_target
from nchat_tui.upgrade.actions import Question
from nchat_tui.upgrade.session import UpgradeSession


@pytest.fixture
def demo_target(pg_db, tmp_path):
    load_demo(pg_db, scale=0.02)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    return resolve_target(dsn=dsn, migrations=default_migrations_dir(),
                          backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                          environ={})


def test_full_upgrade_then_down_rollback(demo_target):
    asked: list[str] = []
    answers = {"Choose the way back": "down", "VACUUM ANALYZE and refresh": "go",
               "Run the production migration": "run", "Run the down migrations": "run"}

    def operator(q: Question) -> str:
        asked.append(q.title)
        return answers.get(q.title, q.default)

    s = UpgradeSession(demo_target, path_id="v0.4.0")
    assert s.banner().pending == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                                     "015_voice_calls.sql", "016_live_streaming.sql"]

    def run(key: str) -> str:
        st = s.run_step(key, ask=operator)
        return st.state

    for key in ("pre.connect", "pre.ledger", "pre.pending", "pre.disk"):
        assert run(key) in ("ok", "warn"), (key, s.checklist.state(key).summary)
    from nchat_tui.upgrade.checklist import ChecklistError

    with pytest.raises(ChecklistError, match="gated"):  # no verified backup yet
        run("migration.run")
    assert run("pre.backup") == "ok", s.checklist.state("pre.backup").summary
    backup = Path(s.checklist.state("pre.backup").evidence["path"])
    assert backup.is_file() and oct(backup.stat().st_mode & 0o777) == "0o600"
    assert run("migration.review-sql") in ("ok", "warn")
    time.sleep(1.1)  # the gate compares whole seconds of the backup against the ledger
    assert run("migration.dry-run") == "ok", s.checklist.state("migration.dry-run").summary
    # The app asks before the production run and shows what it locks and the rehearsal's
    # estimate (from the journal: it survives a restart of the app); "not now" changes nothing.
    s.cache.rehearsal_estimate_s = None
    put: list[Question] = []

    def not_now(q: Question) -> str:
        put.append(q)
        return "no"

    st = s.run_step("migration.run", ask=not_now)
    assert st.state == "failed" and "declined" in st.summary
    # what the rehearsal measured, and the margin production adds (lock waits)
    assert "the rehearsal ran them in" in put[0].text and "a floor, not a promise" in put[0].text
    assert "may wait up to 5 s for its lock" in put[0].text
    assert s.refresh_banner().pending == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                                             "015_voice_calls.sql", "016_live_streaming.sql"]
    s.checklist.reset("migration.run", "declined, now running it")
    assert run("migration.run") == "ok", s.checklist.state("migration.run").summary
    assert "Run the production migration" in asked
    locks = s.checklist.state("migration.run").evidence["confirmed"]["locks"]
    assert any(lock.startswith("ACCESS EXCLUSIVE on nchat_messages") for lock in locks), locks
    assert run("migration.record") == "ok"
    assert run("migration.no-pending") == "ok"
    assert run("post.health") in ("ok", "warn"), s.checklist.state("post.health").summary
    assert run("post.integrity") == "ok", s.checklist.state("post.integrity").summary
    assert run("post.vacuum") == "ok", s.checklist.state("post.vacuum").summary
    assert "VACUUM ANALYZE and refresh" in asked
    # The way back: the operator picks the down migrations, which return the schema exactly.
    # The app closing on the question is nobody's choice: no decision is recorded or used.
    from nchat_tui.upgrade.actions import DefaultAnswer

    st = s.run_step("rollback.decide", ask=lambda q: DefaultAnswer(q.default))
    assert st.state == "failed" and "waited for an answer" in st.summary
    assert s.journal.last("rollback_decision") is None and s.cache.rollback_choice is None
    s.checklist.reset("rollback.decide", "asking again")
    assert run("rollback.decide") == "ok"
    assert s.checklist.state("rollback.decide").evidence["choice"] == "down"
    # Without a backup newer than the migration the gate refuses the down run: said at once,
    # with the way to fix it in the app, and without asking a question first.
    early: list[str] = []
    def no_to(q: Question) -> str:
        early.append(q.title)
        return "no"

    st = s.run_step("rollback.restore", ask=no_to)
    assert st.state == "failed" and "older than the ledger" in st.summary, st.summary
    assert "Back up and verify the database" in st.summary and early == []
    time.sleep(1.1)
    # The down path has the same backup gate. The backup from before the migration is not
    # offered for reuse (the gate would refuse it); the fresh one is, with what came since.
    offered: list[Question] = []

    def take_new(q: Question) -> str:
        offered.append(q)
        return "new"

    s.checklist.reset("pre.backup", "a backup newer than the migration")
    assert s.run_step("pre.backup", ask=take_new).state == "ok"
    assert offered == []
    s.checklist.reset("pre.backup", "offered the fresh one")
    assert s.run_step("pre.backup", ask=take_new).state == "ok"
    assert [q.title for q in offered] == ["A verified backup exists"]
    assert "Written since it (statistics counters): about " in offered[0].text
    s.checklist.reset("rollback.restore", "after the fresh backup")
    st = s.run_step("rollback.restore", ask=operator)
    assert st.state == "ok", st.summary
    assert s.refresh_banner().pending == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                                             "015_voice_calls.sql", "016_live_streaming.sql"]
    decision = s.journal.last("rollback_decision")
    assert decision is not None and decision["choice"] == "down"
    assert "Run the down migrations" in asked


def test_the_gate_refuses_before_the_question_with_the_fix_that_applies(demo_target):
    """The app checks the gate before asking: a missing backup points to the backup step of
    the app; any other refusal keeps the gate's own hint."""
    import psycopg

    from nchat_tui.upgrade.actions import ActionContext
    from nchat_tui.upgrade.steps import GATE_HOWTO, _gate_refusal

    ctx = ActionContext(demo_target, None)
    refused = _gate_refusal(ctx, without_backup=None)
    assert refused is not None and refused.status == "failed"
    assert "no verified backup" in refused.summary and GATE_HOWTO in refused.summary

    with psycopg.connect(**demo_target.params, application_name="pg_dump"):
        refused = _gate_refusal(ctx, without_backup="maintenance window, backup by the DBA")
    assert refused is not None and "a pg_dump is reading" in refused.summary
    assert GATE_HOWTO not in refused.summary and "wait for the backup to finish" in refused.summary
    assert _gate_refusal(ctx, without_backup="maintenance window, backup by the DBA") is None


def test_the_app_asks_before_running_files_that_need_missing_objects(demo_target, tmp_path):
    """The catalog preflight in the app: a question naming what the database lacks, Enter
    (the default) stops with nothing run; running anyway is a danger choice with a typed word."""
    import shutil
    from dataclasses import replace

    import psycopg

    mig = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), mig)
    (mig / "017_app_schema.sql").write_text("CREATE TABLE billing.audit_trail (id int);\n")
    t = replace(demo_target, migrations_dir=mig)
    asked: list[Question] = []

    def operator(q: Question) -> str:
        asked.append(q)
        return "run" if q.title == "Run the production migration" else q.default

    s = UpgradeSession(t, path_id="v0.4.0")
    for key in ("pre.connect", "pre.ledger", "pre.pending", "pre.disk", "pre.backup",
                "migration.review-sql"):
        assert s.run_step(key, ask=operator).state in ("ok", "warn"), key
    st = s.run_step("migration.run", ask=operator)
    titles = [q.title for q in asked] + [st.summary]
    assert "The database lacks what the files need" in titles, titles
    q = next(q for q in asked if q.title == "The database lacks what the files need")
    assert "017_app_schema.sql" in q.text and "billing" in q.text
    assert q.default == "stop" and q.danger == ("run",) and q.confirm_word == "run anyway"
    assert st.state == "failed", st.summary
    with psycopg.connect(**t.params) as c:  # nothing ran: 013 is still pending
        assert c.execute("SELECT to_regclass('public.nchat_identity_keys')").fetchone() == (None,)
    events = [r.get("event") for r in s.journal.records()]
    assert "migrate_refused_by_preflight" in events
