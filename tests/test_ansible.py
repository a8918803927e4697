"""The Ansible collection (ansible/) driven by the real ansible-playbook and ansible processes.

Each "host" of the inventory is this machine (``ansible_connection: local``) pointing at its own
database on the test server, with its own migrations, backup and state directories; the
password comes from Ansible Vault. Ansible's own configuration, collections, temp dirs, log
and home are under the test's tmp dir. The collection is built and installed once per module
with ``ansible-galaxy``, as an operator would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nchat_tui.migrate.runner import RunOptions, run_migrations
from nchat_tui.pg.cluster import LocalCluster
from nchat_tui.pg.target import resolve_target

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NCHAT = BIN / "nchat-tui"
PLAYBOOK = "nself.nchat_tui.upgrade"
VAULT_PASS = "vault-pass-for-the-test"

BASE = ("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);\n"
        "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 200) g;\n")
MORE = ("ALTER TABLE items ADD COLUMN note text;\n"
        "CREATE TABLE tags (id int PRIMARY KEY, item_id int NOT NULL REFERENCES items (id));\n")
MORE_DOWN = "DROP TABLE tags;\nALTER TABLE items DROP COLUMN note;\n"
# parses and plans fine; fails at run time, after its first statement ran
BAD = ("CREATE TABLE audit (id int PRIMARY KEY, ratio int);\n"
       "INSERT INTO audit SELECT id, 100 / (id - id) FROM items;\n")
FIXED = ("CREATE TABLE audit (id int PRIMARY KEY, ratio int);\n"
         "INSERT INTO audit SELECT id, 100 / id FROM items;\n")
AUDIT_DOWN = "DROP TABLE audit;\n"

pytestmark = pytest.mark.slow


# -- Ansible, isolated in tmp ------------------------------------------------------------------
def _ansible_env(base: Path, collections: Path) -> dict[str, str]:
    """The environment of every ansible process: nothing of the developer's Ansible, PG* or
    home; config, collections, temp dirs and log under ``base``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "PG")) and k != "DATABASE_URL"}
    for d in ("home", "tmp-local", "tmp-remote"):
        (base / d).mkdir(parents=True, exist_ok=True)
    cfg = base / "ansible.cfg"
    if not cfg.exists():
        cfg.write_text("[defaults]\nstdout_callback = default\nretry_files_enabled = False\n"
                       f"interpreter_python = {sys.executable}\ncollections_scan_sys_path = False\n"
                       "deprecation_warnings = False\n")
    env.update(
        HOME=str(base / "home"),
        ANSIBLE_CONFIG=str(cfg),
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_LOCAL_TEMP=str(base / "tmp-local"),
        ANSIBLE_REMOTE_TEMP=str(base / "tmp-remote"),
        ANSIBLE_GALAXY_CACHE_DIR=str(base / "galaxy-cache"),
        ANSIBLE_LOG_PATH=str(base / "ansible.log"),
        # async jobs: where the job runs and where async_status looks must agree under a
        # HOME that is not the user's own
        ANSIBLE_ASYNC_DIR=str(base / "async"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        LC_ALL="C.UTF-8",
    )
    return env


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the collection from ansible/ and install the tarball, as the README says."""
    base = tmp_path_factory.mktemp("ansible-install")
    dest = base / "collections"
    env = _ansible_env(base, dest)
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO / "ansible"),
                            "--output-path", str(base / "dist")],
                           env=env, capture_output=True, text=True, cwd=base)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next((base / "dist").glob("nself-nchat_tui-*.tar.gz"))
    inst = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline",
                           "-p", str(dest), str(tarball)],
                          env=env, capture_output=True, text=True, cwd=base)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    assert (dest / "ansible_collections/nself/nchat_tui/plugins/modules/nchat.py").is_file()
    return dest


# -- a fleet of small deployments -----------------------------------------------------------------
@dataclass
class Host:
    name: str
    db: str
    conninfo: dict[str, str]
    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def vars(self) -> dict[str, Any]:
        return {"nchat_db_name": self.db, "nchat_migrations_dir": str(self.migrations),
                "nchat_backup_dir": str(self.backups), "nchat_state_dir": str(self.state)}


@dataclass
class Fleet:
    hosts: list[Host]
    base: Path
    env: dict[str, str]
    cluster: LocalCluster

    @property
    def inventory(self) -> Path:
        return self.base / "inventory" / "hosts.yml"

    @property
    def runs(self) -> Path:
        return self.base / "runs"

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def play(self, run_id: str, *args: str, verbose: bool = False) -> Play:
        cmd = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), PLAYBOOK,
               "--vault-password-file", str(self.base / "vault-pass"),
               "-e", f"nchat_fleet_dir={self.runs}", "-e", f"nchat_run_id={run_id}", *args]
        if verbose:
            cmd.append("-vvv")
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, cwd=self.base,
                              stdin=subprocess.DEVNULL)
        return Play(proc, time.monotonic() - t0, self.runs / run_id)


@dataclass
class Play:
    proc: subprocess.CompletedProcess[str]
    duration_s: float
    run_dir: Path

    @property
    def out(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def recap(self) -> dict[str, dict[str, int]]:
        rows = re.findall(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", self.proc.stdout, re.M)
        return {h: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for h, counts in rows}

    def summary(self) -> str:
        return (self.run_dir / "summary.md").read_text()

    def results(self, host: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / host / "results.json").read_text())
        return data


def _write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (d / name).write_text(body)


def _fingerprint(conninfo: dict[str, str]) -> dict[str, Any]:
    """What a deployment's database is: tables and columns, the ledger, the row counts."""
    with psycopg.connect(make_conninfo(**conninfo), autocommit=True) as conn:
        cols = conn.execute(
            "SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type "
            "FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1").fetchall()
        ledger = conn.execute("SELECT name FROM np_common.schema_versions ORDER BY name").fetchall()
        items = conn.execute("SELECT count(*), sum(id) FROM items").fetchone()
    return {"columns": [c[0] for c in cols], "ledger": [r[0] for r in ledger], "items": items}


def _ledger(h: Host) -> list[str]:
    return list(_fingerprint(h.conninfo)["ledger"])


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


def _encrypt(env: dict[str, str], base: Path, name: str, secret: str) -> str:
    proc = subprocess.run([str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file",
                           str(base / "vault-pass"), "--stdin-name", name],
                          input=secret, env=env, capture_output=True, text=True, cwd=base)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def make_fleet(pg_cluster: LocalCluster, collections: Path,
               tmp_path: Path) -> Iterator[Any]:
    """make_fleet({name: {file: sql}}) -> Fleet: one database per host with 001 applied (the
    deployed release), then the host's pending files added; inventory with the password in
    Vault. Every database the tests make (and any a restore swap kept) is dropped after."""
    made: list[str] = []

    def make(pending: dict[str, dict[str, str]], host_vars: dict[str, dict[str, Any]] | None = None,
             ) -> Fleet:
        base = tmp_path / "fleet"
        base.mkdir()
        env = _ansible_env(base, collections)
        (base / "vault-pass").write_text(VAULT_PASS + "\n")
        (base / "vault-pass").chmod(0o600)
        hosts = []
        for name, files in pending.items():
            db = f"fleet_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db}"')
            made.append(db)
            h = Host(name, db, pg_cluster.tcp_conninfo(db), base / "hosts" / name)
            _write(h.migrations, {"001_base.sql": BASE})
            dsn = " ".join(f"{k}={v}" for k, v in h.conninfo.items())
            t = resolve_target(dsn=dsn, migrations=h.migrations, backup_dir=h.backups,
                               state_dir=h.state, environ={})
            res = run_migrations(t, RunOptions(without_backup="the release deployed before"))
            assert res.committed() == ["001_base.sql"]
            _write(h.migrations, files)
            hosts.append(h)
        inv = base / "inventory"
        (inv / "group_vars" / "nchat").mkdir(parents=True)
        conn0 = hosts[0].conninfo
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "nchat_executable": str(NCHAT), "nchat_db_host": conn0["host"],
                  "nchat_db_port": int(conn0["port"]), "nchat_db_user": conn0["user"]}
        (inv / "group_vars" / "nchat" / "main.yml").write_text(json.dumps(common, indent=1))
        (inv / "group_vars" / "nchat" / "vault.yml").write_text(
            _encrypt(env, base, "nchat_pg_password", conn0["password"]))
        inventory = {"nchat": {"hosts": {h.name: {**h.vars(), **(host_vars or {}).get(h.name, {})}
                                         for h in hosts}}}
        (inv / "hosts.yml").write_text(json.dumps(inventory, indent=1))
        return Fleet(hosts, base, env, pg_cluster)

    yield make
    with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
        for db in made:
            kept = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                (db + "_%",)).fetchall()
            for name in [db, *(k[0] for k in kept)]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _no_secret(fleet: Fleet, *plays: Play) -> None:
    """The password appears in no output, no log, no file the play wrote."""
    secret = fleet.cluster.password
    for p in plays:
        assert secret not in p.proc.stdout and secret not in p.proc.stderr
    log = fleet.base / "ansible.log"
    assert log.is_file() and log.stat().st_size > 0
    assert secret not in log.read_text()
    for d in [fleet.runs, *(h.state for h in fleet.hosts)]:
        for f in d.rglob("*") if d.exists() else []:
            if f.is_file():
                assert secret not in f.read_text(errors="replace"), f


