"""Verification that tells the truth, on real PostgreSQL (issue 9 items 2 and 12, issue 10
item 2): lost rows fail by default and estimates are never a plain ok; objects whose dotted
names collide are kept apart; the v0.4.0 guide's checks run only on that release's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nchat_tui.cli.main import main
from nchat_tui.pg.objkeys import key
from nchat_tui.pg.snapshot import take_snapshot
from nchat_tui.pg.target import Target
from nchat_tui.verify.engine import verify_upgrade
from tests.test_verify import BASE_SQL, E2EE_SQL, SEED_DATA_SQL, run_up, with_migrations


def _cli(t: Target, *argv: str) -> list[str]:
    common = ["--dsn", t.conninfo(), "--backup-dir", str(t.backup_dir), "--state-dir",
              str(t.state_dir)]
    if t.migrations_dir is not None:
        common += ["--migrations", str(t.migrations_dir)]
    return [*common, *argv]


def _snapshot_file(t: Target, path: Path) -> Path:
    with t.connect("test snapshot") as conn:
        snap = take_snapshot(conn)
    path.write_text(json.dumps(snap, default=str))
    return path


def _row_counts(capsys: pytest.CaptureFixture[str], t: Target, *flags: str
                ) -> tuple[int, dict[str, Any]]:
    rc = main(_cli(t, "verify", "--json", *flags))
    out = json.loads(capsys.readouterr().out)
    return rc, next(c for c in out["checks"] if c["id"] == "data.row_counts")


# ---------------------------------------------------------------------------------------------
# issue 9 item 2: row counts that cannot pass lost data
# ---------------------------------------------------------------------------------------------
# A table over 256 MB on disk with few rows (fillfactor 10 and wide rows: one row per page),
# so it is large the way the old size threshold measured tables, yet quick to fill and count.
BIG_SQL = """
CREATE TABLE nchat_messages (id bigint PRIMARY KEY, body text NOT NULL) WITH (fillfactor = 10);
INSERT INTO nchat_messages SELECT g, repeat(md5(g::text), 28) FROM generate_series(1, 34000) g;
CREATE TABLE nchat_users (id int PRIMARY KEY);
INSERT INTO nchat_users SELECT generate_series(1, 50);
ANALYZE;
"""


@pytest.fixture
def big(target: Target, tmp_path: Path) -> tuple[Target, Path]:
    with target.connect("test") as conn:
        conn.execute(BIG_SQL)
        size = conn.execute("SELECT pg_relation_size('nchat_messages')").fetchone()
    assert size is not None and size[0] > 256 * 1024**2
    return target, _snapshot_file(target, tmp_path / "before.json")


def test_lost_rows_fail_by_default_and_estimates_are_never_ok(
        big: tuple[Target, Path], capsys: pytest.CaptureFixture[str]) -> None:
    t, before = big
    against = ("--against", str(before))
    # Nothing lost, estimates asked for: an estimate, labelled so, never a plain ok.
    rc, c = _row_counts(capsys, t, *against, "--exact-limit-mb", "0")
    assert c["status"] == "warn", c["summary"]
    assert "estimated after ANALYZE (not proven" in c["summary"]
    msgs = {r["table"]: r for r in c["evidence"]["tables"]}["public.nchat_messages"]
    assert msgs["method"] == "estimate" and msgs["error"] >= 0 and "ANALYZE" in msgs["note"]
    for pct, left in ((5, 32300), (43, 19380)):
        with t.connect("test") as conn:
            conn.execute("DELETE FROM nchat_messages WHERE id %% 100 < %s", (pct,))
        # Default: every table counted exactly; the loss fails, naming the table.
        rc, c = _row_counts(capsys, t, *against)
        assert rc == 1 and c["status"] == "failed", c["summary"]
        assert f"public.nchat_messages has {left} row(s), 34000 before" in c["summary"]
        assert {r["table"]: r for r in c["evidence"]["tables"]}[
            "public.nchat_messages"]["method"] == "exact"
        # Estimates asked for: ANALYZE first, then the estimate with its error fails too.
        rc, c = _row_counts(capsys, t, *against, "--estimate-over", "0")
        assert rc == 1 and c["status"] == "failed", c["summary"]
        row = {r["table"]: r for r in c["evidence"]["tables"]}["public.nchat_messages"]
        assert row["method"] == "estimate" and row["after"] + row["error"] < 34000
        assert abs(row["after"] - left) <= row["error"], row
        assert "(estimate after ANALYZE)" in c["summary"]


def test_counts_show_progress_and_a_budget_a_table_not_counted_fails(
        big: tuple[Target, Path]) -> None:
    t, before = big
    said: list[str] = []
    rep = verify_upgrade(t, before, progress=lambda text, _f: said.append(text),
                         count_budget_s=600)
    c = rep.check("data.row_counts")
    assert c is not None and c.status == "ok", c
    assert "counted exactly" in c.summary
    line = next(s for s in said if "public.nchat_messages" in s)
    assert "counting" in line and "of a 600s budget" in line and "MiB" in line
    # A table the budget does not reach is not counted, and that fails (never assumed fine):
    # a millisecond cannot count 266 MB.
    rep = verify_upgrade(t, before, count_budget_s=0.001, record_baseline=False)
    c = rep.check("data.row_counts")
    assert c is not None and c.status == "failed", c
    assert "2 table(s) not counted (the time budget ran out)" in c.summary
    rows = {r["table"]: r for r in c.evidence["tables"]}
    assert rows["public.nchat_messages"]["method"] == "not_counted"
    assert rows["public.nchat_messages"]["after"] is None
    assert rows["public.nchat_users"]["note"] == "not reached: the time budget was spent"


# ---------------------------------------------------------------------------------------------
# issue 9 item 12: objects keyed by (schema, name), never a dotted string
# ---------------------------------------------------------------------------------------------
DOTTED_SQL = """
CREATE SCHEMA "a.b";
CREATE SCHEMA a;
CREATE TABLE "a.b".c (id int PRIMARY KEY, "x.y" int);
CREATE TABLE a."b.c" (id int PRIMARY KEY);
INSERT INTO "a.b".c SELECT generate_series(1, 5);
INSERT INTO a."b.c" SELECT generate_series(1, 7);
"""


def test_dotted_names_do_not_collide(target: Target, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with target.connect("test") as conn:
        conn.execute(DOTTED_SQL)
    before = _snapshot_file(target, tmp_path / "before.json")
    snap = json.loads(before.read_text())
    assert snap["row_counts"]['"a.b".c'] == 5 and snap["row_counts"]['a."b.c"'] == 7
    assert '"a.b".c."x.y"' in snap["inventory"]["columns"]
    with target.connect("test") as conn:
        conn.execute('TRUNCATE "a.b".c')
    rc = main(_cli(target, "verify", "--json", "--against", str(before)))
    out = json.loads(capsys.readouterr().out)
    assert rc == 1, out
    c = next(c for c in out["checks"] if c["id"] == "data.row_counts")
    assert c["status"] == "failed"
    assert '"a.b".c has 0 row(s), 5 before' in c["summary"]
    tables = {r["table"]: r for r in c["evidence"]["tables"]}
    assert tables['a."b.c"']["after"] == 7 and tables['"a.b".c']["after"] == 0


def test_manifests_with_dotted_keys_still_load(target: Target, tmp_path: Path) -> None:
    """A manifest written before quoted keys: same objects, keys 'schema.name' unquoted."""
    with target.connect("test") as conn:
        conn.execute('CREATE TABLE plain (id int); CREATE SCHEMA auth; '
                     'CREATE TABLE auth."Users Table" (id int PRIMARY KEY, "E.mail" text); '
                     'INSERT INTO plain SELECT generate_series(1, 3); '
                     'INSERT INTO auth."Users Table" SELECT generate_series(1, 4)')
        snap = take_snapshot(conn)

    def old(k: str) -> str:
        return k.replace('"', "")  # what the old code wrote: parts joined by dots, unquoted

    snap.pop("key_format")
    inv = snap["inventory"]
    for cat in ("tables", "columns", "indexes", "constraints", "sequences", "views", "enums",
                "triggers", "functions"):
        inv[cat] = {old(k): v for k, v in inv[cat].items()}
    snap["row_counts"] = {old(k): v for k, v in snap["row_counts"].items()}
    assert 'auth.Users Table.E.mail' in inv["columns"]
    rep = verify_upgrade(target, {"snapshot": snap}, record_baseline=False)
    assert rep.ok, [(c.id, c.summary) for c in rep.failed()]
    c = rep.check("schema.unexpected")
    assert c is not None and c.status == "ok", c and c.summary
    with target.connect("test") as conn:
        conn.execute('DELETE FROM auth."Users Table" WHERE id = 1')
    rep = verify_upgrade(target, {"snapshot": snap}, record_baseline=False)
    assert [c.id for c in rep.failed()] == ["data.row_counts"]
    assert 'auth."Users Table" has 3 row(s), 4 before' in rep.failed()[0].summary


def test_a_hand_edited_key_is_one_line_exit_2(target: Target, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with target.connect("test") as conn:
        conn.execute("CREATE TABLE t (id int)")
    before = _snapshot_file(target, tmp_path / "before.json")
    snap = json.loads(before.read_text())
    snap["row_counts"]['public."t'] = snap["row_counts"].pop("public.t")
    before.write_text(json.dumps(snap))
    assert main(_cli(target, "verify", "--against", str(before))) == 2
    err = capsys.readouterr().err
    assert "row_counts key 'public.\"t' is not a 2-part object key" in err
    assert "Traceback" not in err


def test_ddl_effects_key_names_as_snapshots_do() -> None:
    from nchat_tui.migrate.ddl_effects import analyse_files

    eff = analyse_files([("001.sql", 'CREATE TABLE "a.b".c (id serial PRIMARY KEY, "x.y" int);'
                                     'CREATE TABLE a."b.c" (id int);'
                                     'CREATE INDEX "I.1" ON "a.b".c ("x.y");')])
    assert set(eff.creates["tables"]) == {key("a.b", "c"), key("a", "b.c")}
    assert key("a.b", "c", "x.y") in eff.creates["columns"]
    assert key("a.b", "I.1") in eff.creates["indexes"]
    assert key("a.b", "c_id_seq") in eff.creates["sequences"]


# ---------------------------------------------------------------------------------------------
# issue 10 item 2: the v0.4.0 guide's checks only on that release's own files
# ---------------------------------------------------------------------------------------------
# Real nChat's 00013_billing_and_subscriptions.sql: version 13, billing tables, unrelated to
# the v0.4.0 guide (our own SQL with its traits: IF NOT EXISTS tables, varchar CHECK ... IN,
# partial unique indexes, a foreign key to an existing table).
BILLING_SQL = """
CREATE TABLE IF NOT EXISTS nchat_subscription_plans (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  slug VARCHAR(50) UNIQUE NOT NULL,
  tier VARCHAR(20) NOT NULL DEFAULT 'free'
    CHECK (tier IN ('free', 'starter', 'professional', 'enterprise', 'custom')),
  price_monthly INTEGER NOT NULL DEFAULT 0,
  is_active BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_plans_active ON nchat_subscription_plans(is_active, slug);
CREATE TABLE IF NOT EXISTS nchat_subscriptions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  plan_id UUID NOT NULL REFERENCES nchat_subscription_plans(id),
  channel_id UUID REFERENCES nchat_channels(id) ON DELETE SET NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'active'
    CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX idx_subscriptions_channel_active ON nchat_subscriptions(channel_id)
  WHERE status IN ('trialing', 'active');
"""


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "migrations"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def _backup_then_migrate(target: Target, mdir: Path) -> Target:
    from nchat_tui.backup.engine import run_backup

    t = with_migrations(target, mdir)
    run_up(t, to_version="1", gate=False)
    with t.connect("test seed") as conn:
        conn.execute(SEED_DATA_SQL)
        conn.execute("ANALYZE")
    run_backup(t)
    run_up(t)
    return t


def test_release_checks_skip_an_unrelated_version_13(target: Target, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    mdir = _project(tmp_path, {"001_base.sql": BASE_SQL,
                               "00013_billing_and_subscriptions.sql": BILLING_SQL,
                               "0014_unrelated.sql": "CREATE TABLE nchat_notes (id int);"})
    t = _backup_then_migrate(target, mdir)
    rc = main(_cli(t, "verify", "--json"))
    out = json.loads(capsys.readouterr().out)
    failed = [(c["id"], c["summary"]) for c in out["checks"] if c["status"] == "failed"]
    assert rc == 0, failed
    assert out["applied"] == ["00013_billing_and_subscriptions.sql", "0014_unrelated.sql"]
    seed = {c["id"]: c for c in out["checks"] if c["id"].startswith("seed004.")}
    assert set(seed) == {"seed004.messages", "seed004.channels", "seed004.new_indexes"}
    for c in seed.values():
        assert c["status"] == "skipped"
        assert "create none of the v0.4.0 E2EE objects" in c["summary"]
    assert out["release_checks"]["applied"] is False
    # The generic checks, derived from the files' own DDL, did the verification.
    ids = {c["id"]: c for c in out["checks"]}
    assert ids["schema.expected"]["status"] == "ok"
    fks = ids["schema.foreign_keys"]["evidence"]["foreign_keys"]
    assert {(f["table"], f["live_on_delete"]) for f in fks} == {
        ("public.nchat_subscriptions", "NO ACTION"), ("public.nchat_subscriptions", "SET NULL")}


def test_release_checks_recognise_the_e2ee_files_by_content(target: Target,
                                                            tmp_path: Path) -> None:
    """The guide's E2EE migration under a version number outside 13-16 is still recognised."""
    mdir = _project(tmp_path, {"001_base.sql": BASE_SQL,
                               "20260301120000_e2ee_system.sql": E2EE_SQL})
    t = _backup_then_migrate(target, mdir)
    rep = verify_upgrade(t)
    assert rep.ok, [(c.id, c.summary) for c in rep.failed()]
    assert rep.release_checks["applied"] is True
    assert rep.release_checks["files"] == ["20260301120000_e2ee_system.sql"]
    for cid in ("seed004.messages", "seed004.channels", "seed004.new_indexes"):
        c = rep.check(cid)
        assert c is not None and c.status == "ok", (cid, c)
