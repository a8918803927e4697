"""``migrate --runner nself`` against a STAND-IN ``nself`` script (not the real CLI).

The stand-in reproduces the documented behaviour of the nself CLI (``/work/shared/NCHAT.md``):
Go v1.4/v1.5 wrap each file in BEGIN ... COMMIT with the two ledger inserts, in plain name
order, print ``Applied N migration(s).`` / ``No pending migrations.``, and fail with exit 1
(v1.4) or exit 2 and ``[E201]`` (v1.5); the Bash v0.9 CLI runs files without a transaction or
ON_ERROR_STOP and records every file as applied, and its ``status`` shows everything pending.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.migrate.nself import generation, parse_status, run_with_nself
from nchat_tui.pg.target import Target
from nchat_tui.state.journal import Journal

Conn = psycopg.Connection[Any]

STAND_IN = r'''
import hashlib, os, sys
from pathlib import Path
import psycopg
from pglast.parser import split

mode = os.environ.get("NSELF_FAKE_MODE", "go15")
args = sys.argv[1:]
if args[:2] == ["version", "--short"]:
    print({"go14": "1.4.2", "go15": "1.5.0", "bash": "0.9.8"}[mode])
    sys.exit(0)
mdir = Path("migrations")
files = sorted(p.name for p in mdir.glob("*.sql") if not p.name.endswith(".down.sql"))
conn = psycopg.connect("", autocommit=True)
if mode == "bash":
    conn.execute("CREATE TABLE IF NOT EXISTS public.schema_migrations (version BIGINT PRIMARY KEY,"
                 " name TEXT, applied_at TIMESTAMPTZ DEFAULT now())")
    applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
else:
    conn.execute("CREATE SCHEMA IF NOT EXISTS np_common; CREATE TABLE IF NOT EXISTS "
                 "np_common.schema_versions (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT "
                 "NULL DEFAULT now()); CREATE SCHEMA IF NOT EXISTS nself_ops; CREATE TABLE IF NOT "
                 "EXISTS nself_ops.migrations (id TEXT PRIMARY KEY, name TEXT NOT NULL, checksum "
                 "TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_by TEXT, "
                 "duration_ms INT, rolled_back_at TIMESTAMPTZ)")
    applied = {r[0] for r in conn.execute("SELECT name FROM np_common.schema_versions")}
if args[:3] == ["db", "migrate", "status"]:
    print("MIGRATION                      STATUS     APPLIED AT")
    for f in files:
        st = "pending" if mode == "bash" else ("applied" if f in applied else "pending")
        print(f"{f:<30} {st:<10} -")
    sys.exit(0)
if args[:3] == ["db", "migrate", "up"]:
    todo = [f for f in files if f not in applied]
    if not todo:
        print("No pending migrations.")
        sys.exit(0)
    n = 0
    for f in todo:
        text = (mdir / f).read_text()
        if mode == "bash":
            for stmt in split(text):
                try:
                    conn.execute(stmt)
                except psycopg.Error as exc:
                    print(f"psql:{f}: ERROR:  {exc.diag.message_primary}", file=sys.stderr)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         (int(f.split("_")[0]), f))
            print(f"  Applied {f}")
            n += 1
            continue
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '5s'")
                conn.execute(text)
                conn.execute("INSERT INTO np_common.schema_versions (name) VALUES (%s)", (f,))
                conn.execute("INSERT INTO nself_ops.migrations (id, name, checksum) VALUES "
                             "(%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                             (f.split("_")[0], f, hashlib.sha256((mdir / f).read_bytes()).hexdigest()))
            n += 1
        except psycopg.Error as exc:
            if mode == "go15":
                print(f"[E201] migration {f} failed: {exc.diag.message_primary}", file=sys.stderr)
                sys.exit(2)
            print(f"Error: migration {f} failed: {exc.diag.message_primary}", file=sys.stderr)
            sys.exit(1)
    print(f"Applied {n} migration(s).")
    sys.exit(0)
sys.exit(64)
'''


@pytest.fixture
def backend(tmp_path: Path, target: Target, pg_db: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Target:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "nself"
    exe.write_text(f"#!{sys.executable}\n" + STAND_IN)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    bdir = tmp_path / "backend"
    (bdir / "migrations").mkdir(parents=True)
    return Target(**{**target.__dict__, "backend_dir": bdir, "migrations_dir": bdir / "migrations"})


def _files(t: Target, files: dict[str, str]) -> None:
    assert t.migrations_dir is not None
    for n, body in files.items():
        (t.migrations_dir / n).write_text(body)


def test_parsers() -> None:
    assert parse_status("MIGRATION  STATUS  APPLIED AT\n001_a.sql  applied  2026-01-01\n"
                        "002_b.sql   pending  -\n") == {"001_a.sql": "applied",
                                                        "002_b.sql": "pending"}
    assert (generation("1.5.0"), generation("v0.9.8"), generation(None)) == ("go", "bash",
                                                                               "unknown")


def test_go_cli_applies_and_the_ledger_agrees(backend: Target, pg_conn: Conn,
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("NSELF_FAKE_MODE", "go15")
    _files(backend, {"001_a.sql": "CREATE TABLE a (id int);",
                     "002_b.sql": "ALTER TABLE a ADD COLUMN b int;"})
    j = Journal(tmp_path / "j.jsonl")
    res = run_with_nself(backend, journal=j, without_backup="stand-in test")
    assert res.status == "ok" and res.cli_version == "1.5.0" and res.cli_generation == "go"
    assert res.applied_reported == 2 and res.recorded_now == ["001_a.sql", "002_b.sql"]
    assert res.recorded_but_missing == {} and res.still_pending == []
    assert j.last("nself_migrate_finished") is not None
    res2 = run_with_nself(backend, without_backup="stand-in test")
    assert res2.status == "nothing_to_do"


def test_go_15_failure_exit_2_with_error_code(backend: Target, pg_conn: Conn,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSELF_FAKE_MODE", "go15")
    _files(backend, {"001_a.sql": "CREATE TABLE a (id int);",
                     "002_bad.sql": "CREATE TABLE b (id int);\nSELECT * FROM nope;"})
    res = run_with_nself(backend, without_backup="stand-in test")
    assert res.status == "failed" and res.exit_code == 1
    assert (res.exit_code_nself, res.error_code) == (2, "E201")
    assert res.recorded_now == ["001_a.sql"] and res.still_pending == ["002_bad.sql"]


def test_bash_cli_records_a_failed_file_and_we_catch_it(backend: Target, pg_conn: Conn,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSELF_FAKE_MODE", "bash")
    pg_conn.execute("CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, "
                    "name TEXT, applied_at TIMESTAMPTZ DEFAULT now())")
    _files(backend, {"013_ok.sql": "CREATE TABLE ok (id int);"})
    first = run_with_nself(backend, without_backup="stand-in test")
    assert first.status == "ok" and first.recorded_now == ["013_ok.sql"]
    _files(backend, {"014_broken.sql": "CREATE TABLE broken (id int REFERENCES missing (id));\n"
                                       "ALTER TABLE ok ADD COLUMN flag boolean;"})
    res = run_with_nself(backend, without_backup="stand-in test")
    assert res.exit_code_nself == 0 and res.cli_generation == "bash"
    assert res.recorded_now == ["014_broken.sql"]  # recorded although its first statement failed
    assert res.recorded_but_missing == {"014_broken.sql": ["broken"]}
    assert res.status == "failed" and res.exit_code == 1
    assert res.status_disagreements == ["013_ok.sql: nself says pending, the ledger says applied"]
    assert any("grep bug" in n for n in res.notes)
    assert any("recorded a failed migration" in n for n in res.notes)