# -- the fleet: canary, a failure that stops it, the fix, nothing left --------------------------
def test_fleet_canary_failure_stops_fix_and_rerun(make_fleet: Any) -> None:
    fleet: Fleet = make_fleet({
        "db-canary": {"002_more.sql": MORE, "002_more.down.sql": MORE_DOWN},
        "db-bad": {"002_more.sql": MORE, "002_more.down.sql": MORE_DOWN,
                   "003_audit.sql": BAD, "003_audit.down.sql": AUDIT_DOWN},
        "db-third": {"002_more.sql": MORE, "002_more.down.sql": MORE_DOWN},
    })
    canary, bad, third = fleet.hosts
    before = {h.name: _fingerprint(h.conninfo) for h in fleet.hosts}
    state_before = {h.name: _files(h.state) for h in fleet.hosts}
    assert all(fp["ledger"] == ["001_base.sql"] for fp in before.values())

    # Check mode: status and plan on every host, nothing changed anywhere.
    check = fleet.play("check", "-e", "nchat_rollback=down", "--check")
    assert check.proc.returncode == 0, check.out
    assert {h: r["failed"] for h, r in check.recap().items()} == {
        "db-canary": 0, "db-bad": 0, "db-third": 0}
    assert {h: r["changed"] for h, r in check.recap().items()} == {
        "db-canary": 1, "db-bad": 1, "db-third": 1}  # "would apply"
    for h in fleet.hosts:
        assert _fingerprint(h.conninfo) == before[h.name], h.name
        assert _files(h.backups) == [], h.name
        assert _files(h.state) == state_before[h.name], h.name
    summary = check.summary()
    assert "check mode: nothing was changed" in summary
    assert "would apply 002_more.sql, 003_audit.sql" in summary
    assert check.results("db-bad")["steps"]["backup"]["skipped"] is True

    # The real run, -vvv: the canary is upgraded, the bad host fails at run time and goes back
    # down to where it was, the fleet stops there, the third host is never touched.
    run1 = fleet.play("run1", "-e", "nchat_rollback=down", verbose=True)
    assert run1.proc.returncode == 2, run1.out
    recap = run1.recap()
    assert recap["db-canary"]["failed"] == 0 and recap["db-canary"]["changed"] == 1
    assert recap["db-bad"]["failed"] == 1 and recap["db-bad"]["rescued"] == 1
    assert recap["db-third"]["changed"] == 0 and recap["db-third"]["failed"] == 0
    assert "<db-third>" not in run1.out  # -vvv names every connection and command per host
    assert "<db-canary> EXEC" in run1.out and "<db-bad> EXEC" in run1.out

    assert _ledger(canary) == ["001_base.sql", "002_more.sql"]
    assert "public.tags.item_id:integer" in _fingerprint(canary.conninfo)["columns"]
    assert _fingerprint(bad.conninfo) == before["db-bad"]  # as it was, down files and all
    assert _fingerprint(third.conninfo) == before["db-third"]
    assert _files(third.backups) == [] and _files(third.state) == state_before["db-third"]
    assert not (run1.run_dir / "db-third").exists()

    res = run1.results("db-bad")
    assert res["outcome"] == "failed" and res["failed_step"] == "migrate"
    assert "003_audit.sql statement 2 line 2: division by zero" in res["error"]
    assert res["way_back"] == "down" and res["way_back_ok"] is True
    assert res["steps"]["rollback"]["result"]["inventory_equal"] is True
    assert Path(res["way_back_backup"]).parent == bad.backups  # what the failed run wrote
    assert f"- Backup before the way back (what the failed upgrade wrote): {res['way_back_backup']}" \
        in run1.summary()
    assert res["before_version"] == res["after_version"] == "001"
    report = (run1.run_dir / "db-bad" / "report.md").read_text()
    assert "division by zero" in report and "rollback_down_finished" in report
    assert run1.results("db-canary")["outcome"] == "upgraded"
    assert (run1.run_dir / "db-canary" / "report.md").is_file()

    rows = _summary_rows(run1.summary())
    assert [r[0] for r in rows] == ["db-canary (canary)", "db-bad", "db-third"]
    assert rows[0][1:3] == ["001", "002"] and rows[0][3].startswith(canary.db + "_")
    assert "verified" in rows[0][3] and rows[0][5].startswith("upgraded: 002_more.sql")
    assert rows[1][1:3] == ["001", "001"]
    assert rows[1][5].startswith("FAILED at migrate: 003_audit.sql statement 2 line 2: "
                                 "division by zero")
    assert "way back (down): down to 001_base.sql: ok" in rows[1][5]
    assert rows[2][5] == "not run: the fleet stopped at db-bad"
    assert re.fullmatch(r"\d+(\.\d+)? s", rows[0][4])
    assert "**STOPPED** at db-bad" in run1.summary()
    assert "| Way back on failure | down: db-canary, db-bad, db-third (nchat_rollback) |" \
        in run1.summary()

    # The file is fixed: the second run applies only where something is pending.
    canary_backups = _files(canary.backups)
    (bad.migrations / "003_audit.sql").write_text(FIXED)
    run2 = fleet.play("run2", "-e", "nchat_rollback=down")
    assert run2.proc.returncode == 0, run2.out
    assert {h: (r["changed"], r["failed"]) for h, r in run2.recap().items()} == {
        "db-canary": (0, 0), "db-bad": (1, 0), "db-third": (1, 0)}
    assert _files(canary.backups) == canary_backups  # nothing pending: not even a backup
    assert _ledger(bad) == ["001_base.sql", "002_more.sql", "003_audit.sql"]
    assert _ledger(third) == ["001_base.sql", "002_more.sql"]
    assert [r[5].split(":")[0] for r in _summary_rows(run2.summary())] == [
        "nothing pending", "upgraded", "upgraded"]

    # Nothing pending anywhere: nothing changes, not even a backup file.
    backups = {h.name: _files(h.backups) for h in fleet.hosts}
    after = {h.name: _fingerprint(h.conninfo) for h in fleet.hosts}
    run3 = fleet.play("run3", "-e", "nchat_rollback=down")
    assert run3.proc.returncode == 0, run3.out
    assert {h: (r["changed"], r["failed"]) for h, r in run3.recap().items()} == {
        "db-canary": (0, 0), "db-bad": (0, 0), "db-third": (0, 0)}
    assert {h.name: _files(h.backups) for h in fleet.hosts} == backups
    assert {h.name: _fingerprint(h.conninfo) for h in fleet.hosts} == after

    _no_secret(fleet, check, run1, run2, run3)
    print(f"\nthree-host runs (s): check {check.duration_s:.1f}, run1 (canary ok, failure, way "
          f"back) {run1.duration_s:.1f} with -vvv, run2 {run2.duration_s:.1f}, "
          f"run3 (nothing pending) {run3.duration_s:.1f}")


