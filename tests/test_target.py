"""Target resolution and connection errors against the real test server."""

from __future__ import annotations

from pathlib import Path

import pytest

from nchat_tui.errors import ConnectError
from nchat_tui.pg.cluster import free_port
from nchat_tui.pg.target import mask_dsn, resolve_target


def test_dsn_connects_and_masks(target):
    with target.connect() as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert "test-secret-pw" not in target.masked()
    assert target.masked().startswith("postgres@127.0.0.1:")


def test_wrong_password_is_named(pg_db, tmp_path):
    dsn = f"postgresql://postgres:Zq9-badpass@127.0.0.1:{pg_db['port']}/{pg_db['dbname']}"
    t = resolve_target(dsn=dsn, environ={}, state_dir=tmp_path)
    with pytest.raises(ConnectError) as ei:
        t.connect()
    assert ei.value.kind == "wrong_password"
    assert "Zq9-badpass" not in ei.value.one_line()


def test_missing_database_is_named(pg_db, tmp_path):
    t = resolve_target(dsn=f"host=127.0.0.1 port={pg_db['port']} user=postgres "
                       f"password={pg_db['password']} dbname=nope_db", environ={}, state_dir=tmp_path)
    with pytest.raises(ConnectError) as ei:
        t.connect()
    assert ei.value.kind == "missing_database"
    assert "nope_db" in ei.value.message


def test_refused_port_is_named(tmp_path):
    t = resolve_target(dsn=f"host=127.0.0.1 port={free_port()} user=x dbname=x", environ={},
                       state_dir=tmp_path)
    with pytest.raises(ConnectError) as ei:
        t.connect()
    assert ei.value.kind == "refused"


def test_unknown_host_is_named(tmp_path):
    t = resolve_target(dsn="host=no-such-host.invalid user=x dbname=x", environ={},
                       state_dir=tmp_path)
    with pytest.raises(ConnectError) as ei:
        t.connect()
    assert ei.value.kind == "unknown_host"


def test_database_url_used_when_no_dsn(pg_db, tmp_path):
    url = (f"postgresql://postgres:{pg_db['password']}@127.0.0.1:{pg_db['port']}/"
           f"{pg_db['dbname']}")
    t = resolve_target(environ={"DATABASE_URL": url}, state_dir=tmp_path)
    assert t.source == "DATABASE_URL"
    with t.connect() as conn:
        assert conn.info.dbname == pg_db["dbname"]


def test_libpq_env_used(pg_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", pg_db["port"])
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGPASSWORD", pg_db["password"])
    monkeypatch.setenv("PGDATABASE", pg_db["dbname"])
    import os

    t = resolve_target(environ=dict(os.environ), state_dir=tmp_path)
    assert t.source.startswith("libpq")
    assert t.database == pg_db["dbname"]
    with t.connect() as conn:
        assert conn.info.dbname == pg_db["dbname"]


def _backend(tmp_path: Path, pg_db: dict[str, str]) -> Path:
    b = tmp_path / "backend"
    (b / "nself" / "migrations").mkdir(parents=True)
    (b / ".env").write_text(
        "PROJECT_NAME=chat\nENV=prod\nPOSTGRES_HOST=postgres\nPOSTGRES_PORT=1\n"
        "POSTGRES_DB=wrongdb\nPOSTGRES_USER=postgres\nBACKUP_DIR=./bk\n")
    (b / ".env.prod").write_text(f"POSTGRES_PORT={pg_db['port']}\n")
    (b / ".env.local").write_text(
        f"POSTGRES_DB={pg_db['dbname']}\nPOSTGRES_PASSWORD='{pg_db['password']}'\n")
    return b


def test_backend_dir_go_cascade(pg_db, tmp_path):
    b = _backend(tmp_path, pg_db)
    t = resolve_target(backend_dir=b, environ={}, state_dir=tmp_path / "s")
    assert t.project_name == "chat"
    assert t.params["host"] == "127.0.0.1"  # container name mapped to the published address
    assert t.migrations_dir == b / "nself" / "migrations"
    assert t.backup_dir == b / "bk"
    assert any("container" in n for n in t.notes)
    with t.connect() as conn:
        assert conn.info.dbname == pg_db["dbname"]


def test_backend_dir_bash_cascade_has_env_last(pg_db, tmp_path):
    b = _backend(tmp_path, pg_db)
    t = resolve_target(backend_dir=b, env_cascade="bash", environ={}, state_dir=tmp_path / "s")
    # bash loads .env last, so its (wrong) values win
    assert t.params["dbname"] == "wrongdb"
    assert t.params["port"] == "1"


def test_mask_dsn():
    assert mask_dsn("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert "s3cret" not in mask_dsn("host=h password=s3cret dbname=d")
