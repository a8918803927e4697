"""The headless CLI contract: `status --json` for each ledger kind, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nchat_tui.pg.cluster import free_port

MIGRATION_NAMES = [
    "003_users.sql", "0007_channels.sql", "00013_e2ee.sql",
    "20260203070900_calls.up.sql", "20260203070900_calls.down.sql",
    "014_more.sql", "014_more.down.sql",
]


def _cli(*args: str, env: dict[str, str] | None = None, cwd: str = "/tmp"):
    return subprocess.run([sys.executable, "-m", "nchat_tui", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=60)


def _dsn(pg_db: dict[str, str]) -> str:
    return (f"host=127.0.0.1 port={pg_db['port']} user=postgres dbname={pg_db['dbname']} "
            f"password={pg_db['password']}")


@pytest.fixture
def mdir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    for n in MIGRATION_NAMES:
        (d / n).write_text(f"-- {n}\nSELECT 1;\n")
    return d


LEDGERS = {
    "go": [
        "CREATE SCHEMA np_common; CREATE SCHEMA nself_ops;",
        "CREATE TABLE np_common.schema_versions (name TEXT PRIMARY KEY, "
        "applied_at TIMESTAMPTZ DEFAULT now())",
        "CREATE TABLE nself_ops.migrations (id TEXT PRIMARY KEY, name TEXT, checksum TEXT, "
        "applied_at TIMESTAMPTZ DEFAULT now(), applied_by TEXT, duration_ms INT, "
        "rolled_back_at TIMESTAMPTZ)",
        "INSERT INTO np_common.schema_versions(name) VALUES ('003_users.sql'), "
        "('0007_channels.sql')",
    ],
    "bash": [
        "CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, name TEXT, "
        "applied_at TIMESTAMPTZ DEFAULT now())",
        "INSERT INTO schema_migrations(version, name) VALUES (3, 'users'), (7, 'channels')",
    ],
    "guide": [
        "CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY, "
        "executed_at TIMESTAMPTZ DEFAULT now())",
        "INSERT INTO schema_migrations(version) VALUES (3), (7)",
    ],
}


@pytest.mark.parametrize("kind", ["go", "bash", "guide"])
def test_status_json_reports_ledger_and_pending_in_numeric_order(pg_conn, pg_db, mdir, kind):
    for stmt in LEDGERS[kind]:
        pg_conn.execute(stmt)
    if kind == "go":
        # Plugin rows carry name NULL, so real tables of that shape key on something else
        pg_conn.execute("DROP TABLE np_common.schema_versions")
        pg_conn.execute("CREATE TABLE np_common.schema_versions (id SERIAL PRIMARY KEY, "
                        "name TEXT, plugin TEXT, applied_at TIMESTAMPTZ DEFAULT now())")
        pg_conn.execute("INSERT INTO np_common.schema_versions(name, plugin) VALUES "
                        "('003_users.sql', NULL), ('0007_channels.sql', NULL), (NULL, 'stripe')")
    r = _cli("status", "--json", "--dsn", _dsn(pg_db), "--migrations", str(mdir))
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["server_version"].startswith("15")
    assert st["database"] == pg_db["dbname"]
    assert st["user"] == "postgres"
    assert st["ledger"]["kind"] == kind
    assert len(st["ledger"]["applied"]) == 2
    assert None not in st["ledger"]["applied"]
    assert st["pending"] == ["00013_e2ee.sql", "014_more.sql", "20260203070900_calls.up.sql"]
    assert pg_db["password"] not in r.stdout + r.stderr


def test_status_without_ledger(pg_db, mdir):
    r = _cli("status", "--json", "--dsn", _dsn(pg_db), "--migrations", str(mdir))
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["ledger"]["kind"] == "none"
    assert st["pending"][0] == "003_users.sql"


def test_status_from_backend_dir(pg_db, tmp_path, mdir):
    b = tmp_path / "backend"
    (b / "nself").mkdir(parents=True)
    mdir.rename(b / "nself" / "migrations")
    (b / ".env").write_text(f"PROJECT_NAME=chat\nPOSTGRES_PORT={pg_db['port']}\n"
                            f"POSTGRES_DB={pg_db['dbname']}\nPOSTGRES_USER=postgres\n"
                            f"POSTGRES_PASSWORD={pg_db['password']}\n")
    r = _cli("--backend-dir", str(b), "status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["source"].startswith("nself backend")
    assert len(st["pending"]) == 5
    assert pg_db["password"] not in r.stdout


def test_wrong_password_exits_2_with_one_line(pg_db):
    dsn = f"host=127.0.0.1 port={pg_db['port']} user=postgres dbname={pg_db['dbname']} password=nope-Zx"
    r = _cli("status", "--dsn", dsn)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "password authentication failed" in lines[0]
    assert "Traceback" not in r.stderr and "nope-Zx" not in r.stderr


def test_monitor_once_with_a_wrong_password_exits_2_and_says_why(pg_db):
    """`monitor --once` (what a script or a cron job runs) on a wrong password: exit 2 like
    every connect error, the reason and what to check in the output, never the password."""
    dsn = (f"host=127.0.0.1 port={pg_db['port']} user=postgres dbname={pg_db['dbname']} "
           "password=nope-Zx")
    for extra in ([], ["--json"]):
        r = _cli("monitor", "--once", *extra, "--dsn", dsn)
        assert r.returncode == 2, (extra, r.returncode, r.stderr)
        out = r.stdout + r.stderr
        assert "password authentication failed" in out and "PGPASSWORD" in out, out
        assert "Traceback" not in out and "nope-Zx" not in out
        if extra:
            assert "password authentication failed" in json.loads(r.stdout)["error"]


def test_refused_port_exits_2(tmp_path):
    r = _cli("status", "--json", "--dsn", f"host=127.0.0.1 port={free_port()} user=x dbname=x")
    assert r.returncode == 2
    err = json.loads(r.stdout)
    assert err["error"] == "refused"


def test_version_and_help():
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("nchat-tui ")
    r = _cli("--help")
    assert r.returncode == 0 and "status" in r.stdout and "Exit codes" in r.stdout


def test_bad_usage_exits_2():
    r = _cli("status", "--no-such-flag")
    assert r.returncode == 2


def test_status_as_a_plain_role_that_cannot_read_superuser_settings(pg_conn, pg_db, mdir):
    """An application role without pg_read_all_settings: shared_preload_libraries is hidden
    from it, and `status` says what it cannot tell instead of failing."""
    import uuid

    role = f"plain_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'plain-role-pw'")
    try:
        dsn = (f"host=127.0.0.1 port={pg_db['port']} user={role} dbname={pg_db['dbname']} "
               "password=plain-role-pw")
        r = _cli("status", "--json", "--dsn", dsn, "--migrations", str(mdir))
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["user"] == role
        pgss = out["pg_stat_statements"]
        assert pgss["available"] is False and pgss["state"] in ("unknown", "not_created")
        assert "pg_read_all_settings" in pgss["fix"]
    finally:
        pg_conn.execute(f"DROP OWNED BY {role}")
        pg_conn.execute(f"DROP ROLE {role}")
