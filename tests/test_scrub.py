"""The SQL secret scrubber (issue 9, item 9): one function, tested hard.

Unit cases for every form the issue names, then property-style tests over generated
statements (each secret in each quoting style, cut at every position), idempotence, and the
identity on text without secrets (every SQL file we ship).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from nchat_tui.pg.queries import SQL_DIR
from nchat_tui.pg.scrub import scrub_row, scrub_rows, scrub_sql
from nchat_tui.state.journal import scrub as journal_scrub

CASES = [
    ("ALTER ROLE app WITH ENCRYPTED PASSWORD 'hunter2xyz' VALID UNTIL 'infinity'", "hunter2xyz"),
    ("alter user app password 'hunter2xyz'", "hunter2xyz"),
    ("CREATE ROLE app LOGIN PASSWORD 'it''s hunter2xyz'", "hunter2xyz"),
    ("ALTER ROLE app PASSWORD E'a\\'hunter2xyz\\\\'", "hunter2xyz"),
    ("ALTER ROLE app PASSWORD $$hunter2xyz$$", "hunter2xyz"),
    ("ALTER ROLE app PASSWORD $pw$hun'ter2xyz$pw$", "ter2xyz"),
    ("ALTER ROLE app PASSWORD 'hunter2'\n    'xyz'", "xyz"),  # a continuation line
    ('ALTER ROLE app "password" \'hunter2xyz\'', "hunter2xyz"),
    ("CREATE USER MAPPING FOR bob SERVER s OPTIONS (user 'bob', password 'hunter2xyz')",
     "hunter2xyz"),
    ("ALTER USER MAPPING FOR bob SERVER s OPTIONS (SET password 'hunter2xyz')", "hunter2xyz"),
    ("ALTER SERVER s OPTIONS (ADD password 'hunter2xyz')", "hunter2xyz"),
    ("SELECT pgp_sym_encrypt(body, 'k3yk3yk3y') FROM nchat_messages", "k3yk3yk3y"),
    ("SELECT pgp_sym_encrypt_bytea(b, 'k3yk3yk3y', 'cipher-algo=aes256')", "k3yk3yk3y"),
    ("SELECT pgp_sym_decrypt(body, 'k3yk3yk3y')", "k3yk3yk3y"),
    ("SELECT pg_catalog.pgp_pub_decrypt(b, dearmor('-----BEGIN PGP PRIVATE KEY-----xx'), "
     "'k3yk3yk3y')", "k3yk3yk3y"),
    ("SELECT pgp_pub_decrypt(b, dearmor('-----BEGIN PGP PRIVATE KEY-----k3yk3yk3y'))",
     "k3yk3yk3y"),
    ("SELECT encrypt('data', 'k3yk3yk3y', 'aes')", "k3yk3yk3y"),
    ("SELECT decrypt_iv(d, 'k3yk3yk3y', 'iv', 'aes')", "k3yk3yk3y"),
    ("SELECT hmac('msg', 'k3yk3yk3y', 'sha256')", "k3yk3yk3y"),
    ("SELECT crypt('hunter2xyz', gen_salt('bf'))", "hunter2xyz"),
    ("SELECT * FROM u WHERE pw = md5('hunter2xyz') OR h = sha256('k3y'::bytea)", "hunter2xyz"),
    ("UPDATE users SET password_hash = crypt('hunter2xyz', gen_salt('bf'))", "hunter2xyz"),
    ("UPDATE users SET password_hash = '$2a$06$hunter2xyz'", "hunter2xyz"),
    ("SELECT set_config('app.jwt_secret', 'k3yk3yk3y', false)", "k3yk3yk3y"),
    ("SELECT set_config('app.encryption_key', 'k3yk3yk3y', true)", "k3yk3yk3y"),
    ("SET app.encryption_key = 'k3yk3yk3y'", "k3yk3yk3y"),
    ("SET SESSION app.api_key TO 'k3yk3yk3y'", "k3yk3yk3y"),
    ("ALTER ROLE app SET app.secret TO 'k3yk3yk3y'", "k3yk3yk3y"),
    ("ALTER DATABASE d SET pgsodium.secret_key = 'k3yk3yk3y'", "k3yk3yk3y"),
    ("ALTER SYSTEM SET ssl_passphrase_command = 'echo k3yk3yk3y'", "k3yk3yk3y"),
    ("SELECT dblink_connect('c', 'host=h dbname=d password=hunter2xyz user=u')", "hunter2xyz"),
    ("SELECT dblink_connect('host=h password=''hunter 2xyz'' dbname=d')", "2xyz"),
    ("SELECT * FROM dblink('postgresql://u:hunter2xyz@h/db', 'SELECT 1') AS t(x int)",
     "hunter2xyz"),
    ("SELECT * FROM dblink('postgresql://u:hun@ter2xyz@h/db', 'SELECT 1') AS t(x int)",
     "ter2xyz"),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=h password=hunter2xyz dbname=x' PUBLICATION p",
     "hunter2xyz"),
    ("DO $$ BEGIN EXECUTE 'ALTER ROLE x PASSWORD ''hunter2xyz'''; END $$", "hunter2xyz"),
    ("DO $body$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', 'x', 'hunter2xyz'); END "
     "$body$", "hunter2xyz"),
    ("SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r, 'hunter2xyz')", "hunter2xyz"),
    ("INSERT INTO auth.users (email, password_hash) VALUES ('a@b', 'hunter2xyz'), "
     "('c@d', 'k3yk3yk3y')", "hunter2xyz"),
    ("INSERT INTO auth.users (email, password_hash) VALUES ('a@b', 'hunter2xyz'), "
     "('c@d', 'k3yk3yk3y')", "k3yk3yk3y"),
    ("INSERT INTO t (\"API_KEY\", n) VALUES ('k3yk3yk3y', 1)", "k3yk3yk3y"),
    ("SELECT '{\"password\": \"hunter2xyz\", \"n\": 1}'::jsonb", "hunter2xyz"),
    ("SELECT * FROM tokens WHERE token = 'k3yk3yk3y'", "k3yk3yk3y"),
    ("SELECT 1 /* password=hunter2xyz */", "hunter2xyz"),
    ("SELECT 1 -- postgresql://u:hunter2xyz@h/db", "hunter2xyz"),
    ("CREATE ROLE app LOGIN PASSWORD 'hunter2xy", "hunter2xy"),  # cut by query size
    ("ALTER ROLE app PASSWORD E'hunter2\\'xy", "xy"),
]


@pytest.mark.parametrize(("text", "secret"), CASES)
def test_each_form_is_masked(text: str, secret: str) -> None:
    out = scrub_sql(text)
    assert secret not in out, out
    assert "***" in out
    assert scrub_sql(out) == out  # idempotent


KEEP = [
    "SELECT count(*) FROM nchat_messages WHERE channel_id = 'abc'",
    "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
    "CREATE TABLE k (key text PRIMARY KEY, value jsonb)",
    "SELECT pid, query FROM pg_stat_activity WHERE state = 'active'",
    "ALTER ROLE app PASSWORD NULL",
    "ALTER ROLE app PASSWORD $1",
    "SELECT 'password' AS word",
    "don't show the key's value",
    "",
]


@pytest.mark.parametrize("text", KEEP)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert scrub_sql(text) == text


def test_every_query_we_ship_is_unchanged() -> None:
    # (not the demo's seed: it hashes fixed words with md5(), masked by design)
    files = sorted(p for p in SQL_DIR.rglob("*.sql") if p.name != "seed_data.sql")
    assert len(files) > 100
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert scrub_sql(text) == text, p


def test_non_strings_pass_through() -> None:
    assert scrub_sql(None) is None
    assert scrub_sql(42) == 42
    row: dict[str, Any] = {"pid": 1, "query": "ALTER ROLE a PASSWORD 'hunter2xyz'", "state": "idle"}
    assert scrub_row(row)["query"] == "ALTER ROLE a PASSWORD '***'"
    assert row["query"].endswith("'hunter2xyz'")  # a copy: the input is left alone
    assert scrub_rows([row, {"query": None}])[1] == {"query": None}


def test_the_journal_scrubs_query_text_as_a_last_line_of_defence() -> None:
    rec = {"blockers": [{"pid": 7, "query": "ALTER ROLE a PASSWORD 'hunter2xyz'"}],
           "note": "SELECT set_config('app.jwt_secret', 'k3yk3yk3y', false)"}
    out = repr(journal_scrub(rec))
    assert "hunter2xyz" not in out and "k3yk3yk3y" not in out


# -- property-style tests -------------------------------------------------------------------
TEMPLATES = [
    "ALTER ROLE {r} WITH PASSWORD {s}",
    "CREATE USER {r} ENCRYPTED PASSWORD {s} VALID UNTIL 'infinity'",
    "create user mapping for {r} server srv options (user {r2}, password {s})",
    "SELECT pgp_sym_encrypt(body, {s}) FROM t WHERE x = {n}",
    "SELECT pgp_sym_decrypt(body::bytea, {s}, 'compress-algo=1')",
    "SELECT set_config('app.jwt_secret', {s}, false)",
    "SET app.encryption_key = {s}",
    "SELECT dblink_connect({c})",
    "UPDATE users SET password_hash = crypt({s}, gen_salt('bf')) WHERE id = {n}",
    "DO $x$ BEGIN EXECUTE {q}; END $x$",
    "INSERT INTO users (id, password) VALUES ({n}, {s})",
]
SECRETS = ["hunter2xyz", "p'ss w0rd", "a\\b'c\"d", "$$dollar$$", "-- not a comment",
           "/* no */ secret", "ünïcödé-pw", "x" * 40, "semi;colon", "%s %(x)s"]


def _literal(rng: random.Random, value: str) -> str:
    """``value`` as a SQL literal in a random but valid style."""
    style = rng.choice(["std", "e", "dollar", "tag"])
    if style == "std" or (style == "dollar" and "$$" in value):
        return "'" + value.replace("'", "''") + "'"
    if style == "e":
        return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if style == "tag" and "$zz$" not in value:
        return f"$zz${value}$zz$"
    return "'" + value.replace("'", "''") + "'"


def _secret_parts(secret: str) -> list[str]:
    """Pieces of a secret that must never show: the whole, and each run of 6+ characters
    between its quote-like characters (which a literal's encoding doubles or escapes)."""
    parts = [p for p in secret.replace("''", "'").replace("\\", "'").replace('"', "'").split("'")
             if len(p) >= 6]
    return parts or ([secret] if len(secret) >= 6 else [])


def _statement(rng: random.Random) -> tuple[str, str]:
    secret = rng.choice(SECRETS)
    template = rng.choice(TEMPLATES)
    conn = f"host=h dbname=d password='{secret.replace(chr(92), '').replace(chr(39), '')}'"
    inner = "ALTER ROLE r PASSWORD " + "'" + secret.replace("'", "''") + "'"
    text = template.format(r=rng.choice(["app", '"App Role"', "r1"]), r2="'bob'",
                           s=_literal(rng, secret), n=rng.randint(0, 99),
                           c=_literal(rng, conn), q=_literal(rng, inner))
    if template.startswith("SELECT dblink_connect"):
        secret = secret.replace("\\", "").replace("'", "")
    return text, secret


def test_generated_statements_never_show_their_secret() -> None:
    rng = random.Random(20240909)
    for _ in range(2000):
        text, secret = _statement(rng)
        out = scrub_sql(text)
        for part in _secret_parts(secret):
            assert part not in out, (text, out)
        assert scrub_sql(out) == out, (text, out)


def test_cut_anywhere_the_secret_never_shows() -> None:
    """pg_stat_activity cuts query text at track_activity_query_size: whatever the cut, the
    part of the secret that made it into the text stays hidden (pieces of 6+ characters)."""
    rng = random.Random(77)
    for _ in range(300):
        text, secret = _statement(rng)
        for cut in range(len(text) + 1):
            part = text[:cut]
            out = scrub_sql(part)
            for piece in _secret_parts(secret):
                for n in range(6, len(piece) + 1):
                    if piece[:n] in part and piece[:n] in out and not _in_template(part, piece[:n]):
                        pytest.fail(f"{piece[:n]!r} shows after a cut: {part!r} -> {out!r}")


def _in_template(text: str, piece: str) -> bool:
    """The piece also occurs in the statement's own words (not the secret)."""
    return any(piece in t for t in TEMPLATES)


def test_random_text_never_raises_and_only_shrinks_secrets() -> None:
    rng = random.Random(5)
    alphabet = ["'", '"', "$$", "$a$", "E'", "\\", "--", "/*", "*/", "\n", " ", "(", ")", ",",
                "password", "PASSWORD", "pgp_sym_encrypt", "set_config", "key", "=", ";", "x",
                "://u:p@", "format"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        out = scrub_sql(text)
        assert isinstance(out, str)
        assert scrub_sql(out) == out or scrub_sql(scrub_sql(out)) == scrub_sql(out)


def test_an_unclosed_call_masks_no_further_than_its_statement() -> None:
    out = scrub_sql("SELECT encrypt('hunter2xyz'; SELECT 'keep me', 2")
    assert "hunter2xyz" not in out and "'keep me'" in out


def test_a_whole_document_is_scrubbed_for_dsns_only() -> None:
    """The report scrubs its Markdown again for DSN passwords; the SQL scrubber is for fields
    (a stray $$ in prose would otherwise swallow the rest of the document)."""
    doc = "| 31 | CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN ... |\n| next | row |\n" \
          "dsn postgresql://u:hunter2xyz@h/db\n"
    out = journal_scrub(doc, sql=False)
    assert "| next | row |" in out and "hunter2xyz" not in out