def test_one_failure_in_a_batch_stops_the_next_batches(make_fleet: Any) -> None:
    """max_fail_percentage 0: a batch of two where one host fails stops the fleet after that
    batch (Ansible alone would go on while any host of the batch succeeded); the host that ran
    beside it finishes its upgrade, and both write the summary without losing a row. The long
    steps run as async jobs here (nchat_async_s), as over SSH."""
    fleet: Fleet = make_fleet({
        "db-bad": {"002_more.sql": MORE, "003_audit.sql": BAD},
        "db-peer": {"002_more.sql": MORE},
        "db-last": {"002_more.sql": MORE},
    })
    bad, peer, last = fleet.hosts
    before = {h.name: _fingerprint(h.conninfo) for h in fleet.hosts}
    play = fleet.play("batch", "-e", "nchat_rollback=restore",
                      "-e", json.dumps({"nchat_serial": [2, 1], "nchat_async_s": 600,
                                        "nchat_poll_s": 1}))
    assert play.proc.returncode == 2, play.out
    assert _fingerprint(bad.conninfo) == before["db-bad"]  # restored
    assert _ledger(peer) == ["001_base.sql", "002_more.sql"]
    assert _fingerprint(last.conninfo) == before["db-last"] and _files(last.backups) == []
    rows = {r[0]: r[5] for r in _summary_rows(play.summary())}
    assert rows["db-bad (canary)"].startswith("FAILED at migrate: 003_audit.sql statement 2")
    assert "way back (restore): " in rows["db-bad (canary)"]
    assert rows["db-peer"].startswith("upgraded: 002_more.sql")
    assert rows["db-last"] == "not run: the fleet stopped at db-bad"
    assert play.results("db-peer")["steps"]["migrate"]["ansible_job_id"]  # it ran async


