"""The rehearsal: restore the latest verified backup into a scratch database, migrate, revert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.backup.engine import run_backup
from nchat_tui.errors import Refused
from nchat_tui.migrate.rehearse import rehearse
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal

Conn = psycopg.Connection[Any]


def _databases(conn: Conn, like: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                       (like,)).fetchall()]


def _setup(pg_conn: Conn, tmp_path: Path, target: Target, files: dict[str, str]) -> Target:
    pg_conn.execute("""
        CREATE TABLE nchat_messages (id bigserial PRIMARY KEY, channel int, body text);
        INSERT INTO nchat_messages (channel, body)
            SELECT g % 50, repeat('m', 80) FROM generate_series(1, 20000) g;
        ANALYZE nchat_messages;
    """)
    d = tmp_path / "migrations"
    d.mkdir()
    for n, body in files.items():
        (d / n).write_text(body)
    t = Target(**{**target.__dict__, "migrations_dir": d})
    run_backup(t, verify=True, check_space=False)
    return t


def test_rehearsal_times_migrates_reverts_and_drops_the_scratch(target: Target, pg_conn: Conn,
                                                                tmp_path: Path) -> None:
    t = _setup(pg_conn, tmp_path, target, {
        "013_e2ee.sql": "CREATE TABLE nchat_keys (id int PRIMARY KEY);\n"
                        "ALTER TABLE nchat_messages ADD COLUMN is_encrypted boolean "
                        "NOT NULL DEFAULT false;\n",
        "013_e2ee.down.sql": "ALTER TABLE nchat_messages DROP COLUMN is_encrypted;\n"
                             "DROP TABLE nchat_keys;\n",
        "014_idx.sql": "CREATE INDEX CONCURRENTLY nchat_messages_channel ON nchat_messages "
                       "(channel);\n",
        "014_idx.down.sql": "DROP INDEX CONCURRENTLY nchat_messages_channel;\n",
    })
    j = Journal(tmp_path / "journal.jsonl")
    res = rehearse(t, journal=j)
    assert res.status == "ok", res.to_dict()
    assert res.dropped and _databases(pg_conn, "%rehearse%") == []
    assert res.up is not None and res.up["committed"] == ["013_e2ee.sql", "014_idx.sql"]
    assert res.down is not None and res.down["committed"] == ["014_idx.down.sql",
                                                              "013_e2ee.down.sql"]
    assert res.missing_objects == [] and res.inventory_differences == []
    assert len(res.slowest) == 3 and res.slowest[0].duration_ms >= res.slowest[-1].duration_ms
    assert res.estimate_s is not None and res.size_ratio is not None
    # the target itself was never touched
    assert pg_conn.execute("SELECT to_regclass('nchat_keys')").fetchone() == (None,)
    assert j.last("rehearse_finished") is not None


def test_rehearsal_reports_a_down_that_leaves_things_behind(target: Target, pg_conn: Conn,
                                                            tmp_path: Path) -> None:
    t = _setup(pg_conn, tmp_path, target, {
        "013_a.sql": "CREATE TABLE a (id int);\nCREATE INDEX a_id ON a (id);\n",
        "013_a.down.sql": "DROP INDEX a_id;\n",  # forgets the table
    })
    res = rehearse(t)
    assert res.status == "mismatch" and res.dropped
    assert any("tables public.a" in d and "left behind" in d for d in res.inventory_differences)


def test_rehearsal_reports_a_failing_migration(target: Target, pg_conn: Conn,
                                               tmp_path: Path) -> None:
    t = _setup(pg_conn, tmp_path, target, {"013_bad.sql": "ALTER TABLE nope ADD COLUMN x int;\n"})
    res = rehearse(t)
    assert res.status == "failed" and res.dropped and res.exit_code == 1
    assert res.up is not None and res.up["error"]["sqlstate"] == "42P01"
    assert _databases(pg_conn, "%rehearse%") == []


def test_rehearsal_needs_a_verified_backup(target: Target, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    t = Target(**{**target.__dict__, "migrations_dir": d})
    with pytest.raises(Refused, match="no verified backup"):
        rehearse(t)
