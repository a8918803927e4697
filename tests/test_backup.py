"""Backups against the real PostgreSQL and the real pg_dump/pg_restore (issue 3).

Stand-ins, said plainly: the version-mismatch test puts a tiny script named ``pg_dump`` that
prints ``pg_dump (PostgreSQL) 11.0`` in a directory given by NCHAT_TUI_PG_BINDIR; the docker-mode
test puts a small ``docker`` script first on PATH that runs ``docker exec -i -e VAR CONTAINER
CMD ...`` locally (dropping every variable not named with -e, as a container would) against the
test server. Everything else is the real server and the real client tools.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.backup.engine import (
    Progress,
    find_leftovers,
    latest_verified_backup,
    list_backups,
    preflight,
    read_manifest,
    remove_leftovers,
    restore_into,
    run_backup,
    verify_backup,
)
from nchat_tui.cli import main as cli
from nchat_tui.errors import OperationFailed, Refused, ToolMissing
from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.pg.snapshot import take_snapshot
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import Cancelled
from nchat_tui.state.journal import Journal

MY_COMMANDS = ["nchat_tui.cli.backup", "nchat_tui.cli.backups", "nchat_tui.cli.verify_backup",
               "nchat_tui.cli.restore"]
from tests.conftest import TEST_PASSWORD as PASSWORD  # noqa: E402

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TYPE user_status AS ENUM ('online', 'away', 'offline');
CREATE TABLE nchat_users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
    status user_status NOT NULL DEFAULT 'online', deleted_at timestamptz);
CREATE TABLE nchat_messages (id bigserial PRIMARY KEY, user_id uuid REFERENCES nchat_users(id),
    content text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX nchat_messages_user ON nchat_messages (user_id);
CREATE TABLE nchat_empty (id int);
CREATE SCHEMA auth;
CREATE TABLE auth."Users Table" (id int PRIMARY KEY, email text);
CREATE SCHEMA np_common;
CREATE TABLE np_common.schema_versions (name text PRIMARY KEY, applied_at timestamptz);
INSERT INTO np_common.schema_versions VALUES ('001_init.sql', now()), ('002_more.sql', now());
CREATE VIEW nchat_active AS SELECT * FROM nchat_users WHERE deleted_at IS NULL;
CREATE MATERIALIZED VIEW nchat_stats AS SELECT count(*) AS n FROM nchat_messages;
CREATE FUNCTION nchat_touch() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER nchat_messages_touch BEFORE INSERT ON nchat_messages
    FOR EACH ROW EXECUTE FUNCTION nchat_touch();
ALTER TABLE nchat_messages DISABLE TRIGGER nchat_messages_touch;
ALTER TABLE nchat_users ADD CONSTRAINT name_len CHECK (length(name) < 200) NOT VALID;
"""


def load_schema(conn: psycopg.Connection[Any], users: int = 200, messages: int = 5000,
                pad: int = 50) -> None:
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO nchat_users (name) SELECT 'user ' || g FROM generate_series(1, %s) g",
                 (users,))
    conn.execute("""INSERT INTO nchat_messages (user_id, content)
        SELECT (SELECT id FROM nchat_users ORDER BY id LIMIT 1 OFFSET g %% %s),
               md5(g::text) || repeat(md5(random()::text), %s)
        FROM generate_series(1, %s) g""", (users, pad, messages))
    conn.execute("""INSERT INTO auth."Users Table" SELECT g, 'u' || g || '@x.org'
                    FROM generate_series(1, 30) g""")
    conn.execute("REFRESH MATERIALIZED VIEW nchat_stats")