def _summary_rows(summary: str) -> list[list[str]]:
    """The fleet table's rows (host, before, after, backup, duration, result)."""
    lines = summary.splitlines()
    start = lines.index("| Host | Before | After | Backup | Duration | Result |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


# -- the way back a failed verification takes, as named -----------------------------------------
@pytest.mark.parametrize("way_back", ["restore", "stop", "down-broken"])
def test_failed_verification_takes_the_named_way_back(make_fleet: Any, way_back: str) -> None:
    """The application's health endpoint does not answer after the migration: `restore` puts
    the pre-upgrade backup in place by a rename swap (the failed database kept aside); `stop`
    leaves the migrated database for the operator; a `down` whose down file fails says so
    loudly. Either way the host fails."""
    from nchat_tui.pg.cluster import free_port

    policy = way_back.split("-")[0]
    down = MORE_DOWN if way_back != "down-broken" else "DROP TABLE tagz;\n"  # a typo
    fleet: Fleet = make_fleet({"db-one": {"002_more.sql": MORE, "002_more.down.sql": down}})
    (h,) = fleet.hosts
    before = _fingerprint(h.conninfo)
    play = fleet.play(way_back, "-e", f"nchat_rollback={policy}",
                      "-e", f"nchat_health_url=http://127.0.0.1:{free_port()}/health")
    assert play.proc.returncode == 2, play.out
    assert play.recap()["db-one"]["failed"] == 1
    res = play.results("db-one")
    assert res["failed_step"] == "verify" and res["applied"] == ["002_more.sql"]
    assert "app.health" in res["error"] and "did not answer" in res["error"]
    assert res["way_back"] == policy
    assert res["way_back_ok"] is (way_back != "down-broken")
    row = _summary_rows(play.summary())[0]
    assert row[5].startswith("FAILED at verify: verification failed: app.health: ")
    if way_back == "down-broken":
        assert "; way back (down) FAILED: down to 001_base.sql: failed; reverted: none" in row[5]
        assert '002_more.down.sql statement 1 line 1: table "tagz" does not exist' in row[5]
        assert _ledger(h) == ["001_base.sql", "002_more.sql"]  # the down file rolled back whole
        return
    with psycopg.connect(make_conninfo(**fleet.cluster.socket_conninfo()), autocommit=True) as conn:
        kept = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (h.db + r"\_before\_rollback\_%",))]
    if way_back == "restore":
        assert _fingerprint(h.conninfo) == before
        assert len(kept) == 1
        kept_info = dict(h.conninfo, dbname=kept[0])
        assert _fingerprint(kept_info)["ledger"] == ["001_base.sql", "002_more.sql"]
        assert f"the previous database is kept as {kept[0]}" in row[5]
        assert row[1:3] == ["001", "001"]
    else:
        assert _ledger(h) == ["001_base.sql", "002_more.sql"] and kept == []
        assert "left as is (nchat_rollback=stop): committed 002_more.sql" in row[5]
        assert row[1:3] == ["001", "002"]
    report = (play.run_dir / "db-one" / "report.md").read_text()
    assert "did not answer" in report
    _no_secret(fleet, play)


