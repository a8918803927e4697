"""SQL templates cannot turn a name into SQL (issue 9, item 1), over every file in ``sql/``.

A template's comments once named its placeholders (``-- rows of {table}``) and
``psycopg.sql.SQL.format`` filled those too: a table named ``x<newline>ALTER ROLE ...;--`` then
ran as a statement. Now ``sql_text`` refuses a file whose comments hold ``{``, ``}`` or ``%``
and ``sql_template`` strips comments before ``format``; these tests hold every file to that,
and check the tokenizer that finds the comments against PostgreSQL's own lexer.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pglast
import psycopg
import pytest
from psycopg import sql

from nchat_tui.pg import queries as resources
from nchat_tui.pg.queries import SQL_DIR, TemplateError, check_comments, sql_template, sql_text
from nchat_tui.pg.sqltokens import strip_comments, tokenize

HOSTILE = ['x\nALTER ROLE victim SUPERUSER;--', 'y"; DROP TABLE t;--', "z'); SELECT 1;--",
           "a.b c", "{table}", "%s %(x)s %%", "/* open", "*/ close", "$$ dollar", "Ü\r\n--"]
FILES = sorted(str(p.relative_to(SQL_DIR)) for p in SQL_DIR.rglob("*.sql"))
QUERIES = [f for f in FILES if not f.startswith("demo/")]
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_]*)\}(?!\})")


def test_every_query_file_loads_and_no_comment_names_a_placeholder() -> None:
    assert len(QUERIES) > 100
    for name in QUERIES:
        sql_text(name)  # raises TemplateError on a {, } or % in a comment


def _placeholders(name: str) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(strip_comments(sql_text(name)))))


TEMPLATES = [f for f in QUERIES if _placeholders(f)]


def test_templates_are_found() -> None:
    # the files the issue named, and the rest that compose identifiers
    for must in ("snapshot/count_rows.sql", "snapshot/lock_table.sql", "verify/count_flagged.sql",
                 "rollback/count_not_null.sql", "maintenance/vacuum_analyze.sql",
                 "checks/count_rows.sql", "backup/create_database.sql"):
        assert must in TEMPLATES
    assert len(TEMPLATES) >= 20


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_hostile_name_stays_inside_its_quotes_in_every_template(name: str) -> None:
    """Fill every placeholder with a hostile identifier: the result has no comment and no
    statement break outside a quoted identifier, so it is one statement whatever the name."""
    template = sql_template(name)
    for hostile in HOSTILE:
        filled = template.format(**{p: sql.Identifier("s", hostile) if p else sql.Identifier(hostile)
                                    for p in _placeholders(name)}).as_string(None)
        toks = list(tokenize(filled))
        assert not [t for t in toks if t.kind == "comment"], (name, filled)
        assert not [t for t in toks if t.kind == "punct" and t.text == ";"], (name, filled)
        assert not [t for t in toks if t.unterminated], (name, filled)
        idents = [t.text for t in toks if t.kind == "ident"]
        assert any(hostile.replace('"', '""') in i for i in idents), (name, filled)


def test_the_old_templates_were_injectable() -> None:
    """What the bug was: the comment of snapshot/count_rows.sql, filled, became a statement."""
    old = ("-- count_rows.sql: rows of {table} (a template).\n"
           "SELECT count(*) FROM {table}")
    filled = sql.SQL(old).format(table=sql.Identifier("s", HOSTILE[0])).as_string(None)
    assert len(pglast.parse_sql(filled)) == 2  # the ALTER ROLE is a statement of its own
    with pytest.raises(TemplateError, match="line 1"):
        check_comments("x.sql", old)
    safe = sql.SQL(strip_comments(old)).format(table=sql.Identifier("s", HOSTILE[0]))
    stmts = pglast.parse_sql(safe.as_string(None))
    assert len(stmts) == 1 and type(stmts[0].stmt).__name__ == "SelectStmt"


@pytest.mark.parametrize("comment", ["-- rows of {table}", "/* {x} */", "-- 10% of rows",
                                     "-- %(pid)s", "/* nested /* } */ */"])
def test_a_file_with_a_placeholder_in_a_comment_is_refused(tmp_path: Path, comment: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "bad.sql").write_text(f"{comment}\nSELECT 1\n")
    monkeypatch.setattr(resources, "SQL_DIR", tmp_path)
    resources.sql_text.cache_clear()
    resources.sql_template.cache_clear()
    try:
        with pytest.raises(TemplateError):
            resources.sql_text("x/bad.sql")
        with pytest.raises(TemplateError):
            resources.sql_template("x/bad.sql")
    finally:
        resources.sql_text.cache_clear()
        resources.sql_template.cache_clear()


def test_strip_comments_keeps_strings_and_identifiers() -> None:
    text = ("SELECT '-- not a comment', \"a--b\", $$ /* no */ $$, e'\\' -- x' -- yes\n"
            "/* a /* nested */ comment */ FROM t")
    out = strip_comments(text)
    assert "-- not a comment" in out and '"a--b"' in out and "/* no */" in out
    assert "-- x'" in out and "yes" not in out and "nested" not in out
    assert pglast.parse_sql(out)


# -- the tokenizer against PostgreSQL's lexer (pglast.parser.scan) ------------------------------
def _pg_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of comments, strings and quoted identifiers as PostgreSQL scans them."""
    kinds = {"SQL_COMMENT": "comment", "C_COMMENT": "comment", "SCONST": "string",
             "USCONST": "string", "BCONST": "string", "XCONST": "string", "IDENT": "ident",
             "UIDENT": "ident"}
    out = []
    for t in pglast.parser.scan(text):
        kind = kinds.get(t.name)
        tok = text[t.start:t.end + 1]
        if kind == "ident" and not tok.startswith(('"', 'U&', 'u&')):
            continue
        if kind == "string" and tok.startswith("$"):
            kind = "dollar"
        if kind:
            out.append((kind, tok))
    return out


