"""The upgrade report: a real session (checklist steps, a real backup, the real runner, the
verification) rendered as Markdown, with no password anywhere in it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nchat_tui.backup.engine import run_backup
from nchat_tui.migrate.runner import Runner, RunOptions
from nchat_tui.pg.target import Target
from nchat_tui.report.markdown import render_report, save_report, session_dir_for
from nchat_tui.state.journal import Journal
from nchat_tui.upgrade.session import UpgradeSession
from nchat_tui.verify.engine import verify_upgrade
from tests.conftest import TEST_PASSWORD as PASSWORD
from tests.test_verify import prepare_v030


def test_report_of_a_real_session_holds_no_password(target: Target, tmp_path: Path) -> None:
    t = prepare_v030(target, tmp_path)
    session = UpgradeSession(t, path_id="v0.4.0")
    j = session.journal
    session.run_step("pre.connect")
    session.checklist.confirm("pre.read-guide", "read on the wiki")
    session.checklist.override("migration.review-sql", "reviewed in PR 42 by the DBA team")
    b = run_backup(t, journal=j)
    time.sleep(0.01)
    res = Runner(t, RunOptions(), journal=j).run()
    assert res.status == "ok"
    rep = verify_upgrade(t, journal=j)
    assert rep.ok
    # A record written by something that forgot to scrub (or an older version): the report
    # must scrub again.
    with open(j.path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"seq": 999, "ts": "2026-11-22T05:00:00+00:00", "event": "note",
                            "dsn": f"postgresql://postgres:{PASSWORD}@127.0.0.1/x",
                            "text": f"host=h password={PASSWORD}"}) + "\n")
    sdir = session_dir_for(t.state_dir, t.masked())
    assert sdir == j.path.parent
    out = save_report(sdir, backup_dir=t.backup_dir)
    text = out.read_text()
    assert PASSWORD not in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert t.masked() in text
    assert "Connect, check server version" in text and "| ok |" in text
    assert "reviewed in PR 42 by the DBA team" in text  # the override's reason
    assert "read on the wiki" in text
    assert Path(b.path).name in text and b.sha256 in text  # the manifest summary
    assert "014_e2ee_system.sql" in text  # the migration run
    assert "## Verification" in text and "seed004.new_indexes" in text
    assert "PostgreSQL server | 15" in text


def test_report_cli_writes_file_and_never_the_password(target: Target, tmp_path: Path) -> None:
    from nchat_tui.cli.main import main

    j = Journal.for_target(target.state_dir, target.masked())
    j.append("decision", title="restore or down?", answer="down", asked=True,
             dsn=target.conninfo())
    out = tmp_path / "ticket.md"
    rc = main(["--dsn", target.conninfo(), "--state-dir", str(target.state_dir), "report",
               "--output", str(out)])
    assert rc == 0
    text = out.read_text()
    assert PASSWORD not in text
    assert "restore or down?" in text


def test_render_masks_literal_secrets() -> None:
    recs = [{"seq": 1, "ts": "2026-11-22T05:00:00+00:00", "event": "session_started",
             "target": "u@h:5432/db", "user": "op", "host": "box"},
            {"seq": 2, "ts": "2026-11-22T05:00:01+00:00", "event": "odd", "msg": "s3cr3t!"}]
    assert "s3cr3t!" not in render_report(recs, secrets=["s3cr3t!"])


def test_decisions_say_who_answered() -> None:
    base = {"user": "op", "title": "Choose the way back"}
    recs = [{"seq": 1, "ts": "2026-11-22T05:00:00+00:00", "event": "session_started",
             "target": "u@h:5432/db", "user": "op", "host": "box"},
            {"seq": 2, "ts": "2026-11-22T05:00:01+00:00", "event": "decision", **base,
             "answer": "down", "asked": True},
            {"seq": 3, "ts": "2026-11-22T05:00:02+00:00", "event": "decision", **base,
             "answer": "none", "asked": False},
            {"seq": 4, "ts": "2026-11-22T05:00:03+00:00", "event": "decision", **base,
             "answer": "none", "asked": False, "unanswered": "the app closed"}]
    rows = [ln for ln in render_report(recs).splitlines() if "| decision |" in ln]
    assert rows[0].endswith("| down |")
    assert rows[1].endswith("| none (default: nobody to ask) |")
    assert "none (UNANSWERED: the app closed on the question" in rows[2]


def test_the_report_reads_the_manifest_only_from_the_backup_directory(tmp_path: Path) -> None:
    """A journal edited by hand names a backup elsewhere: the report says so and does not read
    (or print) the file next to it; the same journal naming a file inside the backup
    directory has its manifest in the report."""
    backups = tmp_path / "backups"
    elsewhere = tmp_path / "elsewhere"
    for d in (backups, elsewhere):
        d.mkdir()
        (d / "nchat-1.manifest.json").write_text(json.dumps(
            {"file": str(d / "nchat-1.dump"), "sha256": f"sha-of-{d.name}", "state": "verified"}))
    def recs(d: Path) -> list[dict[str, object]]:
        return [{"seq": 1, "ts": "2026-11-22T05:00:00+00:00", "event": "backup_finished",
                 "file": str(d / "nchat-1.dump")}]

    inside = render_report(recs(backups), backup_dir=backups)
    assert "sha-of-backups" in inside and "Manifest not read" not in inside
    outside = render_report(recs(elsewhere), backup_dir=backups)
    assert "sha-of-elsewhere" not in outside
    assert "Manifest not read" in outside and "outside the backup directory" in outside
    dotdot = render_report([{**recs(backups)[0], "file": str(backups / ".." / "elsewhere" /
                                                         "nchat-1.dump")}],
                           backup_dir=backups)
    assert "sha-of-elsewhere" not in dotdot and "Manifest not read" in dotdot
