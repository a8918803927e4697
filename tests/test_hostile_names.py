"""Hostile object names are input (issue 9 item 1).

A database whose schema, table, column, index, constraint, sequence, view, materialized view,
function, trigger, type and role names hold newlines, quotes, ``;--``, dots, spaces, upper case,
``%s``, braces and non-ASCII, each ending in a payload that would be visible if it ever ran as
SQL (a role made superuser, a table created, a file touched by ``COPY ... TO PROGRAM``), is run
through every command of the real CLI (subprocesses, ``--json``). The test asserts that no
payload took effect, that pg_stat_statements (``track = all`` on the test server) recorded no
statement the tool does not issue (no role change, no ``COPY ... PROGRAM``, no table created
outside a restore), and that every hostile object was seen: counted in the manifest and by
``verify``, listed in the inventory, vacuumed by ``maintain``.

The attacker is a role with CREATE on its own schema and on ``public`` (what the issue
describes); the operator runs the tool as a superuser, as a real upgrade does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pglast
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from nchat_tui.pg.cluster import LocalCluster

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Hostile:
    """The hostile database and the names in it."""

    tag: str
    dsn: str
    dbname: str
    socket: dict[str, str]
    victim: str
    owner: str
    marker: Path
    pwned: str
    migrations: Path
    backup_dir: Path
    state_dir: Path
    tables: dict[tuple[str, str], int] = field(default_factory=dict)
    """(schema, table) -> its rows."""
    columns: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str]] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    sequences: list[tuple[str, str]] = field(default_factory=list)
    views: list[tuple[str, str]] = field(default_factory=list)
    functions: list[tuple[str, str]] = field(default_factory=list)
    created_dbs: list[str] = field(default_factory=list)
    names: dict[str, Any] = field(default_factory=dict)
    """Every hostile name by role (schema, t1, col, ...)."""


def payloads(tag: str) -> dict[str, str]:
    """Name endings that run as SQL if a name ever leaves its quotes (each <= 50 bytes)."""
    return {
        "role": f"\nALTER ROLE victim_{tag} SUPERUSER;--",
        "table": f"\nCREATE TABLE pwned_{tag}();--",
        "program": f"\nCOPY (SELECT 1) TO PROGRAM 'touch /tmp/p{tag}';--",
        "quote": f"\"; ALTER ROLE victim_{tag} SUPERUSER;--",
        "literal": f"'); CREATE TABLE pwned_{tag}();--",
    }


def _ident(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _build(conn: psycopg.Connection[Any], tag: str, dots: bool) -> dict[str, Any]:
    """Create the hostile objects as a non-superuser attacker role; return their names.

    ``dots`` puts dots in the schema's and the tables' names too (columns, indexes,
    constraints, sequences and functions always have them)."""
    p = payloads(tag)
    owner = f"Own \"r\" é {tag}{p['role']}"
    dot = "." if dots else " "
    schema = f"Sch{dot}é \"s\" 'q'{p['table']}"
    t1 = f"Tab{dot}le 'q' Ü{p['role']}"
    t2 = f"ü\"x\";--{p['program']}"
    t3 = f"MiXed %s %% {{x}}{p['quote']}"
    t4 = f"x'){dot}Ta{p['literal']}"
    col = f"Col \"c\" .{p['table']}"
    col2 = f"v.a'l %s{p['program']}"
    idx = f"Ix \"i\" {p['role']}"
    chk = f"Ck 'k' {p['table']}"
    fk = f"Fk. \"f\"{p['program']}"
    uq = f"Uq; {p['quote']}"
    seq = f"Seq \"s\" {p['role']}"
    view = f"View 'v' {p['table']}"
    mview = f"Mv \"m\" {p['role']}"
    mv_idx = f"Mvx {p['literal']}"
    func = f"Fn 'f' {p['program']}"
    func2 = f"Fn2 %s {p['literal']}"
    t5 = f"New{dot}T 'n' {p['program']}"
    col3 = f"Xc \"x\" {p['role']}"
    trg = f"Trg \"t\" {p['role']}"
    enum = f"Enum 'e' {p['table']}"
    for name in (owner, schema, t1, t2, t3, t4, col, col2, idx, chk, fk, uq, seq, view, mview,
                 mv_idx, func, func2, trg, enum, t5, col3):
        assert len(name.encode()) <= 63, name
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(_ident(f"victim_{tag}")))
    conn.execute(sql.SQL("CREATE ROLE {} NOSUPERUSER").format(_ident(owner)))
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(_ident(owner)))
    conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
        _ident(conn.info.dbname), _ident(owner)))
    conn.execute(sql.SQL("SET ROLE {}").format(_ident(owner)))
    q = conn.execute
    q(sql.SQL("CREATE SCHEMA {}").format(_ident(schema)))
    q(sql.SQL("CREATE TYPE {} AS ENUM ({}, {})").format(
        _ident(schema, enum), sql.Literal(f"a{p['literal']}"), sql.Literal("b\n';--")))
    q(sql.SQL("CREATE SEQUENCE {}").format(_ident(schema, seq)))
    q(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, {} text, {} int, deleted_at timestamptz, "
              "is_deleted boolean DEFAULT false, kind {}, CONSTRAINT {} CHECK (id > 0), "
              "CONSTRAINT {} UNIQUE ({}))").format(
        _ident(schema, t1), _ident(col), _ident(col2), _ident(schema, enum), _ident(chk),
        _ident(uq), _ident(col)))
    q(sql.SQL("CREATE INDEX {} ON {} ({})").format(_ident(idx), _ident(schema, t1), _ident(col2)))
    q(sql.SQL("CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
              "{} int CONSTRAINT {} REFERENCES {} (id), is_deleted boolean)").format(
        _ident(schema, t2), _ident(col), _ident(fk), _ident(schema, t1)))
    q(sql.SQL("CREATE TABLE public.{} ({} text, deleted_at timestamptz)").format(
        _ident(t3), _ident(col)))
    q(sql.SQL("CREATE TABLE public.{} (id int, {} int DEFAULT nextval({}))").format(
        _ident(t4), _ident(col2), sql.Literal(sql.Identifier(schema, seq).as_string(conn))))
    q(sql.SQL("CREATE VIEW {} AS SELECT id, {} FROM {}").format(
        _ident(schema, view), _ident(col), _ident(schema, t1)))
    q(sql.SQL("CREATE MATERIALIZED VIEW {} AS SELECT id FROM {}").format(
        _ident(schema, mview), _ident(schema, t1)))
    q(sql.SQL("CREATE UNIQUE INDEX {} ON {} (id)").format(_ident(mv_idx), _ident(schema, mview)))
    q(sql.SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
              "RETURN NEW; END $f$").format(_ident(schema, func)))
    q(sql.SQL("CREATE FUNCTION {}({} int) RETURNS int LANGUAGE sql AS 'SELECT 1'").format(
        _ident("public", func2), _ident(col)))
    q(sql.SQL("CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()").format(
        _ident(trg), _ident(schema, t1), _ident(schema, func)))
    rows = {(schema, t1): 3, (schema, t2): 2, ("public", t3): 4, ("public", t4): 1}
    # values as literals: psycopg counts a "%s" inside an identifier as a placeholder when a
    # query also takes parameters, so a hostile name never shares a query with parameters
    lit = sql.Literal
    for i in range(3):
        q(sql.SQL("INSERT INTO {} ({}, {}, deleted_at, is_deleted, kind) "
                  "VALUES ({}, {}, {}, {}, {})").format(
            _ident(schema, t1), _ident(col), _ident(col2), lit(f"v{i}{p['literal']}"), lit(i),
            lit(None if i else "2024-01-01"), lit(i == 2), lit(f"a{p['literal']}")))
    for i in range(2):
        q(sql.SQL("INSERT INTO {} ({}, is_deleted) VALUES ({}, {})").format(
            _ident(schema, t2), _ident(col), lit(i + 1), lit(i == 0)))
    for i in range(4):
        q(sql.SQL("INSERT INTO public.{} ({}, deleted_at) VALUES ({}, NULL)").format(
            _ident(t3), _ident(col), lit(f"r{i}\"';--")))
    q(sql.SQL("INSERT INTO public.{} (id) VALUES (1)").format(_ident(t4)))
    q(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(_ident(schema, mview)))
    q("RESET ROLE")
    q("ANALYZE")
    return {
        "owner": owner, "rows": rows,
        "columns": [(schema, t1, col), (schema, t1, col2), (schema, t2, col), ("public", t3, col),
                    ("public", t4, col2)],
        "indexes": [(schema, idx), (schema, mv_idx)],
        "constraints": [chk, fk, uq],
        "sequences": [(schema, seq)],
        "views": [(schema, view), (schema, mview)],
        "functions": [(schema, func), ("public", func2)],
        "schema": schema, "t1": t1, "t3": t3, "t5": t5, "mview": mview, "col": col,
        "col2": col2, "col3": col3,
    }


def _quoted(conn: psycopg.Connection[Any], *parts: str) -> str:
    return sql.Identifier(*parts).as_string(conn)


def _write_migrations(mdir: Path, conn: psycopg.Connection[Any], names: dict[str, Any],
                      tag: str) -> None:
    """001 is applied; 002 is pending (the plan sizes its hostile tables, migrate runs it) and
    its down file drops a hostile column (1 value differs from its default) and a hostile
    table (2 rows): the rollback facts count them."""
    p = payloads(tag)
    mdir.mkdir()
    t1 = _quoted(conn, names["schema"], names["t1"])
    t3 = _quoted(conn, "public", names["t3"])
    t5 = _quoted(conn, names["schema"], names["t5"])
    col = _quoted(conn, names["col"])
    col3 = _quoted(conn, names["col3"])
    nx = "Nx " + p["role"]
    (mdir / "001_base.sql").write_text("-- the hostile objects already exist\nSELECT 1;\n")
    (mdir / "001_base.down.sql").write_text(
        f"ALTER TABLE {t1} DROP COLUMN {col};\nDROP TABLE {t3};\n")
    (mdir / "002_more.sql").write_text(
        f"ALTER TABLE {t1} ADD COLUMN {col3} int DEFAULT 0;\n"
        f"UPDATE {t1} SET {col3} = 5 WHERE id = 1;\n"
        f"CREATE TABLE {t5} (id int);\n"
        f"INSERT INTO {t5} VALUES (1), (2);\n"
        f"CREATE INDEX {_quoted(conn, nx)} ON {t3} ({col});\n")
    (mdir / "002_more.down.sql").write_text(
        f"DROP INDEX {_quoted(conn, 'public', nx)};\n"
        f"DROP TABLE {t5};\n"
        f"ALTER TABLE {t1} DROP COLUMN {col3};\n")


@pytest.fixture
def hostile(pg_cluster: LocalCluster, pg_db: dict[str, str], tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Hostile]:
    tag = uuid.uuid4().hex[:8]
    marker = Path(f"/tmp/p{tag}")
    with psycopg.connect(make_conninfo(**pg_db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        names = _build(conn, tag, dots=getattr(request, "param", False))
        # the Go CLI's ledger with 001 applied
        conn.execute("CREATE SCHEMA np_common")
        conn.execute("CREATE TABLE np_common.schema_versions (name text PRIMARY KEY, "
                     "applied_at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO np_common.schema_versions (name) VALUES ('001_base.sql')")
        mdir = tmp_path / "migrations"
        _write_migrations(mdir, conn, names, tag)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    h = Hostile(tag=tag, dsn=dsn, dbname=pg_db["dbname"],
                socket=pg_cluster.socket_conninfo(pg_db["dbname"]), victim=f"victim_{tag}",
                owner=names["owner"], marker=marker, pwned=f"pwned_{tag}", migrations=mdir,
                backup_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                tables=names["rows"], columns=names["columns"], indexes=names["indexes"],
                constraints=names["constraints"], sequences=names["sequences"],
                views=names["views"], functions=names["functions"], names=names)
    try:
        yield h
    finally:
        with psycopg.connect(make_conninfo(**pg_cluster.socket_conninfo()), autocommit=True) as conn:
            for db in h.created_dbs:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    _ident(db)))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                _ident(h.dbname)))
            # pg_db drops it again (IF EXISTS); the roles own objects only there
            for role in (h.owner, h.victim):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(_ident(role)))
        marker.unlink(missing_ok=True)


def _cli(h: Hostile, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 300
         ) -> dict[str, Any]:
    """Run one command through the real CLI with --json; return its JSON (or {})."""
    cmd = [sys.executable, "-m", "nchat_tui", *args, "--dsn", h.dsn,
           "--migrations", str(h.migrations), "--backup-dir", str(h.backup_dir),
           "--state-dir", str(h.state_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/tmp",
                          env={**os.environ, "NCHAT_TUI_NO_COLOR": "1"}, stdin=subprocess.DEVNULL)
    where = f"nchat-tui {' '.join(args)} exited {proc.returncode}\nstderr: {proc.stderr[-3000:]}" \
            f"\nstdout: {proc.stdout[-3000:]}"
    assert "Traceback" not in proc.stderr, where
    assert proc.returncode in ok, where
    out = proc.stdout.strip()
    if not out or "--json" not in args:
        return {}
    return json.loads(out)


FORBIDDEN_NODES = {"AlterRoleStmt", "CreateRoleStmt", "GrantRoleStmt", "DoStmt",
                   "AlterSystemStmt", "DropRoleStmt", "CreateFunctionStmt"}
"""Never issued by the tool. In a database a restore fills, the dump's own DDL runs
(CREATE FUNCTION included, quoted by pg_dump): there only the others are forbidden."""


def _statements(socket: dict[str, str]) -> list[tuple[str, str]]:
    """Every statement pg_stat_statements recorded since the reset, with its database."""
    with psycopg.connect(make_conninfo(**socket), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(d.datname, s.dbid::text), s.query FROM pg_stat_statements s "
            "LEFT JOIN pg_database d ON d.oid = s.dbid").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _check_statements(h: Hostile, statements: list[tuple[str, str]]) -> None:
    """Nothing ran that the tool does not issue: every recorded statement parses, none changes
    a role, runs a program or creates the payload's table, and none defines code outside the
    databases a restore fills."""
    assert statements, "pg_stat_statements recorded nothing: the check would be blind"
    bad = []
    for db, text in statements:
        try:
            stmts = pglast.parse_sql(text)
        except pglast.parser.ParseError as exc:
            bad.append((db, text, f"unparseable: {exc}"))
            continue
        restored = db not in (h.dbname, "postgres")
        for raw in stmts:
            node: Any = raw.stmt  # pglast's node classes, told apart by name below
            kind = type(node).__name__
            if kind in FORBIDDEN_NODES and not (restored and kind == "CreateFunctionStmt"):
                bad.append((db, text, kind))
            elif kind == "CopyStmt" and node.is_program:
                bad.append((db, text, "COPY PROGRAM"))
            elif kind in ("CreateStmt", "CreateTableAsStmt"):
                rel = node.relation if kind == "CreateStmt" else node.into.rel
                if rel.relname.startswith("pwned_"):
                    bad.append((db, text, "payload table"))
    assert not bad, "statements the tool never issues ran:\n" + "\n".join(map(repr, bad[:10]))


def _assert_no_payload(h: Hostile) -> None:
    with psycopg.connect(make_conninfo(**h.socket), autocommit=True) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s",
                           (h.victim,)).fetchone()
        assert row is not None and row[0] is False, "the victim role was made superuser"
        for db in [h.dbname, *h.created_dbs]:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (db,)).fetchone()
            if not exists:
                continue
            with psycopg.connect(make_conninfo(**{**h.socket, "dbname": db}), autocommit=True) as c2:
                found = c2.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'pwned%%'"
                                   ).fetchone()
                assert found == (0,), f"a payload table was created in {db}"
    assert not h.marker.exists(), "COPY ... TO PROGRAM ran"


def _row_counts(snapshot: dict[str, Any]) -> dict[tuple[str, str], int]:
    """The snapshot's row counts by (schema, table) (keys in objkeys' quoted form)."""
    from nchat_tui.pg.objkeys import split2

    return {split2(k): int(v) for k, v in snapshot["row_counts"].items()}


def _mentions(obj: Any, name: str) -> bool:
    """``name`` appears whole in ``obj``, as it is or in a key's quoted form (objkeys),
    JSON-escaped the same way on both sides."""
    from nchat_tui.pg.objkeys import ident

    text = json.dumps(obj, ensure_ascii=False)
    return any(json.dumps(n, ensure_ascii=False)[1:-1] in text for n in (name, ident(name)))


def test_every_command_over_hostile_names(hostile: Hostile, tmp_path: Path) -> None:
    _every_command(hostile, tmp_path)


@pytest.mark.parametrize("hostile", [True], indirect=True, ids=["dots-in-schema-and-tables"])
def test_every_command_over_dotted_hostile_names(hostile: Hostile, tmp_path: Path) -> None:
    _every_command(hostile, tmp_path)


def _every_command(h: Hostile, tmp_path: Path) -> None:
    names = h.names
    with psycopg.connect(make_conninfo(**h.socket), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")

    st = _cli(h, "status", "--json")
    assert st["pending"] == ["002_more.sql"]

    plan = _cli(h, "plan", "--json")
    assert _mentions(plan, names["t1"]) and _mentions(plan, names["t3"]), plan

    # the snapshot itself, as the backup takes it: every hostile object counted and listed
    b = _cli(h, "backup", "--json")
    assert b["state"] == "verified", b
    dump = b["path"]
    manifest = json.loads(Path(b["manifest"]).read_text())
    counts = _row_counts(manifest["snapshot"])
    for key, n in h.tables.items():
        assert counts.get(key) == n, (key, counts)
    inv = manifest["snapshot"]["inventory"]
    for _s, _t, c in h.columns:
        assert _mentions(inv["columns"], c), c
    for kind, objs in (("indexes", h.indexes), ("sequences", h.sequences),
                       ("views", h.views), ("functions", h.functions)):
        for _s, name in objs:
            assert _mentions(inv[kind], name), (kind, name)
    for c in h.constraints:
        assert _mentions(inv["constraints"], c), c
    toc = [c for c in b["verification"]["checks"] if c["check"] == "toc"]
    assert toc and toc[0]["ok"], toc

    lst = _cli(h, "backups", "--json")
    assert [x["state"] for x in lst["backups"]] == ["verified"]

    vb = _cli(h, "verify-backup", dump, "--test-restore", "--json")
    assert vb["ok"] and any(c["check"] == "test_restore" and c["ok"] for c in vb["checks"]), vb

    # a name the operator types is checked, not quoted: a hostile one is refused in one line
    bad = _cli(h, "restore", dump, "--into", f"r{h.tag}{payloads(h.tag)['table']}", "--json",
               ok=(2,))
    assert bad["error"] == "bad_input", bad
    into = f"r_{h.tag}"
    h.created_dbs.append(into)
    rs = _cli(h, "restore", dump, "--into", into, "--json")
    assert rs["compared"] and not rs["mismatches"], rs
    assert _row_counts({"row_counts": rs["counts"], "inventory": inv}) == counts

    mg = _cli(h, "migrate", "--yes", "--json")
    assert mg, mg

    vf = _cli(h, "verify", "--json", "--against", b["manifest"], ok=(0, 1))
    row_check = [c for c in vf["checks"] if c["id"] == "data.row_counts"]
    assert row_check and row_check[0]["status"] == "ok", row_check
    for (_s, t) in h.tables:
        assert _mentions(row_check, t), t

    rb = _cli(h, "rollback", "--json", "--against", b["manifest"])
    down = rb["down"]
    assert _mentions(down, names["col3"]) and _mentions(down, names["t5"]), \
        json.dumps(down, indent=1, ensure_ascii=False)
    assert (down["rows_lost"], down["values_lost"]) == (2, 1), down

    mp = _cli(h, "maintain", "--json", "--against", b["manifest"])
    assert [v["name"] for v in mp["plan"]["matviews"]] == [names["mview"]], mp
    assert _mentions(mp["plan"]["new_tables"], names["t5"]), mp
    for t in ("t1", "t3"):
        assert _mentions(mp["plan"]["changed_tables"], names[t]), (t, mp)
    mr = _cli(h, "maintain", "--vacuum", "--refresh", "--yes", "--json",
              "--against", b["manifest"])
    assert len(mr["results"]) == 4 and all(r["status"] == "done" for r in mr["results"]), mr

    mon = _cli(h, "monitor", "--once", "--json")
    for t in ("t1", "t3"):
        assert _mentions(mon, names[t]), (t, mon)

    for tree in ("connection", "missing-data", "slow", "v040"):
        extra = ("--before", b["manifest"]) if tree == "missing-data" else ()
        tr = _cli(h, "troubleshoot", tree, "--json", *extra, ok=(0, 1))
        errors = [f for f in tr["trees"][tree] if f["status"] == "error"]
        assert not errors, errors
        if tree == "missing-data":
            counted = tr["trees"][tree][0]
            assert counted["status"] == "ok", counted
            assert counted["evidence"]["unchanged_or_grown"] == len(h.tables) + 1, counted
        if tree == "slow":
            fk = [f for f in tr["trees"][tree] if f["check"] == "fk_without_index"]
            assert fk and _mentions(fk[0]["evidence"], names["col"]), fk

    report = tmp_path / "report.md"
    _cli(h, "report", "--output", str(report))
    assert report.exists()

    _assert_no_payload(h)
    statements = _statements(h.socket)
    assert sum(db == h.dbname for db, _ in statements) > 50, statements
    _check_statements(h, statements)
