"""Secrets stay secret (issue 9, item 9): a DSN typo never echoes the DSN or its password, and
other sessions' SQL text is scrubbed wherever we show or keep it (monitor, migrate output and
journal, troubleshooting findings, report), through the real CLI on a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nchat_tui.pg.cluster import LocalCluster

PW = "S3cr3tPw9"


def _cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "nchat_tui", *args], capture_output=True,
                          text=True, env={**base, **(env or {})}, cwd="/tmp", timeout=timeout,
                          input=stdin)


def _pieces(secret: str, n: int = 4) -> list[str]:
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


BAD_DSNS = [
    f"host=h user=u passwrd={PW} dbname=x",            # a misspelled key
    f"host=h user=u pasword={PW}",
    f"host=h password {PW}",                            # missing "="
    f"host=h {PW}",                                     # the password alone
    f"host=h password={PW[:4]} {PW[4:]}=x",             # an unquoted space in the password
    f"host=h password='{PW}",                           # unterminated quote
    f"host=h password={PW} sslmode=nonsense port=x y",
    f"postgresql://u:{PW[:4]}@{PW[4:]}@host/db",        # unencoded "@"
    f"postgresql://u:{PW[:4]}/{PW[4:]}@host/db",        # unencoded "/"
    f"postgresql://u:{PW[:4]}%zz{PW[4:]}@host/db",      # a bad %-escape
    f"postgresql://u:{PW}@host/db?passwrd=x",
    f"postgresql://u:{PW}@[::1/db",
    f"postgresql://u:{PW}@ho st/db",
    f"postgres://u:{PW}@host/db?application_name={PW}=x",
]


@pytest.mark.parametrize("dsn", BAD_DSNS)
@pytest.mark.parametrize("how", ["dsn", "DATABASE_URL"])
def test_a_dsn_typo_never_shows_the_password(dsn: str, how: str, tmp_path: Path) -> None:
    args = ["--state-dir", str(tmp_path / "s")]
    env = {"DATABASE_URL": dsn} if how == "DATABASE_URL" else None
    if how == "dsn":
        args += ["--dsn", dsn]
    for cmd in (["status"], ["status", "--json"], ["verify", "--json"], ["monitor", "--once"]):
        r = _cli(*cmd, *args, env=env)
        out = r.stdout + r.stderr
        assert r.returncode == 2, (cmd, out)
        assert "Traceback" not in out
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        leaked = [p for p in _pieces(PW) if p in out]
        assert not leaked, (dsn, cmd, out)
        if "--json" in cmd:
            assert json.loads(r.stdout)["error"] == "bad_input"


def test_the_app_start_up_error_never_shows_the_password(tmp_path: Path) -> None:
    """The default command opens the app: a bad DSN stops it before Textual starts."""
    for dsn in BAD_DSNS[:3] + BAD_DSNS[7:9]:
        r = _cli("--dsn", dsn, "--state-dir", str(tmp_path / "s"))
        out = r.stdout + r.stderr
        assert r.returncode == 2 and "Traceback" not in out, out
        assert not [p for p in _pieces(PW) if p in out], out


def test_a_misspelled_key_is_named_by_the_keyword_it_resembles(tmp_path: Path) -> None:
    r = _cli("status", "--dsn", f"host=h passwrd={PW}")
    assert 'did you mean "password"' in r.stderr
    r = _cli("status", "--dsn", f"host=h {PW}")
    assert "key=value" in r.stderr


@pytest.fixture
def odd_role(pg_cluster: LocalCluster, pg_db: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A login role whose password holds ":", "@" and "/"."""
    role, pw = f"odd_{uuid.uuid4().hex[:6]}", "pa:ss@w/rd" + PW
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(pw)))
        # status reads shared_preload_libraries (without it: a traceback, reported apart)
        conn.execute(sql.SQL("GRANT pg_read_all_settings TO {}").format(sql.Identifier(role)))
    try:
        yield role, pw
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_url_passwords_with_reserved_characters(odd_role: tuple[str, str],
                                                pg_db: dict[str, str], tmp_path: Path) -> None:
    role, pw = odd_role
    port, db = pg_db["port"], pg_db["dbname"]
    encoded = pw.replace("%", "%25").replace(":", "%3A").replace("@", "%40").replace("/", "%2F")
    good = _cli("status", "--json", "--dsn", f"postgresql://{role}:{encoded}@127.0.0.1:{port}/{db}")
    assert good.returncode == 0, good.stderr
    # ":" needs no encoding in the password part
    colon = pw.replace("@", "%40").replace("/", "%2F")
    assert _cli("status", "--dsn", f"postgresql://{role}:{colon}@127.0.0.1:{port}/{db}"
                ).returncode == 0
    for raw in (f"postgresql://{role}:{pw}@127.0.0.1:{port}/{db}",
                f"postgresql://{role}:{pw.replace('/', '%2F')}@127.0.0.1:{port}/{db}"):
        r = _cli("status", "--json", "--dsn", raw)
        out = r.stdout + r.stderr
        assert r.returncode == 2, out
        assert "%40" in r.stderr or "%2F" in r.stderr, r.stderr
        assert not [p for p in _pieces(PW) if p in out], out
    wrong = _cli("status", "--dsn", f"postgresql://{role}:{encoded}x@127.0.0.1:{port}/{db}")
    assert wrong.returncode == 2 and "password authentication failed" in wrong.stderr
    assert not [p for p in _pieces(PW) if p in wrong.stdout + wrong.stderr]


