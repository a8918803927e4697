"""The plan: statements split by PostgreSQL's parser, locks, live sizes, rewrites, lint, drift."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger, ensure_go_ledger, pending
from nchat_tui.migrate.plan import analyse_sql, build_plan

Conn = psycopg.Connection[Any]


def test_split_lines_and_semicolons_in_bodies() -> None:
    text = ("-- header ✅ with a non-ASCII comment\n"
            "CREATE TABLE a (id int);\n\n"
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
            "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$;\n"
            "INSERT INTO a VALUES (1);\n")
    a = analyse_sql(text)
    assert a.txn_mode == "atomic"
    assert [s.line for s in a.statements] == [2, 4, 5, 6]
    assert a.statements[1].sql == "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$"
    # the DO block's body is read: RAISE NOTICE runs no SQL, so nothing to say about it
    assert a.statements[2].findings == [] and a.statements[2].body == []


@pytest.mark.parametrize(("text", "mode"), [
    ("CREATE TABLE a (id int);", "atomic"),
    ("BEGIN;\nCREATE TABLE a (id int);\nSAVEPOINT s;\nRELEASE s;\nCOMMIT;", "own_transaction"),
    ("START TRANSACTION;\nCREATE TABLE a (id int);\nEND;", "own_transaction"),
    ("BEGIN;\nCREATE TABLE a (id int);\nROLLBACK;", "rollback_guard"),
    ("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;",
     "multi_transaction"),
    ("CREATE TABLE a (id int);\nCOMMIT;", "multi_transaction"),
    ("CREATE INDEX CONCURRENTLY i ON a (id);", "non_transactional"),
    ("DROP INDEX CONCURRENTLY IF EXISTS i;", "non_transactional"),
    ("REINDEX INDEX CONCURRENTLY i;", "non_transactional"),
    ("BEGIN;\nCREATE INDEX CONCURRENTLY i ON a (id);\nCOMMIT;", "multi_transaction"),
    ("ALTER TYPE e ADD VALUE 'x';", "atomic"),
    ("ALTER TYPE e ADD VALUE 'x';\nUPDATE t SET s = 'x';", "non_transactional"),
    ("CREATE TABLE a (id int;", "unparseable"),
])
def test_transaction_modes(text: str, mode: str) -> None:
    assert analyse_sql(text).txn_mode == mode


def test_enum_add_value_before_pg12_is_non_transactional() -> None:
    assert analyse_sql("ALTER TYPE e ADD VALUE 'x';", 110000).txn_mode == "non_transactional"


def test_parse_error_names_the_line() -> None:
    a = analyse_sql("CREATE TABLE a (id int);\n\nSELEC 1;\n")
    assert a.txn_mode == "unparseable" and a.parse_error_line == 3
    assert "line 3" in a.txn_explanation


def test_lock_levels() -> None:
    a = analyse_sql("""
        CREATE INDEX i1 ON t (a);
        CREATE INDEX CONCURRENTLY i2 ON t (a);
        ALTER TABLE t ADD COLUMN c int;
        ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES u (id) NOT VALID;
        ALTER TABLE t VALIDATE CONSTRAINT fk;
        CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TABLE n (id int REFERENCES u (id));
        REFRESH MATERIALIZED VIEW mv;
        LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE;
        SELECT 1;
    """)
    locks = [(s.lock, [(t.name, t.lock, t.role) for t in s.targets]) for s in a.statements]
    assert locks == [
        ("SHARE", [("t", "SHARE", "table")]),
        ("SHARE UPDATE EXCLUSIVE", [("t", "SHARE UPDATE EXCLUSIVE", "table")]),
        ("ACCESS EXCLUSIVE", [("t", "ACCESS EXCLUSIVE", "table")]),
        ("SHARE ROW EXCLUSIVE", [("u", "SHARE ROW EXCLUSIVE", "referenced"),
                                 ("t", "SHARE ROW EXCLUSIVE", "table")]),
        ("SHARE UPDATE EXCLUSIVE", [("t", "SHARE UPDATE EXCLUSIVE", "table")]),
        ("SHARE ROW EXCLUSIVE", [("t", "SHARE ROW EXCLUSIVE", "table")]),
        ("SHARE ROW EXCLUSIVE", [("u", "SHARE ROW EXCLUSIVE", "referenced")]),
        ("ACCESS EXCLUSIVE", [("mv", "ACCESS EXCLUSIVE", "table")]),
        ("SHARE ROW EXCLUSIVE", [("t", "SHARE ROW EXCLUSIVE", "table")]),
        (None, []),
    ]


def _big_db(conn: Conn) -> None:
    conn.execute("""
        CREATE TABLE big (id bigserial PRIMARY KEY, body text, ref int);
        INSERT INTO big (body) SELECT repeat('x', 100) FROM generate_series(1, 30000);
        CREATE TABLE small (id int PRIMARY KEY);
        INSERT INTO small VALUES (1);
        ANALYZE big; ANALYZE small;
        CREATE TYPE mood AS ENUM ('ok');
    """)


def test_live_plan_weighs_findings_by_size(pg_conn: Conn, tmp_path: Path) -> None:
    _big_db(pg_conn)
    (tmp_path / "001_a.sql").write_text(
        "CREATE INDEX big_body ON big (body);\n"
        "CREATE INDEX small_id2 ON small (id);\n"
        "ALTER TABLE big ADD COLUMN u uuid DEFAULT gen_random_uuid();\n"
        "ALTER TABLE big ADD COLUMN s timestamptz DEFAULT now();\n"
        "ALTER TABLE big ADD COLUMN req int NOT NULL;\n"
        "ALTER TABLE big ADD CONSTRAINT fk FOREIGN KEY (ref) REFERENCES small (id);\n"
        "CREATE TABLE fresh (id int);\n"
        "CREATE INDEX fresh_id ON fresh (id);\n")
    disc = discover(tmp_path)
    led = detect_ledger(pg_conn)
    plan = build_plan(pg_conn, pending(disc.files, led), led, all_files=disc.files)
    fp = plan.files[0]
    st = fp.statements
    assert fp.txn_mode == "atomic" and fp.checksum == disc.files[0].sha256()
    big = st[0].targets[0]
    assert big.exists and big.qualified == "public.big" and big.row_estimate == 30000
    assert big.size_bytes and big.size_bytes > 3_000_000
    sev = {(f.statement, f.rule): f.severity for f in fp.findings}
    assert sev[(1, "require-concurrent-index-creation")] == "warn"  # 30,000 rows: medium
    assert sev[(2, "require-concurrent-index-creation")] == "info"  # one row: small
    assert st[2].rewrite and sev[(3, "adding-field-with-volatile-default")] == "warn"
    assert not st[3].rewrite  # now() is stable: no rewrite on PG11+
    assert sev[(5, "adding-required-field")] == "danger"  # fails: the table has rows
    assert sev[(6, "adding-foreign-key-constraint")] == "warn"
    assert [(t.name, t.lock) for t in st[5].targets] == [("small", "SHARE ROW EXCLUSIVE"),
                                                         ("big", "SHARE ROW EXCLUSIVE")]
    assert st[7].targets[0].created_by_plan
    assert sev[(8, "require-concurrent-index-creation")] == "info"
    d = plan.to_dict()
    assert d["summary"]["files"] == 1 and d["summary"]["findings"]["danger"] == 1


def test_invalid_index_behind_if_not_exists(pg_conn: Conn, tmp_path: Path) -> None:
    _big_db(pg_conn)
    pg_conn.execute("INSERT INTO big (body) VALUES ('dup'), ('dup')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg_conn.execute("CREATE UNIQUE INDEX CONCURRENTLY big_body_u ON big (body)")
    (tmp_path / "002_i.sql").write_text(
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS big_body_u ON big (body);\n")
    disc = discover(tmp_path)
    led = detect_ledger(pg_conn)
    plan = build_plan(pg_conn, disc.files, led)
    rules = {f.rule: f for f in plan.files[0].findings}
    assert rules["invalid-index-exists"].severity == "danger"
    assert "public.big_body_u" in rules["invalid-index-exists"].message
    assert "concurrent-index-if-not-exists" in rules


def test_drift_against_the_go_checksum(pg_conn: Conn, tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    (tmp_path / "002_b.sql").write_text("CREATE TABLE b (id int);\n")
    ensure_go_ledger(pg_conn)
    original = hashlib.sha256(b"CREATE TABLE a (id int); -- before an edit\n").hexdigest()
    pg_conn.execute("INSERT INTO np_common.schema_versions (name) VALUES ('001_a.sql')")
    pg_conn.execute("INSERT INTO nself_ops.migrations (id, name, checksum) "
                    "VALUES ('001', '001_a.sql', %s)", (original,))
    disc = discover(tmp_path)
    led = detect_ledger(pg_conn)
    plan = build_plan(pg_conn, pending(disc.files, led), led, all_files=disc.files)
    assert [f.file for f in plan.files] == ["002_b.sql"]
    assert [(d.file, d.recorded) for d in plan.drift] == [("001_a.sql", original)]


def test_if_not_exists_on_a_live_table_and_missing_relations(pg_conn: Conn, tmp_path: Path) -> None:
    _big_db(pg_conn)
    (tmp_path / "001_a.sql").write_text(
        "CREATE TABLE IF NOT EXISTS big (id bigserial PRIMARY KEY);\n"
        "CREATE INDEX big_ref ON big (ref);\n"
        "ALTER TABLE nope ADD COLUMN x int;\n"
        "CREATE TABLE made (id int);\n"
        "ALTER TABLE made ADD COLUMN y int;\n")
    disc = discover(tmp_path)
    led = detect_ledger(pg_conn)
    fp = build_plan(pg_conn, disc.files, led).files[0]
    idx = fp.statements[1].targets[0]
    assert idx.exists and not idx.created_by_plan and idx.row_estimate == 30000
    assert [(f.statement, f.rule) for f in fp.findings if f.rule == "missing-relation"] == [
        (3, "missing-relation")]


def test_plan_of_the_demo_013_to_016(pg_db: dict[str, str], pg_conn: Conn) -> None:
    """The embedded demo at scale 0.02: 013-016 pending, in order, with live locks and lint."""
    from nchat_tui.demo.builder import default_migrations_dir, load_demo

    mdir = default_migrations_dir()
    load_demo(pg_db, scale=0.02, migrations_dir=mdir)
    pg_conn.execute("ANALYZE")
    disc = discover(mdir)
    led = detect_ledger(pg_conn)
    assert led.kind == "go"
    todo = pending(disc.files, led)
    assert [f.name for f in todo] == ["013_e2ee_system.sql", "014_e2ee_system.sql",
                                      "015_voice_calls.sql", "016_live_streaming.sql"]
    plan = build_plan(pg_conn, todo, led, all_files=disc.files)
    assert plan.drift == []
    assert [f.file for f in plan.files] == [f.name for f in todo]
    assert all(f.txn_mode != "unparseable" for f in plan.files)
    assert all(len(f.statements) > 0 for f in plan.files)
    # the v0.4.0 changes to live tables: nchat_messages is locked with its real row estimate
    on_messages = [t for f in plan.files for s in f.statements for t in s.targets
                   if t.qualified == "public.nchat_messages"]
    assert on_messages and all(t.exists and not t.created_by_plan for t in on_messages)
    assert max(t.row_estimate or 0 for t in on_messages) > 1000
    assert "ACCESS EXCLUSIVE" in {t.lock for t in on_messages}
    d = plan.to_dict()
    assert d["summary"]["statements"] == sum(len(f.statements) for f in plan.files)
    # seed 004's materialized view is refreshed by triggers on the key tables
    assert any(f.rule == "refresh-matview-in-trigger" for f in plan.findings())


def test_trigger_that_refreshes_a_materialized_view(pg_conn: Conn, tmp_path: Path) -> None:
    (tmp_path / "001_mv.sql").write_text(
        "CREATE TABLE keys (id int PRIMARY KEY);\n"
        "CREATE MATERIALIZED VIEW bundle AS SELECT id FROM keys;\n"
        "CREATE UNIQUE INDEX bundle_id ON bundle (id);\n"
        "CREATE FUNCTION refresh_bundle() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN REFRESH MATERIALIZED VIEW CONCURRENTLY bundle; RETURN NULL; END $$;\n"
        "CREATE TRIGGER keys_refresh AFTER INSERT ON keys FOR EACH STATEMENT\n"
        "  EXECUTE FUNCTION refresh_bundle();\n")
    disc = discover(tmp_path)
    fp = build_plan(pg_conn, disc.files, detect_ledger(pg_conn)).files[0]
    hits = [f for f in fp.findings if f.rule == "refresh-matview-in-trigger"]
    assert [(f.statement, f.line, f.severity) for f in hits] == [(5, 6, "warn")]
    assert fp.statements[4].lock == "SHARE ROW EXCLUSIVE"