def dsn_of(params: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            target: Target, *argv: str) -> tuple[int, str, str]:
    """``nchat-tui`` in-process (only this issue's subcommands are loaded into the parser)."""
    monkeypatch.setattr(cli, "COMMANDS", MY_COMMANDS)
    args = [argv[0], "--dsn", dsn_of(target.params), "--backup-dir", str(target.backup_dir),
            "--state-dir", str(target.state_dir), *argv[1:]]
    if target.docker:
        args[1:1] = ["--docker", target.docker]
    capsys.readouterr()
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def gone(pid: int) -> bool:
    """The process no longer runs (exited, or a zombie nobody reaped yet)."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return st.rsplit(")", 1)[-1].split()[0] == "Z"


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def journal_events(target: Target) -> list[str]:
    j = Journal.for_target(target.state_dir, target.masked())
    return [r["event"] for r in j.records()]


# ---------------------------------------------------------------------------------------------
# the Done-when items
# ---------------------------------------------------------------------------------------------
def test_backup_json_verified_file_and_counts_match_a_test_restore(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn)
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--json")
    assert rc == 0, err
    res = json.loads(out)
    path = Path(res["path"])
    assert re.fullmatch(rf"{re.escape(target.database)}_\d{{8}}_\d{{6}}\.dump", path.name)
    assert path.parent == target.backup_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.backup_dir.stat().st_mode) == 0o700
    assert res["state"] == "verified"
    manifest = read_manifest(Path(res["manifest"]))
    assert manifest is not None and manifest["state"] == "verified"
    assert stat.S_IMODE(Path(res["manifest"]).stat().st_mode) == 0o600
    assert sha256(path) == manifest["sha256"] == res["sha256"]
    assert PASSWORD not in Path(res["manifest"]).read_text()
    # the real pg_restore reads every block of it
    assert subprocess.run(["pg_restore", "-f", "/dev/null", str(path)]).returncode == 0
    counts = manifest["snapshot"]["row_counts"]
    assert counts["public.nchat_messages"] == 5000
    assert counts['auth."Users Table"'] == 30
    assert counts["np_common.schema_versions"] == 2
    assert counts["public.nchat_empty"] == 0
    assert manifest["snapshot"]["counted_as"]["role"] == "postgres"
    assert manifest["snapshot"]["inventory"]["ledgers"]["np_common.schema_versions"][0][
        "name"] == "001_init.sql"
    # a test restore of it has exactly the manifest's counts
    rc, out, err = run_cli(monkeypatch, capsys, target, "verify-backup", str(path),
                           "--test-restore", "--json")
    assert rc == 0, err
    v = json.loads(out)
    assert v["ok"] and v["test_restore"]["counts"] == counts
    assert v["test_restore"]["mismatches"] == []
    # the scratch database is gone again
    row = pg_conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE "
                          "'nchat\\_tui\\_verify\\_%'").fetchone()
    assert row is not None and row[0] == 0
    # listed, and the migration gate finds it
    infos = list_backups(target.backup_dir)
    assert [(b.path, b.state) for b in infos] == [(path, "verified")]
    gate = latest_verified_backup(target)
    assert gate is not None and gate.path == path
    events = journal_events(target)
    assert "backup_started" in events and "backup_finished" in events
    assert "command_run" in events


def test_backup_text_mode_prints_a_line_per_table(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=500, pad=2)
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup")
    assert rc == 0, err
    table_lines = [ln for ln in out.splitlines() if re.match(r"\[\d+/\d+\] ", ln)]
    assert len(table_lines) == 5  # nchat_users, nchat_messages, nchat_empty, auth, np_common
    assert "[5/5]" in table_lines[-1]
    assert any("public.nchat_messages" in ln for ln in table_lines)
    assert "state       verified" in out


def test_kill_9_of_pg_dump_leaves_no_file_under_the_final_name(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=20000, pad=40)
    killed: list[int] = []

    def on_progress(ev: Progress) -> None:
        if ev.kind == "started" and ev.pid and not killed:
            os.kill(ev.pid, 9)
            killed.append(ev.pid)

    with pytest.raises(OperationFailed):
        run_backup(target, on_progress=on_progress)
    assert killed
    assert list(target.backup_dir.glob("*.dump")) == []
    assert list(target.backup_dir.iterdir()) == []  # partial file and manifest removed
    assert "backup_failed" in journal_events(target)


APP_SCRIPT = """
import sys
from nchat_tui.pg.target import resolve_target
from nchat_tui.backup.engine import run_backup
t = resolve_target(dsn=sys.argv[1], backup_dir=sys.argv[2], state_dir=sys.argv[3], environ={})
def cb(ev):
    if ev.kind == "started" and sys.argv[4] == "dump":
        print("PID", ev.pid, flush=True)
        sys.stdin.readline()  # hold here until the test kills us
    if ev.kind == "phase" and ev.phase == "verify" and sys.argv[4] == "verify":
        print("PID 0", flush=True)
        sys.stdin.readline()