# -- other sessions' SQL ----------------------------------------------------------------------
SECRET_ACT = "Act1vitySecretZ"
SECRET_PGSS = "Pgss5tatSecretQ"
SECRET_KEY = "KeyMat3rialX"


@pytest.fixture
def leaky(pg_cluster: LocalCluster, pg_db: dict[str, str], pg_conn: psycopg.Connection[Any]
          ) -> Iterator[psycopg.Connection[Any]]:
    """A session that wrote, holds ACCESS EXCLUSIVE on ``busy`` and last ran a statement with a
    secret in it (idle in transaction), and a password change kept by pg_stat_statements."""
    role = f"leak_{uuid.uuid4().hex[:6]}"
    pg_conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    pg_conn.execute("CREATE TABLE busy (id int)")
    pg_conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    pg_conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(SECRET_PGSS)))
    kept = pg_conn.execute("SELECT count(*) FROM pg_stat_statements WHERE query LIKE %s",
                           (f"%{SECRET_PGSS}%",)).fetchone()
    assert kept and kept[0] >= 1, "pg_stat_statements must keep the password, or the test is blind"
    s = psycopg.connect(make_conninfo(**pg_db), application_name="leaky-app")
    s.execute("INSERT INTO busy VALUES (1)")
    s.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
    s.execute(f"SELECT set_config('app.jwt_secret', '{SECRET_ACT}', true), "
              f"md5('{SECRET_KEY}') AS x, 'dbname=x password={SECRET_KEY}' AS conn")
    try:
        yield s
    finally:
        s.close()
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _no_secret(text: str, where: str) -> None:
    for s in (SECRET_ACT, SECRET_PGSS, SECRET_KEY):
        assert s not in text, f"{s} shows in {where}:\n{text[-2000:]}"


def test_other_sessions_secrets_never_show(leaky: psycopg.Connection[Any],
                                          pg_db: dict[str, str], tmp_path: Path) -> None:
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    mdir = tmp_path / "m"
    mdir.mkdir()
    (mdir / "001_alter.sql").write_text("ALTER TABLE busy ADD COLUMN c int;\n")
    common = ["--dsn", dsn, "--migrations", str(mdir), "--state-dir", str(tmp_path / "state"),
              "--backup-dir", str(tmp_path / "b")]

    mon = _cli("monitor", "--once", "--json", *common)
    assert mon.returncode == 0, mon.stderr
    assert "leaky-app" in mon.stdout  # the session is listed ...
    assert "set_config('app.jwt_secret', '***'" in mon.stdout  # ... with its secret masked
    _no_secret(mon.stdout + mon.stderr, "monitor --json")
    text = _cli("monitor", "--once", *common)
    _no_secret(text.stdout + text.stderr, "monitor")

    tr = _cli("troubleshoot", "missing-data", "--json", *common)
    idle = [f for f in json.loads(tr.stdout)["trees"]["missing-data"]
            if f["check"] == "idle_writers"]
    assert idle and idle[0]["status"] == "problem", idle
    _no_secret(tr.stdout + tr.stderr, "troubleshoot")

    mg = _cli("migrate", "--yes", "--lock-timeout", "0.3", "--retries", "0",
              "--without-backup", "secrets test", *common)
    assert mg.returncode == 1, mg.stdout + mg.stderr
    assert "leaky-app" in mg.stdout + mg.stderr  # the blocker is named
    _no_secret(mg.stdout + mg.stderr, "migrate")
    mj = _cli("migrate", "--yes", "--json", "--lock-timeout", "0.3", "--retries", "0",
              "--without-backup", "secrets test", *common)
    assert json.loads(mj.stdout)["blockers"], mj.stdout
    _no_secret(mj.stdout + mj.stderr, "migrate --json")

    journals = list((tmp_path / "state").rglob("journal.jsonl"))
    assert journals
    for j in journals:
        body = j.read_text()
        assert "leaky-app" in body
        _no_secret(body, str(j))
    rep = tmp_path / "report.md"
    r = _cli("report", "--output", str(rep), *common)
    assert r.returncode == 0, r.stderr
    _no_secret(rep.read_text(), "report")


def test_the_monitor_masks_statement_statistics(leaky: psycopg.Connection[Any],
                                               pg_db: dict[str, str]) -> None:
    from nchat_tui.monitor.sampler import Monitor

    mon = Monitor(dict(pg_db), slow_limit=200)
    try:
        s = mon.sample().to_json()
    finally:
        mon.close()
    texts = [q["query"] for q in s["slow_queries"].get("top_by_total", [])]
    assert any("PASSWORD '***'" in t for t in texts), texts
    _no_secret(json.dumps(s, default=str), "monitor sample")