# -- the play refuses to start without a way back ---------------------------------------------------
def test_play_refuses_without_a_named_way_back(make_fleet: Any) -> None:
    fleet: Fleet = make_fleet(
        {"db-a": {"002_more.sql": MORE}, "db-b": {"002_more.sql": MORE}},
        host_vars={"db-a": {"nchat_rollback": "restore"}})  # db-b names none
    before = {h.name: _fingerprint(h.conninfo) for h in fleet.hosts}
    missing = fleet.play("missing", verbose=True)
    assert missing.proc.returncode != 0
    assert "nchat_rollback is not set for db-b" in missing.out
    wrong = fleet.play("wrong", "-e", "nchat_rollback=yolo", verbose=True)
    assert wrong.proc.returncode != 0
    assert 'nchat_rollback is "yolo" for db-a' in wrong.out
    for p in (missing, wrong):
        assert "EXEC" not in p.out and not p.run_dir.exists()  # no host touched, no run
    for h in fleet.hosts:
        assert _fingerprint(h.conninfo) == before[h.name] and _files(h.backups) == []


# -- the lint gate --------------------------------------------------------------------------------
def test_lint_errors_stop_the_host_unless_allowed(make_fleet: Any) -> None:
    """A file with several transactions of its own is a lint error (it cannot run atomically):
    the host stops at the plan, before any backup; allowed and confirmed, it runs as written."""
    guarded = ("BEGIN;\nCREATE TABLE g1 (id int);\nCOMMIT;\n"
               "BEGIN;\nCREATE TABLE g2 (id int);\nCOMMIT;\n")
    fleet: Fleet = make_fleet({"db-lint": {"002_guarded.sql": guarded}})
    (h,) = fleet.hosts
    before = _fingerprint(h.conninfo)
    stopped = fleet.play("stopped", "-e", "nchat_rollback=restore")
    assert stopped.proc.returncode == 2
    res = stopped.results("db-lint")
    assert res["failed_step"] == "lint gate"
    assert "002_guarded.sql: transaction-control:" in res["error"]
    assert "nchat_allow_lint_errors=true" in res["error"]
    assert "the database was not changed" in _summary_rows(stopped.summary())[0][5]
    assert _fingerprint(h.conninfo) == before and _files(h.backups) == []

    allowed = fleet.play("allowed", "-e", "nchat_rollback=restore",
                         "-e", "nchat_allow_lint_errors=true",
                         "-e", json.dumps({"nchat_confirm_as_written": ["002_guarded.sql"]}))
    assert allowed.proc.returncode == 0, allowed.out
    assert allowed.recap()["db-lint"]["changed"] == 1
    assert _ledger(h) == ["001_base.sql", "002_guarded.sql"]