def _our_tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for t in tokenize(text):
        if t.kind in ("comment", "string", "ident", "dollar"):
            # PostgreSQL scans N'x' as NCHAR then SCONST
            out.append((t.kind, t.text[1:] if t.prefix == "N" else t.text))
    return out


@pytest.mark.parametrize("name", FILES)
def test_tokenizer_agrees_with_postgres_on_every_sql_file(name: str) -> None:
    text = (SQL_DIR / name).read_text(encoding="utf-8")
    text = PLACEHOLDER.sub("x", text).replace("{{", "{").replace("}}", "}")
    assert "".join(t.text for t in tokenize(text)) == text
    try:
        expected = _pg_tokens(text)
    except pglast.parser.ParseError:  # psycopg placeholders (%(x)s) are not SQL
        expected = _pg_tokens(re.sub(r"%\(\w+\)s|%s", "1", text))
        text = re.sub(r"%\(\w+\)s|%s", "1", text)
    assert _our_tokens(text) == expected


PIECES = ["SELECT", " ", "\n", "'a''b'", "'", "''", "E'x\\'y'", "e'\\\\'", "$$", "$q$", "$1",
          '"id""x"', '"', "--", "-- c\n", "/*", "*/", "/* n /* m */ */", "a$b", "1.5",
          "..", "::", "+", "-", "*", "/", ";", "(", ")", ",", "U&'x'", "b'01'", "x'ff'",
          "é", "\\", "{", "}", "%", "ident", "  \n  ", "'a'\n'b'"]


def test_tokenizer_never_fails_and_covers_random_text() -> None:
    """Property: on any text (well formed or cut anywhere) the tokens cover it exactly, and
    wherever PostgreSQL's lexer accepts the text, the comments, strings and identifiers
    are the same."""
    rng = random.Random(9)
    agreed = 0
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
        toks = list(tokenize(text))
        assert "".join(t.text for t in toks) == text
        assert all(t.text for t in toks)
        try:
            expected = _pg_tokens(text)
        except pglast.parser.ParseError:
            continue
        assert _our_tokens(text) == expected, text
        agreed += 1
    assert agreed > 500


def test_a_percent_in_a_name_never_meets_a_parameter(pg_conn) -> None:
    """psycopg reads a "%s" inside a quoted name as a placeholder when the query also takes
    parameters; ParamIdentifier doubles it (the block sample of an estimate does this)."""
    from nchat_tui.pg.queries import ParamIdentifier

    pg_conn.execute('CREATE TABLE "a%s %(x)s %%" (id int)')
    pg_conn.execute('INSERT INTO "a%s %(x)s %%" VALUES (1), (2), (3)')
    q = sql.SQL("SELECT count(*) FROM {} WHERE id = ANY (%(ids)s)")
    with pytest.raises(psycopg.ProgrammingError):  # what a plain Identifier does
        pg_conn.execute(q.format(sql.Identifier("a%s %(x)s %%")), {"ids": [1, 2]})
    row = pg_conn.execute(q.format(ParamIdentifier("a%s %(x)s %%")), {"ids": [1, 2]}).fetchone()
    assert row == (2,)
