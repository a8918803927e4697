"""The down rollback after an upgrade compares with the right before-snapshot (issue 10 item 3),
and the migration gate orders a backup against the ledger within one second (item 9); on real
PostgreSQL, through the CLI as an operator runs it: backup, migrate, the post-migration backup
the gate asks for, then ``rollback --down``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from nchat_tui.backup.engine import manifest_path_for, run_backup
from nchat_tui.cli.main import main
from nchat_tui.errors import Refused
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.migrate.runner import check_gate
from nchat_tui.pg.target import Target
from tests.test_verify import with_migrations

FILES = {
    "001_base.sql": "CREATE TABLE nchat_users (id int PRIMARY KEY, name text NOT NULL);\n"
                    "INSERT INTO nchat_users SELECT g, 'u' || g FROM generate_series(1, 20) g;\n",
    "002_channels.sql": "CREATE TABLE nchat_channels (id int PRIMARY KEY, name varchar(20) "
                        "NOT NULL CHECK (name IN ('general', 'random')));\n"
                        "ALTER TABLE nchat_users ADD COLUMN channel_id int "
                        "REFERENCES nchat_channels(id);\n",
    "002_channels.down.sql": "ALTER TABLE nchat_users DROP COLUMN channel_id;\n"
                             "DROP TABLE nchat_channels;\n",
    "003_reactions.sql": "CREATE TABLE nchat_reactions (id int PRIMARY KEY, emoji text);\n"
                         "CREATE INDEX idx_reactions_emoji ON nchat_reactions (emoji);\n",
    "003_reactions.down.sql": "DROP TABLE nchat_reactions;\n",
}


@pytest.fixture
def project(target: Target, tmp_path: Path) -> Target:
    d = tmp_path / "migrations"
    d.mkdir()
    for name, text in FILES.items():
        (d / name).write_text(text)
    return with_migrations(target, d)


def cli(t: Target, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    rc = main(["--dsn", t.conninfo(), "--migrations", str(t.migrations_dir), "--backup-dir",
               str(t.backup_dir), "--state-dir", str(t.state_dir), *argv])
    cap = capsys.readouterr()
    try:
        return rc, json.loads(cap.out)
    except ValueError:
        return rc, cap.out + cap.err


def tables(t: Target) -> set[str]:
    with t.connect("test") as c:
        return {r[0] for r in c.execute("SELECT relname FROM pg_class WHERE relkind = 'r' "
                                        "AND relnamespace = 'public'::regnamespace")}


def test_down_after_a_post_migration_backup_reverts_the_upgrade(
        project: Target, capsys: pytest.CaptureFixture[str]) -> None:
    t = project
    assert cli(t, capsys, "migrate", "--yes", "--to", "001", "--without-backup",
               "fresh test database")[0] == 0
    rc, pre = cli(t, capsys, "backup", "--json")                # before the upgrade
    rc, out = cli(t, capsys, "migrate", "--yes", "--json")     # the upgrade: 002 and 003
    assert rc == 0 and out["committed"] == ["002_channels.sql", "003_reactions.sql"], out
    assert cli(t, capsys, "backup", "--json")[0] == 0          # after it: what the gate wants
    # The decision facts read the same before-snapshot: the schema did change, the down
    # files revert the upgrade, and the backup to restore is the one taken before it.
    rc, facts = cli(t, capsys, "rollback", "--json")
    assert rc == 0 and facts["schema_changed"] is True, facts
    assert facts["applied"] == ["002_channels.sql", "003_reactions.sql"]
    assert facts["down"]["available"] is True and facts["recommended"] == "down"
    assert facts["restore"]["manifest"] == str(manifest_path_for(Path(pre["path"])))
    # The reported failure: "nothing to do", ok, exit 0, nothing reverted.
    rc, out = cli(t, capsys, "rollback", "--down", "--yes", "--json")
    assert rc == 0, out
    assert out["run"]["status"] == "ok", out
    assert out["run"]["committed"] == ["003_reactions.down.sql", "002_channels.down.sql"]
    assert out["to_version"] == "001_base.sql"
    assert out["inventory_equal"] is True and out["ledger_equal"] is True, out["differences"]
    assert out["plan"]["run"]["files"] == ["002_channels.sql", "003_reactions.sql"]
    assert "the before-snapshot of run" in out["plan"]["reason"]
    assert tables(t) == {"nchat_users"}
    # Nothing applied after the target any more: "nothing to do", saying what it read.
    rc, out = cli(t, capsys, "rollback", "--down", "--to", "001", "--yes")
    assert rc == 0 and out.startswith("nothing to do: no file is applied after 001 (read 1 "
                                      "session journal(s)"), out
    # The run before that one applied 001 without a backup: no before-snapshot, said so.
    rc, out = cli(t, capsys, "rollback", "--down", "--yes")
    assert rc == 2 and "applied 001_base.sql without a backup" in out, out


def test_down_to_a_version_compares_with_the_snapshot_plus_what_stays(
        project: Target, capsys: pytest.CaptureFixture[str]) -> None:
    t = project
    assert cli(t, capsys, "migrate", "--yes", "--to", "001", "--without-backup",
               "fresh test database")[0] == 0
    assert cli(t, capsys, "backup", "--json")[0] == 0
    assert cli(t, capsys, "migrate", "--yes")[0] == 0
    assert cli(t, capsys, "backup", "--json")[0] == 0
    # With --to the old code ran 003's down file, then reported a mismatch against the
    # post-migration backup.
    rc, out = cli(t, capsys, "rollback", "--down", "--to", "002", "--yes", "--json")
    assert rc == 0, out
    assert out["run"]["committed"] == ["003_reactions.down.sql"]
    assert out["plan"]["extra"] == ["002_channels.sql"]   # applied, not in the snapshot
    assert out["inventory_equal"] is True and out["ledger_equal"] is True, out["differences"]
    assert tables(t) == {"nchat_users", "nchat_channels"}
    # A down run that leaves the database other than expected is caught: revert 002 while
    # something else is also gone.
    assert cli(t, capsys, "backup", "--json")[0] == 0
    with t.connect("test") as c:
        c.execute("CREATE INDEX idx_users_name ON nchat_users (name)")
    assert cli(t, capsys, "backup", "--json")[0] == 0
    rc, out = cli(t, capsys, "rollback", "--down", "--yes", "--json")
    assert out["run"]["committed"] == ["002_channels.down.sql"]
    assert rc == 1 and out["inventory_equal"] is False
    assert "public.idx_users_name" in out["differences"]["indexes"]["added"]


def test_down_refuses_an_explicit_snapshot_of_a_later_state(
        project: Target, capsys: pytest.CaptureFixture[str]) -> None:
    t = project
    assert cli(t, capsys, "migrate", "--yes", "--to", "001", "--without-backup", "test")[0] == 0
    assert cli(t, capsys, "backup", "--json")[0] == 0
    assert cli(t, capsys, "migrate", "--yes")[0] == 0
    rc, post = cli(t, capsys, "backup", "--json")
    rc, out = cli(t, capsys, "rollback", "--down", "--to", "001", "--yes", "--json",
                  "--against", str(manifest_path_for(Path(post["path"]))))
    assert rc == 2 and "describes a later state" in out["message"], out
    assert tables(t) == {"nchat_users", "nchat_channels", "nchat_reactions"}  # nothing ran


# ---------------------------------------------------------------------------------------------
# issue 10 item 9: a backup in the same second as the last ledger change
# ---------------------------------------------------------------------------------------------
def _rewrite_times(dump: Path, started: str, taken: str | None = None) -> None:
    mpath = manifest_path_for(dump)
    m = json.loads(mpath.read_text())
    m["started_at"] = started
    if taken is not None:
        m["snapshot"]["taken_at"] = taken
    mpath.write_text(json.dumps(m))


def _gate(t: Target) -> dict[str, Any]:
    with t.connect("test gate") as conn:
        return check_gate(t, conn, detect_ledger(conn), without_backup=None, journal=None,
                          recheck=False)


def _latest(t: Target) -> dt.datetime:
    with t.connect("test") as conn:
        latest = detect_ledger(conn).latest_change()
    assert latest is not None
    return latest


def test_gate_orders_a_backup_within_the_second_of_the_ledger_change(
        project: Target, capsys: pytest.CaptureFixture[str]) -> None:
    t = project
    assert cli(t, capsys, "migrate", "--yes", "--to", "001", "--without-backup", "test")[0] == 0
    dump = Path(run_backup(t).path)  # at once: no pause for the clock to turn
    latest = _latest(t)
    assert _gate(t)["backup"] == str(dump)
    same_second = latest.replace(microsecond=0).isoformat()
    # A manifest with whole seconds (as written before sub-second times) in the same second
    # as the ledger change: its snapshot's server time orders them.
    _rewrite_times(dump, same_second)
    assert _gate(t)["backup_time_from"] == "snapshot taken_at"
    # Both in whole seconds, the same second: the ledger rows the snapshot recorded decide.
    _rewrite_times(dump, same_second, same_second)
    assert _gate(t)["backup_time_from"] == "snapshot taken_at"
    # A ledger change after the backup in that same second is not let through.
    assert cli(t, capsys, "migrate", "--yes", "--to", "002", "--without-backup", "test")[0] == 0
    later = _latest(t).replace(microsecond=0).isoformat()
    _rewrite_times(dump, later, later)
    with pytest.raises(Refused, match="another migration state"):
        _gate(t)
    # One second earlier than the change: older, refused by time.
    earlier = (_latest(t).replace(microsecond=0) - dt.timedelta(seconds=1)).isoformat()
    _rewrite_times(dump, earlier, earlier)
    with pytest.raises(Refused, match="older than the ledger's latest change"):
        _gate(t)


def test_manifest_times_have_sub_second_precision(project: Target) -> None:
    dump = Path(run_backup(project, verify=False, check_space=False).path)
    m = json.loads(manifest_path_for(dump).read_text())
    for k in ("started_at", "finished_at"):
        assert dt.datetime.fromisoformat(m[k]).tzinfo is not None
        assert "." in m[k].split("T")[1], m[k]