run_backup(t, on_progress=cb)
"""


@pytest.mark.parametrize("moment", ["dump", "verify"])
def test_kill_9_of_the_app_then_next_backup_reports_the_leftover(
        pg_conn: psycopg.Connection[Any], target: Target, moment: str) -> None:
    load_schema(pg_conn, messages=20000, pad=40)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    app = subprocess.Popen([sys.executable, "-c", APP_SCRIPT, dsn_of(target.params),
                            str(target.backup_dir), str(target.state_dir), moment],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert app.stdout is not None
    line = app.stdout.readline()
    assert line.startswith("PID "), line
    dump_pid = int(line.split()[1])
    app.kill()  # SIGKILL: no cleanup runs
    app.wait()
    if dump_pid:
        # pg_dump ran in its own process group and outlived the app: end it too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dump_pid, 9)
        for _ in range(200):
            if gone(dump_pid):
                break
            time.sleep(0.05)
        assert gone(dump_pid)
    assert list(target.backup_dir.glob("*.dump")) == []
    partial = list(target.backup_dir.glob("*.partial"))
    assert len(partial) == 1
    infos = list_backups(target.backup_dir)
    assert [b.state for b in infos] == ["partial"]
    leftovers = find_leftovers(target.backup_dir)
    assert len(leftovers) == 1 and partial[0] in leftovers[0].paths
    # the next backup succeeds and reports the leftover; the journal shows the interruption
    res = run_backup(target)
    assert res.state == "verified" and res.path.exists()
    assert [lo.paths for lo in res.leftovers] == [leftovers[0].paths]
    events = journal_events(target)
    assert "backup_interrupted" in events
    # still reported until removed, then gone
    assert remove_leftovers(find_leftovers(target.backup_dir))
    assert find_leftovers(target.backup_dir) == []
    assert [b.state for b in list_backups(target.backup_dir)] == ["verified"]


def test_truncated_copy_fails_verification_with_exit_1(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=3000, pad=10)
    res = run_backup(target)
    data = res.path.read_bytes()
    # a copy alone (no manifest): the full read finds the truncation
    copy = tmp_path / "copy.dump"
    copy.write_bytes(data[: len(data) // 2])
    # --list exits 0 on it: that is why it is not the verification
    assert subprocess.run(["pg_restore", "-l", str(copy)], capture_output=True).returncode == 0
    rc, out, err = run_cli(monkeypatch, capsys, target, "verify-backup", str(copy))
    assert rc == 1
    assert "truncated" in err and "truncated" in out
    # a copy with its manifest: the size check names it too
    d = tmp_path / "withmanifest"
    d.mkdir()
    (d / res.path.name).write_bytes(data[:-100])
    shutil.copy(res.manifest_path, d / res.manifest_path.name)
    rc, out, err = run_cli(monkeypatch, capsys, target, "verify-backup",
                           str(d / res.path.name), "--json")
    assert rc == 1
    v = json.loads(out)
    assert not v["ok"] and v["failure_kind"] == "truncated"
    assert "truncated" in v["failure"]
    assert not next(c for c in v["checks"] if c["check"] == "full_read")["ok"]


def test_one_altered_byte_fails_verification_naming_it(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=3000, pad=10)
    res = run_backup(target)
    data = bytearray(res.path.read_bytes())
    d = tmp_path / "altered"
    d.mkdir()
    # a byte in the header's text: pg_restore reads it happily, the checksum does not
    pos = data.index(b"postgres")
    data[pos] ^= 0x01
    (d / res.path.name).write_bytes(bytes(data))
    shutil.copy(res.manifest_path, d / res.manifest_path.name)
    rc, _out, err = run_cli(monkeypatch, capsys, target, "verify-backup", str(d / res.path.name))
    assert rc == 1
    assert "checksum mismatch" in err and "altered" in err
    # the original is untouched and still verifies
    rc, _out, err = run_cli(monkeypatch, capsys, target, "verify-backup", str(res.path))
    assert rc == 0, err


def test_plain_sql_file_is_named_as_such(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=10, pad=1)
    plain = tmp_path / "plain.sql"
    env = target.subprocess_env()
    subprocess.run(["pg_dump", "-Fp", "-f", str(plain)], env=env, check=True)
    rc, _out, err = run_cli(monkeypatch, capsys, target, "verify-backup", str(plain))
    assert rc == 2
    assert "plain-SQL" in err


def test_pg_dump_older_than_the_server_is_refused_naming_the_version(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # stand-in: a script that only claims to be an old pg_dump
    bindir = tmp_path / "oldbin"
    bindir.mkdir()
    fake = bindir / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 11.0'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("NCHAT_TUI_PG_BINDIR", str(bindir))
    rc, _out, err = run_cli(monkeypatch, capsys, target, "backup")
    assert rc == 2
    assert "11.0" in err and "15 or newer" in err
    assert list(target.backup_dir.glob("*")) == []
    with pytest.raises(ToolMissing):
        run_backup(target)


def test_password_never_in_any_process_argv_while_the_dump_runs(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=20000, pad=20)
    seen: dict[str, Any] = {"scans": 0, "dump_cmdline": None, "leaks": [], "env_has_pw": False}

    def scan(dump_pid: int | None) -> None:
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if PASSWORD.encode() in cmd:
                seen["leaks"].append(cmd.replace(b"\0", b" ").decode(errors="replace"))
            if dump_pid and int(d.name) == dump_pid and cmd:
                seen["dump_cmdline"] = cmd.replace(b"\0", b" ").decode()
                with_env = (d / "environ").read_bytes()
                seen["env_has_pw"] = f"PGPASSWORD={PASSWORD}".encode() in with_env
        seen["scans"] += 1

    def on_progress(ev: Progress) -> None:
        if ev.kind in ("started", "table") and ev.pid and ev.operation == "backup":
            scan(ev.pid)

    run_backup(target, on_progress=on_progress, verify=False)
    assert seen["scans"] >= 1
    assert seen["dump_cmdline"] and "pg_dump" in seen["dump_cmdline"]
    assert seen["env_has_pw"], "the password reaches pg_dump through its environment"
    assert seen["leaks"] == []
    journal_text = Journal.for_target(target.state_dir, target.masked()).path.read_text()
    assert PASSWORD not in journal_text


def test_counts_match_a_test_restore_under_concurrent_writes(
        pg_conn: psycopg.Connection[Any], pg_db: dict[str, str], target: Target) -> None:
    load_schema(pg_conn, messages=20000, pad=20)
    stop = threading.Event()
    inserted = [0]

    def writer() -> None:
        with psycopg.connect(dsn_of(pg_db), autocommit=True) as c:
            while not stop.is_set():
                c.execute("INSERT INTO nchat_messages (content) VALUES ('during the backup')")
                c.execute("INSERT INTO nchat_empty VALUES (1)")
                inserted[0] += 1

    th = threading.Thread(target=writer)
    th.start()
    try:
        while inserted[0] < 20:
            time.sleep(0.01)
        res = run_backup(target, test_restore=True)
        after_backup = inserted[0]
    finally:
        stop.set()
        th.join()
    assert res.verification is not None and res.verification.ok, res.verification
    tr = res.verification.test_restore
    assert tr is not None and tr["mismatches"] == []
    counts = res.manifest["snapshot"]["row_counts"]
    assert tr["counts"] == counts
    # the writes really ran across the backup: the live table has more rows than the snapshot
    live = pg_conn.execute("SELECT count(*) FROM nchat_messages").fetchone()
    assert live is not None
    assert counts["public.nchat_messages"] > 20000
    assert live[0] > counts["public.nchat_messages"]
    assert after_backup > 20


DOCKER_STANDIN = """#!/bin/bash
# Stand-in for `docker` (tests only): runs `docker exec [-i] [-e VAR]... CONTAINER CMD ARGS...`
# on this host against the test server, keeping only the variables named with -e, as a
# container would. `-e NAME=value` (a secret on a command line) is refused.
[ "$1" = "exec" ] || { echo "stand-in docker: only exec is supported" >&2; exit 125; }
shift
keep=" PATH "
while [ $# -gt 0 ]; do
  case "$1" in
    -i) shift ;;
    -e) case "$2" in *=*) echo "stand-in docker: value on the command line" >&2; exit 125;; esac
        keep="$keep$2 "; shift 2 ;;
    *) break ;;
  esac
