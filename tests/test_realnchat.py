"""Issue 10 items 4-8 on a real PostgreSQL, with fixtures that carry the real nChat files' traits.

``tests/fixtures/realnchat`` holds our own SQL written after reading the public nChat
repository's migrations (see its README for which file carries which trait), and what a plain
nself install gives a database (``nself_base.sql``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.cli.main import main
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger, ensure_go_ledger, pending, record_applied
from nchat_tui.migrate.plan import build_plan
from nchat_tui.migrate.preflight import NeedGroup, Preflight
from nchat_tui.migrate.runner import RunOptions, run_migrations
from nchat_tui.pg.target import Target

Conn = psycopg.Connection[Any]
FIX = Path(__file__).resolve().parent / "fixtures" / "realnchat"
MIGRATIONS = FIX / "migrations"
APPLIED_UPTO = 20260203070945  # the database: timestamps applied up to tenant_tables


def _copy(tmp_path: Path, keep: Any = lambda name: True, name: str = "migrations") -> Path:
    d = tmp_path / name
    d.mkdir()
    for p in sorted(MIGRATIONS.iterdir()):
        if keep(p.name):
            shutil.copy(p, d / p.name)
    return d


def _nself_base(conn: Conn) -> None:
    conn.execute((FIX / "nself_base.sql").read_text())


def _applied_timestamps(target: Target, conn: Conn, tmp_path: Path) -> None:
    """The issue's database: an nself base, nChat's timestamped files up to tenant_tables
    applied by the runner (Go ledger), the numbered 003/0007/00013 never run."""
    _nself_base(conn)
    first = _copy(tmp_path, lambda n: n[:14].isdigit() and int(n[:14]) <= APPLIED_UPTO,
                  name="first")
    res = run_migrations(target, RunOptions(migrations_dir=first, without_backup="test setup"),
                         None, None)
    assert res.status == "ok", res.to_dict()
    conn.execute("ANALYZE")


def _problems(pf: Preflight) -> dict[tuple[str, str], NeedGroup]:
    return {(g.kind, g.name): g for g in pf.grouped()}


# -- item 4: PL/pgSQL read with the real parser -------------------------------------------------
def test_item4_rewrite_inside_a_do_block_and_ddl_in_function_bodies(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    _applied_timestamps(target, pg_conn, tmp_path)
    pg_conn.execute("INSERT INTO nchat_messages (channel_id, body) "
                    "SELECT gen_random_uuid(), 'hello' FROM generate_series(1, 2000)")
    pg_conn.execute("ANALYZE nchat_messages")
    disc = discover(MIGRATIONS)
    led = detect_ledger(pg_conn)
    plan = build_plan(pg_conn, pending(disc.files, led), led, all_files=disc.files)
    fts = next(fp for fp in plan.files if fp.file == "003_fts_messages.sql")
    do = next(s for s in fts.statements if s.kind == "DoStmt")
    # the stored generated column added inside DO $$ ... IF NOT EXISTS ... $$: a rewrite of
    # nchat_messages under ACCESS EXCLUSIVE, with the table's live figures
    assert do.rewrite and "GENERATED ... STORED" in (do.rewrite_reason or "")
    assert "inside the IF at line 15" in (do.rewrite_reason or "")
    msgs = next(t for t in do.targets if t.name == "nchat_messages")
    assert msgs.lock == "ACCESS EXCLUSIVE" and msgs.exists and msgs.row_estimate == 2000
    assert [b.line for b in do.body] == [21]
    assert any(f.rule == "table-rewrite" and f.table == "nchat_messages" for f in do.findings)
    assert fts.strongest_lock == "ACCESS EXCLUSIVE"
    assert any("DO block line 21" in r for r in fts.rewrites)
    # the guarded grant is EXECUTE of a constant string: read, and it takes no table lock
    grant = [s for s in fts.statements if s.kind == "DoStmt"][1]
    assert [(b.how, b.summary) for b in grant.body] == [
        ("execute-literal", "GRANT SELECT ON nchat_messages_search_view TO nhost_hasura")]
    assert not grant.findings

    # a DO block whose EXECUTE builds its SQL at run time: said on that statement and line
    analysed = build_plan(pg_conn, disc.files, led)
    trig = next(fp for fp in analysed.files
                if fp.file == "20260203070920_indexes_and_triggers.up.sql")
    dyn = [f for f in trig.findings if f.rule == "dynamic-sql"]
    assert [(f.statement, f.line, f.severity) for f in dyn] == [(4, 27, "warn")]
    assert "cannot be read from the file" in dyn[0].message
    # a function whose body runs EXECUTE format(...): said on the CREATE FUNCTION
    tenant = next(fp for fp in analysed.files
                  if fp.file == "20260203070945_tenant_tables.up.sql")
    fn = [f for f in tenant.findings if f.rule == "dynamic-sql-in-function"]
    assert [(f.statement, f.line) for f in fn] == [(2, 24)]
    assert "public.set_tenant_schema()" in fn[0].message


def test_item4_static_ddl_in_a_function_body_is_reported(pg_conn: Conn, tmp_path: Path) -> None:
    (tmp_path / "001_fn.sql").write_text(
        "CREATE TABLE big (id int);\n"
        "CREATE FUNCTION widen() RETURNS void LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  ALTER TABLE big ALTER COLUMN id TYPE bigint;\n"
        "END $$;\n")
    disc = discover(tmp_path)
    fp = build_plan(pg_conn, disc.files, detect_ledger(pg_conn)).files[0]
    hits = [f for f in fp.findings if f.rule == "function-runs-ddl"]
    assert [(f.statement, f.line, f.severity) for f in hits] == [(2, 4, "warn")]
    assert "ACCESS EXCLUSIVE on big" in hits[0].message and "rewrites" in hits[0].message
    # it runs when called, not now: the CREATE FUNCTION itself locks nothing
    assert fp.statements[1].lock is None


# -- item 5: the catalog preflight --------------------------------------------------------------
def test_item5_preflight_on_a_fresh_database_names_each_missing_object(
        pg_conn: Conn, tmp_path: Path) -> None:
    from nchat_tui.migrate.preflight import run_preflight

    files = [(f.name, f.text()) for f in discover(MIGRATIONS).files]
    pf = run_preflight(pg_conn, files)
    got = _problems(pf)
    where = {k: g.where for k, g in got.items()}
    assert where[("schema", "auth")] == {"20260203070940_rls_policies.up.sql": [3, 11]}
    assert where[("schema", "app")] == {"20260204000010_source_account_rls.up.sql": [6]}
    assert where[("role", "hasura")] == {"0007_add_calls.sql": [24]}
    assert where[("function", "auth.uid()")] == {"0007_add_calls.sql": [22],
                                                  "00013_billing.sql": [27]}
    assert "schema auth does not exist either" in (got[("function", "auth.uid()")].detail or "")
    assert where[("relation", "users")] == {"0007_add_calls.sql": [11]}
    # numeric order runs 003, 0007, 00013 before the file that creates their tables
    later = got[("relation", "nchat_messages")]
    assert later.state == "later" and later.where == {"003_fts_messages.sql": [31, 34, 38,
                                                                                     46]}
    assert "20260203070910_imported_schema.up.sql line 34" in (later.detail or "")
    assert got[("relation", "nchat_workspaces")].state == "later"
    # 00013 created nchat_subscriptions first: the imported schema's CREATE TABLE IF NOT
    # EXISTS is skipped, and its columns never appear
    shape = got[("table shape", "nchat_subscriptions")]
    assert shape.where == {"20260203070910_imported_schema.up.sql": [45]}
    assert "stripe_subscription_id, ended_at never appear" in (shape.detail or "")
    assert "created earlier by 00013_billing.sql line 9" in (shape.detail or "")
    # what earlier pending files create meets later needs: the enums (made in DO blocks),
    # the tables, the function a SQL function body calls
    met = {(n.kind, n.name) for n in pf.needs if n.state == "earlier"}
    assert {("type", "user_status"), ("relation", "nchat_workspace_members"),
            ("function", "auth.user_id()")} <= met
    assert not any(k[1] in ("user_status", "subscription_status") for k in got)
    # the grant the block guards itself is not a failure, and the built SQL is listed
    assert [(g.kind, g.name) for g in pf.grouped(pf.guarded())] == [
        ("relation", "nchat_messages"), ("role", "nhost_hasura")]
    assert [(u.file, u.line) for u in pf.unchecked] == [
        ("20260203070920_indexes_and_triggers.up.sql", 27)]


def test_item5_preflight_on_an_nself_base_with_the_timestamps_applied(
        target: Target, pg_conn: Conn, tmp_path: Path) -> None:
    from nchat_tui.migrate.preflight import run_preflight

    _applied_timestamps(target, pg_conn, tmp_path)
    disc = discover(MIGRATIONS)
    led = detect_ledger(pg_conn)
    todo = pending(disc.files, led)
    assert [f.name for f in todo] == [
        "003_fts_messages.sql", "0007_add_calls.sql", "00013_billing.sql",
        "20260204000000_add_source_account_id.up.sql",
        "20260204000010_source_account_rls.up.sql"]
    pf = run_preflight(pg_conn, [(f.name, f.text()) for f in todo])
    got = _problems(pf)
    assert set(got) == {
        ("default operator class", "for uuid in gin (column nchat_messages.channel_id)"),
        ("relation", "users"), ("function", "auth.uid()"), ("role", "hasura"),
        ("table shape", "nchat_subscriptions"),
        ("column", "nchat_subscriptions.billing_interval"), ("schema", "app")}
    gin = got[("default operator class", "for uuid in gin (column nchat_messages.channel_id)")]
    assert gin.where == {"003_fts_messages.sql": [38]} and "btree_gin" in (gin.fix or "")
    assert "auth" in (got[("relation", "users")].detail or "")  # auth.users is there, off the path
    shape = got[("table shape", "nchat_subscriptions")]
    assert shape.state == "skipped" and shape.where == {"00013_billing.sql": [9]}
    assert "billing_interval, stripe_price_id never appear" in (shape.detail or "")
    assert "status is subscription_status there, character varying here" in (shape.detail or "")
    assert "chk_billing_interval" in (shape.detail or "")
    assert got[("column", "nchat_subscriptions.billing_interval")].where == {
        "00013_billing.sql": [19]}
    # body_tsv, added inside the DO block, meets the GIN index's column need; the auth schema
    # and pg_trgm's gin_trgm_ops come from the nself base
    assert not any("body_tsv" in k[1] or k[1] == "auth" for k in got)

    # the same list before migrate runs anything: refused, exit 3, nothing changed
    before = pg_conn.execute("SELECT count(*) FROM np_common.schema_versions").fetchone()
    rc = main(["--dsn", target.conninfo(), "--migrations", str(MIGRATIONS), "--state-dir",
               str(tmp_path / "state"), "migrate", "--json", "--yes", "--without-backup", "t"])
    assert rc == 3
    assert pg_conn.execute("SELECT count(*) FROM np_common.schema_versions").fetchone() == before
    assert pg_conn.execute("SELECT to_regclass('nchat_calls')").fetchone() == (None,)

    # with the objects created, what is left is what the files themselves get wrong
    pg_conn.execute("CREATE EXTENSION btree_gin; CREATE SCHEMA app; "
                    "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'")
    left = _problems(run_preflight(pg_conn, [(f.name, f.text()) for f in todo]))
    assert set(left) == {("relation", "users"), ("role", "hasura"),
                         ("table shape", "nchat_subscriptions"),
                         ("column", "nchat_subscriptions.billing_interval")}


def test_item5_migrate_refuses_on_a_fresh_database_before_anything_runs(
        target: Target, pg_conn: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["--dsn", target.conninfo(), "--migrations", str(MIGRATIONS), "--state-dir",
               str(tmp_path / "state"), "migrate", "--json", "--yes", "--without-backup", "t"])
    assert rc == 3
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "refused" and "--accept-preflight" in out["hint"]
    msg = out["message"]
    for name in ("schema auth", "schema app", "role hasura", "function auth.uid()",
                 "relation users", "table shape nchat_subscriptions"):
        assert name in msg, name
    assert "0007_add_calls.sql line 24" in msg
    assert pg_conn.execute("SELECT to_regclass('np_common.schema_versions'), "
                           "to_regclass('nchat_users')").fetchone() == (None, None)
    # an operator who accepts it (reason journaled) gets the real failure, rolled back
    res = run_migrations(target, RunOptions(migrations_dir=MIGRATIONS, without_backup="t",
                                            accept_preflight="test: see the real failure"),
                         None, None)
    assert res.status == "failed" and res.error is not None
    assert res.error.file == "003_fts_messages.sql" and res.error.sqlstate == "42P01"
    assert any("preflight overridden" in w for w in res.warnings)


def test_item5_plan_shows_the_preflight(target: Target, pg_conn: Conn, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _applied_timestamps(target, pg_conn, tmp_path)
    rc = main(["--dsn", target.conninfo(), "--migrations", str(MIGRATIONS), "plan"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "PREFLIGHT: 7 object(s)" in text
    assert "!! preflight line 11: relation users does not exist" in text
    assert "lock: ACCESS EXCLUSIVE on nchat_messages_search_view (created by this statement)" \
        in text
    assert "guarded: role nhost_hasura (003_fts_messages.sql line 53)" in text
    rc = main(["--dsn", target.conninfo(), "--migrations", str(MIGRATIONS), "plan", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["preflight"]["ok"] is False and d["summary"]["preflight_problems"] == 7


# -- item 6: false alarms ----------------------------------------------------------------------
def test_item6_no_false_alarms(pg_conn: Conn, tmp_path: Path) -> None:
    disc = discover(MIGRATIONS)
    plan = build_plan(pg_conn, disc.files, detect_ledger(pg_conn))
    fts = plan.files[0]
    assert fts.file == "003_fts_messages.sql"
    view = next(s for s in fts.statements if s.kind == "ViewStmt")
    # CREATE OR REPLACE VIEW of a new view succeeds: no "fails" finding for the view itself
    assert not any(f.rule == "missing-relation" and f.table == "nchat_messages_search_view"
                   for f in view.findings)
    # nchat_messages is created only by a LATER file: not "created by this plan"
    idx = next(s for s in fts.statements if s.kind == "IndexStmt")
    t = idx.targets[0]
    assert t.name == "nchat_messages" and not t.created_by_plan and not t.exists
    missing = [f for f in idx.findings if f.rule == "missing-relation"]
    assert missing and missing[0].severity == "danger"
    assert "only 20260203070910_imported_schema.up.sql (line 34)" in missing[0].message
    assert not any("created by this plan" in f.message or "created earlier in this plan"
                   in f.message for f in idx.findings)
    # in the file that creates it, a later statement's table is "created earlier in this plan"
    imported = next(fp for fp in plan.files
                    if fp.file == "20260203070920_indexes_and_triggers.up.sql")
    first = imported.statements[0].targets[0]
    assert first.name == "nchat_messages" and first.created_by_plan
    assert not any(f.rule == "missing-relation" for f in imported.findings)


# -- item 7: out-of-order pending files and dependency headers ---------------------------------
def test_item7_status_names_out_of_order_files_and_their_dependency_headers(
        target: Target, pg_conn: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _applied_timestamps(target, pg_conn, tmp_path)
    args = ["--dsn", target.conninfo(), "--migrations", str(MIGRATIONS)]
    assert main([*args, "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["pending_known"] is True
    assert st["out_of_order"] == ["003_fts_messages.sql", "0007_add_calls.sql",
                                  "00013_billing.sql"]
    files = {p["name"]: p for p in st["pending_files"]}
    assert files["003_fts_messages.sql"]["latest_applied"] == \
        "20260203070945_tenant_tables.up.sql"
    deps = files["003_fts_messages.sql"]["depends_on"]
    assert [(d["label"], [(r["file"], r["state"]) for r in d["refs"]]) for d in deps] == [
        ("depends on", [("20260203070910_imported_schema.up.sql", "applied")]),
        ("run after", [("20260203070920_indexes_and_triggers.up.sql", "applied")])]
    rls = files["20260204000010_source_account_rls.up.sql"]
    assert not rls["out_of_order"]
    assert [(r["file"], r["state"]) for r in rls["depends_on"][0]["refs"]] == [
        ("20260204000000_add_source_account_id.up.sql", "pending, runs before this file")]
    assert files["00013_billing.sql"]["depends_on"] == [
        {"label": "dependencies", "text": "Stripe plugin installed via the nself CLI",
         "refs": []}]
    assert any("will run out of order" in w for w in st["warnings"])

    assert main([*args, "status"]) == 0
    text = capsys.readouterr().out
    assert ("  - 003_fts_messages.sql\n      out of order: its version sorts below the latest "
            "applied 20260203070945_tenant_tables.up.sql") in text
    assert ("      depends on: 20260203070910_imported_schema (nchat_messages table)  "
            "[20260203070910_imported_schema.up.sql: applied]") in text

    # the plan carries the same notes per file
    rc = main([*args, "plan", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["summary"]["out_of_order"] == st["out_of_order"]
    assert d["files"][0]["notes"][0].startswith("out of order")


def test_status_without_a_migrations_directory_says_unknown(
        target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11 item 8: not "pending none" when there is nothing to look at."""
    assert main(["--dsn", target.conninfo(), "status"]) == 0
    text = capsys.readouterr().out
    assert "pending     unknown: no migrations directory" in text
    assert "pending     none" not in text
    assert main(["--dsn", target.conninfo(), "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["pending_known"] is False and st["pending"] == []


# -- item 8: files sharing a version prefix keep their own ledger rows --------------------------
def test_item8_shared_prefix_files_keep_their_own_audit_rows(target: Target, pg_conn: Conn,
                                                             tmp_path: Path) -> None:
    d = tmp_path / "shared"
    shutil.copytree(FIX / "shared_prefix", d)
    res = run_migrations(target, RunOptions(migrations_dir=d, without_backup="test"), None, None)
    assert res.status == "ok", res.to_dict()
    files = discover(d).files
    rows = pg_conn.execute("SELECT id, name, checksum FROM nself_ops.migrations "
                           "ORDER BY name").fetchall()
    # as the current Go CLI writes them: id = the file name without ".sql", one row each
    assert rows == [(f.name.removesuffix(".sql"), f.name, f.sha256()) for f in files]
    assert [r[0] for r in rows] == ["20260207_notifications_reminders", "20260207_sso_tables",
                                    "20260207_user_settings"]
    led = detect_ledger(pg_conn)
    assert all(led.checksum_for(f) == f.sha256() for f in files)


def test_item8_an_older_cli_prefix_row_is_upgraded_not_duplicated(pg_conn: Conn,
                                                                  tmp_path: Path) -> None:
    d = tmp_path / "shared"
    shutil.copytree(FIX / "shared_prefix", d)
    files = discover(d).files
    ensure_go_ledger(pg_conn)
    # an older CLI applied the first two: one audit row keyed by the shared prefix, which the
    # second file's apply took over
    pg_conn.execute("INSERT INTO np_common.schema_versions (name) VALUES (%s), (%s)",
                    (files[0].name, files[1].name))
    pg_conn.execute("INSERT INTO nself_ops.migrations (id, name, checksum) "
                    "VALUES ('20260207', %s, %s)", (files[1].name, files[1].sha256()))
    led = detect_ledger(pg_conn)
    assert any("no audit row" in n and files[0].name in n for n in led.notes)
    assert led.checksum_for(files[0]) is None
    assert led.checksum_for(files[1]) == files[1].sha256()
    # then the second file was reverted (its ledger row gone, the audit row marked)
    pg_conn.execute("DELETE FROM np_common.schema_versions WHERE name = %s", (files[1].name,))
    pg_conn.execute("UPDATE nself_ops.migrations SET rolled_back_at = now()")
    led = detect_ledger(pg_conn)
    # re-applying it and applying the third: the old row moves to the file's unique id and is
    # updated (not a second row for the same file); the third gets its own row
    with pg_conn.transaction():
        for f in files[1:]:
            record_applied(pg_conn, ["go"], f, checksum=f.sha256(), applied_by="t",
                           duration_ms=1, ledger=led)
    rows = pg_conn.execute("SELECT id, name, rolled_back_at FROM nself_ops.migrations "
                           "ORDER BY id").fetchall()
    assert rows == [("20260207_sso_tables", files[1].name, None),
                    ("20260207_user_settings", files[2].name, None)]


def test_preflight_with_hostile_names(pg_conn: Conn) -> None:
    """Names with quotes, dots, semicolons and newlines reach the catalog only as parameters
    and are shown on one line."""
    from nchat_tui.migrate.preflight import run_preflight

    text = ('CREATE SCHEMA "we.ird""s";\n'
            'CREATE TABLE "we.ird""s"."ta\nble" ("co;l" int PRIMARY KEY, "x""y" uuid);\n'
            'CREATE INDEX "ix\'1" ON "we.ird""s"."ta\nble" USING gin ("x""y");\n'
            'GRANT SELECT ON "we.ird""s"."ta\nble" TO "ro\'le\nx";\n'
            'SELECT "fn.x"."f\'n"();\n')
    pf = run_preflight(pg_conn, [("001_h.sql", text)])
    got = {(g.kind, g.name): g for g in pf.grouped()}
    assert set(got) == {("role", "ro'le\\nx"), ("function", "fn.x.f'n()"),
                        ("default operator class",
                         'for uuid in gin (column we.ird"s.ta\\nble.x"y)')}
    assert got[("role", "ro'le\\nx")].where == {"001_h.sql": [7]}
    assert all("\n" not in line for line in pf.lines())
    assert pg_conn.execute("SELECT to_regnamespace('\"we.ird\"\"s\"')").fetchone() == (None,)