def test_catalog_preflight_stops_the_host_before_the_backup(make_fleet: Any) -> None:
    """A file that needs a schema the database lacks: the plan's catalog preflight names it and
    the host stops there, before a backup is taken, with the way to go on."""
    fleet: Fleet = make_fleet({"db-needs": {"002_app.sql": "CREATE TABLE app.things (id int);\n"}})
    (h,) = fleet.hosts
    before = _fingerprint(h.conninfo)
    play = fleet.play("preflight", "-e", "nchat_rollback=stop")
    assert play.proc.returncode == 2
    res = play.results("db-needs")
    assert res["failed_step"] == "preflight gate"
    assert res["error"].startswith("the files need 1 object(s) this database lacks: "
                                   "002_app.sql line 1: ")
    assert "schema" in res["error"] and "app" in res["error"]
    assert "nchat_accept_preflight" in res["error"]
    assert _fingerprint(h.conninfo) == before and _files(h.backups) == []


# -- the module alone: refused, locked, check mode, a wrong password ------------------------------
def _adhoc(fleet: Fleet, host: Host, args: dict[str, Any], *extra: str,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    """`ansible HOST -m nself.nchat_tui.nchat -a JSON`: its result (the tree callback's file)."""
    tree = fleet.base / "tree"
    c = host.conninfo
    margs = {"executable": str(NCHAT), "host": c["host"], "port": int(c["port"]),
             "user": c["user"], "database": host.db, "password": "{{ nchat_pg_password }}",
             "migrations": str(host.migrations), "backup_dir": str(host.backups),
             "state_dir": str(host.state), **args}
    proc = subprocess.run(
        [str(BIN / "ansible"), host.name, "-i", str(fleet.inventory), "-m", "nself.nchat_tui.nchat",
         "-a", json.dumps(margs), "-t", str(tree), "--vault-password-file",
         str(fleet.base / "vault-pass"), *extra],
        env={**fleet.env, **(env or {})}, capture_output=True, text=True, cwd=fleet.base,
        stdin=subprocess.DEVNULL)
    assert fleet.cluster.password not in proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads((tree / host.name).read_text())
    result["ansible_rc"] = proc.returncode  # 2: the task failed (the tree drops "failed")
    result["ansible_out"] = proc.stdout + proc.stderr
    return result


def test_module_reports_refused_locked_and_check_mode(make_fleet: Any) -> None:
    fleet: Fleet = make_fleet({"db-m": {"002_more.sql": MORE}})
    (h,) = fleet.hosts
    before = _fingerprint(h.conninfo)

    check = _adhoc(fleet, h, {"command": "migrate"}, "--check")
    assert check["changed"] is True and check["would_apply"] == ["002_more.sql"]
    assert check["cmd"][1] == "plan" and _fingerprint(h.conninfo) == before

    refused = _adhoc(fleet, h, {"command": "migrate"})  # no verified backup yet
    assert refused["ansible_rc"] == 2 and refused["refused"] is True
    assert refused["outcome"] == "refused" and refused["rc"] == 3 and refused["changed"] is False
    assert refused["msg"].startswith("refused: no verified backup of " + h.db)
    assert "--yes" in refused["cmd"] and not any("password" in a for a in refused["cmd"])

    with psycopg.connect(make_conninfo(**h.conninfo), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('nself:migrations'))")
        locked = _adhoc(fleet, h, {"command": "migrate", "without_backup": "test: the lock"})
    assert locked["ansible_rc"] == 2 and locked["locked"] is True and locked["refused"] is False
    assert locked["outcome"] == "locked" and locked["rc"] == 4
    assert locked["msg"].startswith("locked: ")
    assert _fingerprint(h.conninfo) == before

    applied = _adhoc(fleet, h, {"command": "migrate", "without_backup": "test: the module"})
    assert applied["ansible_rc"] == 0 and applied["changed"] is True
    assert applied["applied"] == ["002_more.sql"]
    assert applied["outcome"] == "ok" and applied["msg"] == "applied: 002_more.sql"
    again = _adhoc(fleet, h, {"command": "migrate", "without_backup": "test: nothing left"})
    assert again["changed"] is False and again["msg"] == "nothing to apply"

    # a password in the module's own environment (what `environment:` does) works, is masked,
    # and the module says why the password option is the better way
    inherited = _adhoc(fleet, h, {"command": "status", "password": None},
                       env={"PGPASSWORD": fleet.cluster.password})
    assert inherited["ansible_rc"] == 0 and inherited["version"] == "002"
    assert "came from the task's `environment:` keyword" in inherited["ansible_out"]

    wrong = _adhoc(fleet, h, {"command": "status", "password": "not-the-password"})
    assert wrong["ansible_rc"] == 2 and wrong["outcome"] == "bad_input" and wrong["rc"] == 2
    assert "password" in wrong["msg"] and "not-the-password" not in json.dumps(wrong)


def test_module_and_role_documentation_parses(collections: Path, tmp_path: Path) -> None:
    env = _ansible_env(tmp_path, collections)
    for args in (["nself.nchat_tui.nchat"], ["-t", "role", "nself.nchat_tui.upgrade"]):
        proc = subprocess.run([str(BIN / "ansible-doc"), *args], env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0 and "[ERROR]" not in proc.stderr, proc.stderr
    assert "refused" in proc.stdout or "nchat_rollback" in proc.stdout