done
echo "$1" >> "@LOG@"
shift
for v in $(compgen -e); do
  case "$keep" in *" $v "*) ;; *) unset "$v" ;; esac
done
export PGHOST=127.0.0.1 PGPORT=@PORT@
exec "$@"
"""


def test_docker_mode_with_a_stand_in_docker(
        pg_conn: psycopg.Connection[Any], pg_cluster: LocalCluster, target: Target,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=2000, pad=5)
    bindir = tmp_path / "dockerbin"
    bindir.mkdir()
    log = tmp_path / "docker.log"
    script = bindir / "docker"
    script.write_text(DOCKER_STANDIN.replace("@LOG@", str(log))
                      .replace("@PORT@", str(pg_cluster.port)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    target.docker = "nchat_postgres"
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--json", "--test-restore")
    assert rc == 0, err
    res = json.loads(out)
    path = Path(res["path"])
    assert path.parent == target.backup_dir and path.name.endswith(".dump")
    assert res["state"] == "verified" and res["verification"]["test_restore"]["mismatches"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "nchat_postgres" in log.read_text()
    manifest = read_manifest(Path(res["manifest"]))
    assert manifest is not None and manifest["docker"] == "nchat_postgres"
    assert "in container nchat_postgres" in manifest["pg_dump"]
    runs = [r for r in Journal.for_target(target.state_dir, target.masked()).records()
            if r["event"] == "command_run"]
    dump_argv = next(r["argv"] for r in runs if r["purpose"] == "backup: pg_dump")
    assert dump_argv[1:5] == ["exec", "-i", "-e", "PGPASSWORD"]
    assert "nchat_postgres" in dump_argv
    assert all(PASSWORD not in a for r in runs for a in r["argv"])
    # restore through the container too, into a new database
    rc, out, err = run_cli(monkeypatch, capsys, target, "restore", str(path), "--into",
                           "docker_restored", "--json")
    try:
        assert rc == 0, err
        assert json.loads(out)["mismatches"] == []
    finally:
        pg_conn.execute('DROP DATABASE IF EXISTS "docker_restored"')
    # the directory format cannot stream through docker exec: refused before anything runs
    rc, out, err = run_cli(monkeypatch, capsys, target, "backup", "--format", "directory")
    assert rc == 2 and "docker" in err


# ---------------------------------------------------------------------------------------------
# restore into a new database
# ---------------------------------------------------------------------------------------------
def test_restore_into_a_new_database_and_refuse_an_existing_one(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=3000, pad=5)
    res = run_backup(target)
    new = f"{target.database}_restored"
    rc, out, err = run_cli(monkeypatch, capsys, target, "restore", str(res.path), "--into", new,
                           "--json")
    try:
        assert rc == 0, err
        rr = json.loads(out)
        assert rr["counts"] == res.manifest["snapshot"]["row_counts"]
        assert rr["compared"] is True
        # an existing database is refused, and left exactly as it was
        pg_conn.execute("CREATE TABLE marker (x int)")
        rc, out, err = run_cli(monkeypatch, capsys, target, "restore", str(res.path), "--into",
                               target.database)
        assert rc == 3 and "already exists" in err
        assert pg_conn.execute("SELECT to_regclass('marker')").fetchone() == ("marker",)
        with pytest.raises(Refused):
            restore_into(target, res.path, new)
    finally:
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{new}" WITH (FORCE)')
    events = journal_events(target)
    assert "restore_finished" in events


def test_failed_restore_stops_at_the_first_error_and_drops_only_its_own_database(
        pg_conn: psycopg.Connection[Any], target: Target, tmp_path: Path) -> None:
    load_schema(pg_conn, messages=300, pad=2)
    res = run_backup(target)
    # a role the dump's objects belong to disappears: the restore hits an error at once
    pg_conn.execute("CREATE ROLE nchat_gone_owner")
    pg_conn.execute("ALTER TABLE nchat_empty OWNER TO nchat_gone_owner")
    res2 = run_backup(target)
    pg_conn.execute("ALTER TABLE nchat_empty OWNER TO postgres")
    pg_conn.execute("DROP ROLE nchat_gone_owner")
    new = f"{target.database}_failed"
    with pytest.raises(OperationFailed) as ei:
        restore_into(target, res2.path, new)
    assert "first error" in ei.value.message
    assert pg_conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                           (new,)).fetchone() == (0,)
    assert res.path.exists()


# ---------------------------------------------------------------------------------------------
# preflight and faults
# ---------------------------------------------------------------------------------------------
def test_a_running_migration_refuses_the_backup(
        pg_conn: psycopg.Connection[Any], pg_db: dict[str, str], target: Target,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=10, pad=1)
    with psycopg.connect(dsn_of(pg_db), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('nself:migrations'))")
        rc, _out, err = run_cli(monkeypatch, capsys, target, "backup")
        assert rc == 3 and "a migration is running" in err
        pre = preflight(target)
        assert not pre.ok and pre.migration_lock[0]["granted"]
    assert preflight(target).ok


def test_ddl_holding_a_table_refuses_the_backup(
        pg_conn: psycopg.Connection[Any], pg_db: dict[str, str], target: Target) -> None:
    load_schema(pg_conn, messages=10, pad=1)
    with psycopg.connect(dsn_of(pg_db)) as other:
        other.execute("LOCK TABLE nchat_messages IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(Refused) as ei:
            run_backup(target)
        assert "DDL in progress" in ei.value.message and "nchat_messages" in ei.value.message
        other.rollback()
    assert list(target.backup_dir.glob("*.dump")) == []


def test_cancel_kills_pg_dump_and_removes_the_partial_file(
        pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=20000, pad=40)
    cancel = threading.Event()
    pids: list[int] = []

    def on_progress(ev: Progress) -> None:
        if ev.kind == "started" and ev.pid:
            pids.append(ev.pid)
            cancel.set()

    with pytest.raises(Cancelled):
        run_backup(target, on_progress=on_progress, cancel_event=cancel)
    assert pids
    assert gone(pids[0])
    assert list(target.backup_dir.iterdir()) == []
    assert "backup_cancelled" in journal_events(target)


def test_full_disk_fails_cleanly(pg_conn: psycopg.Connection[Any], target: Target,
                                 tiny_disk: Path) -> None:
    # random (incompressible) data larger than the 1 MiB filesystem
    pg_conn.execute("CREATE EXTENSION pgcrypto")
    pg_conn.execute("CREATE TABLE blobs (b bytea)")
    pg_conn.execute("INSERT INTO blobs SELECT gen_random_bytes(1024) FROM generate_series(1, 3000)")
    target.backup_dir = tiny_disk / "backups"
    # the preflight sees it coming
    with pytest.raises(Refused) as ei:
        run_backup(target)
    assert "not enough free space" in ei.value.message
    # told to go ahead anyway, pg_dump hits ENOSPC: a clean failure, nothing left behind
    with pytest.raises(OperationFailed) as ei2:
        run_backup(target, check_space=False)
    assert "disk full" in ei2.value.message
    assert list(target.backup_dir.iterdir()) == []


def test_directory_format_with_two_jobs(pg_conn: psycopg.Connection[Any], target: Target) -> None:
    load_schema(pg_conn, messages=3000, pad=5)
    res = run_backup(target, fmt="directory", jobs=2, test_restore=True)
    assert res.state == "verified" and res.path.is_dir() and res.path.name.endswith(".dir")
    assert stat.S_IMODE(res.path.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in res.path.iterdir())
    assert res.verification is not None and res.verification.test_restore is not None
    assert res.verification.test_restore["mismatches"] == []
    v = verify_backup(res.path)
    assert v.ok
    # one file of the directory damaged: the checksum over the directory catches it
    data_file = max(res.path.glob("*.dat.gz"), key=lambda f: f.stat().st_size)
    data_file.write_bytes(data_file.read_bytes()[:-10])
    v = verify_backup(res.path)
    assert not v.ok and v.failure_kind in ("truncated", "altered")


# ---------------------------------------------------------------------------------------------
# the snapshot
# ---------------------------------------------------------------------------------------------
def test_inventory_is_deterministic_and_complete(pg_conn: psycopg.Connection[Any]) -> None:
    load_schema(pg_conn, messages=20, pad=1)
    pg_conn.execute("CREATE SCHEMA nself_ops")
    pg_conn.execute("CREATE TABLE nself_ops.migrations (id text PRIMARY KEY, name text, "
                    "checksum text, applied_at timestamptz DEFAULT now())")
    pg_conn.execute("INSERT INTO nself_ops.migrations (id, name) VALUES ('014', '014_e2ee.sql')")
    pg_conn.execute("CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, "
                    "name text)")
    pg_conn.execute("INSERT INTO public.schema_migrations VALUES (3, 'x')")
    pg_conn.execute("CREATE INDEX broken_idx ON nchat_users (name)")
    pg_conn.execute("UPDATE pg_index SET indisvalid = false "
                    "WHERE indexrelid = 'broken_idx'::regclass")
    a = take_snapshot(pg_conn)
    b = take_snapshot(pg_conn)
    assert a["inventory"] == b["inventory"]
    assert json.dumps(a, default=str)  # JSON-able
    inv = a["inventory"]
    assert inv["indexes"]["public.broken_idx"]["valid"] is False
    assert inv["constraints"]["public.nchat_users.name_len"]["validated"] is False
    assert inv["triggers"]["public.nchat_messages.nchat_messages_touch"]["enabled"] == "D"
    assert inv["enums"]["public.user_status"]["labels"] == ["online", "away", "offline"]
    assert inv["views"]["public.nchat_stats"]["kind"] == "m"
    assert inv["views"]["public.nchat_active"]["kind"] == "v"
    assert "public.nchat_messages_id_seq" in inv["sequences"]
    assert "pgcrypto" in inv["extensions"]
    assert "public.nchat_touch()" in inv["functions"]
    assert inv["columns"]['auth."Users Table".email']["position"] == 2
    assert set(inv["ledgers"]) == {"np_common.schema_versions", "nself_ops.migrations",
                                   "public.schema_migrations"}
    assert inv["ledgers"]["nself_ops.migrations"][0]["id"] == "014"
    assert list(inv["tables"]) == sorted(inv["tables"])
    assert not any("oid" in k for k in json.dumps(inv))
    assert a["row_counts"]['auth."Users Table"'] == 30


def test_rls_hiding_rows_from_the_counting_role_is_recorded(
        pg_conn: psycopg.Connection[Any], pg_db: dict[str, str]) -> None:
    load_schema(pg_conn, messages=10, pad=1)
    role = f"reader_{pg_db['dbname'][-6:]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")
    try:
        pg_conn.execute(f"GRANT USAGE ON SCHEMA auth, np_common TO {role}")
        pg_conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public, auth, np_common TO {role}")
        pg_conn.execute("ALTER TABLE nchat_messages ENABLE ROW LEVEL SECURITY")
        pg_conn.execute(f"CREATE POLICY only_some ON nchat_messages TO {role} USING (id <= 3)")
        with psycopg.connect(dsn_of({**pg_db, "user": role, "password": "reader-pw"}),
                             autocommit=True) as rc:
            snap = take_snapshot(rc)
        assert snap["counted_as"]["role"] == role
        assert snap["counted_as"]["is_superuser"] is False
        assert snap["counted_as"]["tables_not_owned"] == len(snap["row_counts"])
        assert snap["rls"]["rls_could_hide_rows"] is True
        assert snap["rls"]["tables_rls_could_hide"] == ["public.nchat_messages"]
        assert snap["row_counts"]["public.nchat_messages"] == 3
        owner = take_snapshot(pg_conn)
        assert owner["rls"]["rls_could_hide_rows"] is False
        assert owner["rls"]["rls_enabled_tables"] == ["public.nchat_messages"]
        assert owner["counted_as"]["tables_not_owned"] == 0
        assert owner["row_counts"]["public.nchat_messages"] == 10
    finally:
        pg_conn.execute(f"DROP OWNED BY {role}")
        pg_conn.execute(f"DROP ROLE {role}")


def test_core_modules_never_import_textual() -> None:
    for mod in ("nchat_tui.backup.engine", "nchat_tui.pg.snapshot", "nchat_tui.pg.tools",
                "nchat_tui.cli.backup", "nchat_tui.cli.restore"):
        code = f"import sys, {mod}; assert 'textual' not in sys.modules, {mod!r}"
        subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(importlib.util.find_spec("nchat_tui.demo.builder") is None,
                    reason="nchat_tui.demo.builder not there yet")
def test_backup_of_the_demo_dataset(pg_conn: psycopg.Connection[Any], target: Target) -> None:
    demo = importlib.import_module("nchat_tui.demo.builder")
    if not hasattr(demo, "load_demo"):
        pytest.skip("nchat_tui.demo.builder.load_demo not there yet")
    demo.load_demo(pg_conn, scale=0.02)
    res = run_backup(target, test_restore=True)
    assert res.state == "verified"
    assert res.verification is not None and res.verification.test_restore is not None
    assert res.verification.test_restore["mismatches"] == []



def test_scratch_database_of_a_crashed_test_restore_is_a_leftover_others_are_not(
        pg_conn: psycopg.Connection[Any], target: Target, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    suffix = target.database[-6:]
    ours, theirs = f"nchat_tui_verify_dead{suffix}", f"nchat_tui_verify_user{suffix}"
    pg_conn.execute(f'CREATE DATABASE "{ours}"')
    pg_conn.execute(f'COMMENT ON DATABASE "{ours}" IS \'nchat-tui scratch: test restore by pid '
                    f'{dead.pid} start 1 host {os.uname().nodename} at then\'')
    pg_conn.execute(f'CREATE DATABASE "{theirs}"')  # same prefix, not ours: no comment
    try:
        rc, out, err = run_cli(monkeypatch, capsys, target, "backups", "--json")
        assert rc == 0, err
        found = [lo["database"] for lo in json.loads(out)["leftovers"]]
        assert ours in found and theirs not in found
        rc, out, err = run_cli(monkeypatch, capsys, target, "backups", "--remove-leftovers")
        assert rc == 0, err
        names = {r[0] for r in pg_conn.execute("SELECT datname FROM pg_database")}
        assert ours not in names and theirs in names
    finally:
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{ours}"')
        pg_conn.execute(f'DROP DATABASE IF EXISTS "{theirs}"')


def test_a_role_that_cannot_read_every_table_fails_cleanly(
        pg_conn: psycopg.Connection[Any], pg_db: dict[str, str], target: Target,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    load_schema(pg_conn, messages=10, pad=1)
    role = f"weak_{pg_db['dbname'][-6:]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'weak-pw'")
    try:
        pg_conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        weak = Target(**{**target.__dict__,
                         "params": {**target.params, "user": role, "password": "weak-pw"}})
        rc, _out, err = run_cli(monkeypatch, capsys, weak, "backup")
        assert rc == 1
        assert "permission denied" in err and "Traceback" not in err
        assert list(weak.backup_dir.glob("*")) == []
    finally:
        pg_conn.execute(f"DROP OWNED BY {role}")
        pg_conn.execute(f"DROP ROLE {role}")


def test_tool_lookup_override_path_and_versions(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from nchat_tui.pg.tools import candidates, find_tool, parse_version

    assert parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == (15, 18)
    assert parse_version("pg_restore (PostgreSQL) 9.6.24") == (9, 6)
    with pytest.raises(ValueError):
        parse_version("something else 1.0")
    # the override directory is the only place looked at
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("NCHAT_TUI_PG_BINDIR", str(empty))
    assert candidates("pg_dump") == []
    with pytest.raises(ToolMissing) as ei:
        find_tool("pg_dump", 15)
    assert "not found" in ei.value.message and "15 or newer" in ei.value.message
    monkeypatch.delenv("NCHAT_TUI_PG_BINDIR")
    # PATH first, then the Debian directories, newest first
    found = candidates("pg_dump")
    assert found and found[0] == shutil.which("pg_dump")
    assert "/usr/lib/postgresql/15/bin/pg_dump" in found
    tool = find_tool("pg_dump", 15)
    assert tool.major >= 15
    with pytest.raises(ToolMissing) as ei:
        find_tool("pg_dump", 99)
    assert "too old" in ei.value.message and "99 or newer" in ei.value.message


def test_heartbeat_lines_say_what_is_running() -> None:
    """The ticker's events name the phase's work; an index build never prints an empty line."""
    def tick(phase: str, operation: str = "restore") -> str:
        return Progress(operation, "tick", phase, tables_done=43, tables_total=43,
                        bytes_done=3 << 20, bytes_estimate=8 << 20, fraction=0.5,
                        elapsed_s=75.0, eta_s=75.0).line()

    assert tick("indexes") == "indexes: building indexes and constraints, 1 minute and 15 seconds elapsed"
    assert tick("schema") == "schema: reading the schema, 1 minute and 15 seconds elapsed"
    data = tick("data", "backup")
    assert data.startswith("[43/43] copying table data, 3.0 MiB of ~8.0 MiB written, ")
    assert data.endswith("ETA a minute")
    phase = Progress("backup", "phase", "verify", message="checksum").line()
    assert phase == "verify: checksum"
    assert tick("data", "restore").startswith("[43/43] copying table data, 50% of the data, ")
    assert tick("dump", "backup") == "dump: pg_dump is starting, 1 minute and 15 seconds elapsed"
