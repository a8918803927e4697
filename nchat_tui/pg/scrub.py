"""Scrub secrets out of other sessions' SQL text before we show or keep it.

The monitor, the migration runner (blockers' queries), the backup preflight, the rollback's
session list and the troubleshooting findings copy query text from ``pg_stat_activity`` and
``pg_stat_statements``. That text can carry a password (``ALTER ROLE app PASSWORD 'x'``: the
statement statistics keep utility statements verbatim), an encryption key
(``pgp_sym_encrypt(body, 'key')``) or a connection string (``dblink_connect('... password=x')``).
``scrub_sql`` replaces those literals with ``'***'`` and leaves everything else byte for byte.

It reads the text with ``sqltokens`` (PostgreSQL's lexical rules: doubled quotes, ``E''``
escapes, dollar quotes, comments, continuation lines) so a quote inside a literal never
shifts what counts as a literal, and it never raises: text cut short by
``track_activity_query_size`` masks from the secret's start to the end.

What it masks (case-insensitive; names qualified or quoted alike):

- a literal right after a secret-like name, optionally through ``=``, ``:=``, ``=>``, ``TO``
  or ``AS``: ``PASSWORD 'x'``, ``ENCRYPTED PASSWORD 'x'``, ``OPTIONS (password 'x')`` (user
  mappings, servers), ``SET app.jwt_secret = 'x'``, ``WHERE api_key = 'x'``; when a function
  call follows the name instead (``password = crypt('x', ...)``), every literal in its
  arguments;
- every literal argument of the pgcrypto functions that take data, a key or a password
  (``pgp_*``, ``encrypt``/``decrypt``(``_iv``), ``crypt``, ``hmac``, ``digest``, ``armor``,
  ``dearmor``), of the hash functions a password is passed through (``md5``, ``sha256``...)
  and of functions whose name says key, secret, token or password;
- the value of ``set_config('name', 'value', ...)`` when the name looks secret, and the other
  arguments of ``format('...PASSWORD %L...', ...)`` when the format string mentions a secret;
- the password of a connection string or URL inside any literal or comment
  (``dblink_connect('host=h password=x')``, ``CREATE SUBSCRIPTION ... CONNECTION '...'``);
- inside a literal that holds SQL itself (``EXECUTE 'ALTER ROLE ... PASSWORD ''x'''``, a
  ``DO $$ ... $$`` body), the same, recursively.

Over-masking is accepted (a ``WHERE key = 'plan'`` loses its value on screen); missing a secret
is the bug. ``standard_conforming_strings`` is assumed on (the default since 9.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from nchat_tui.pg.sqltokens import Token, string_value, tokenize

MASK = "***"
# Names whose value is a secret: anything mentioning a password, secret, token, credential
# or passphrase; and names ending in "key" or "pwd"/"pass" (api_key, sslkey, jwt_key, key).
SECRET_NAME = re.compile(
    r"passw|secret|token|credential|passphrase|private|pgp|"
    r"(?:^|[^a-z])(?:pwd|pass)$|key$|^key|_key|apikey", re.I)
# pgcrypto and friends: every literal among their arguments is data, a key or a password
SECRET_FUNC = re.compile(
    r"^(?:pgp_\w+|(?:en|de)crypt(?:_iv)?|crypt|hmac|digest|armor|dearmor|gen_salt|md5|sha\d+"
    r"|crypto_\w+|\w*(?:passw|secret|token|_key|key_)\w*)$", re.I)
CONNINFO_FUNC = re.compile(r"^(?:dblink\w*|postgres_fdw\w*)$", re.I)
# What a connection string or URL hides its password in
CONNINFO_PASSWORD = re.compile(
    r"(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.I)
URL_PASSWORD = re.compile(
    r"([a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)((?:[^\s@'\"]|@(?=[^\s'\"]*@))*)(@)", re.I)
# "password": "x" in a JSON document held by a literal
JSON_SECRET = re.compile(
    r'("[^"\\]*(?:passw|secret|token|credential|passphrase|key)[^"\\]*"\s*:\s*)'
    r'"(?:[^"\\]|\\.)*("?)', re.I)
# Cheap test first: most query text mentions none of these and is returned as it is
TRIGGER = re.compile(
    r"passw|secret|token|credential|passphrase|private|pgp|pwd|pass|key|crypt|hmac|digest|"
    r"armor|dblink|fdw|set_config|format|md5|sha\d|://|connection", re.I)
ASSIGN = {"=", ":=", "=>"}
ASSIGN_WORDS = {"to"}
MAX_DEPTH = 3


def scrub_sql(text: Any, _depth: int = 0) -> Any:
    """``text`` with the secrets it holds replaced by ``'***'`` (None and non-strings pass)."""
    if not isinstance(text, str) or not text or not TRIGGER.search(text):
        return text
    toks = list(tokenize(text))
    masked: dict[int, str] = {}  # token index -> replacement text
    sig = [i for i, t in enumerate(toks) if t.kind not in ("space", "comment")]

    def literal(i: int) -> bool:
        return toks[i].kind in ("string", "dollar")

    def mask_call_args(open_pos: int) -> int:
        """Mask every literal between the parenthesis at sig[open_pos] and its match (or the
        end of the statement: a ";" never sits inside a call)."""
        depth = 0
        p = open_pos
        while p < len(sig):
            t = toks[sig[p]]
            if t.kind == "punct" and t.text == ";":
                return p
            if t.kind == "punct" and t.text == "(":
                depth += 1
            elif t.kind == "punct" and t.text == ")":
                depth -= 1
                if depth == 0:
                    return p
            elif literal(sig[p]):
                masked[sig[p]] = _mask(t)
            p += 1
        return p

    def call_args(open_pos: int) -> list[list[int]]:
        """Token positions (in ``sig``) of each top-level argument of a call."""
        args: list[list[int]] = [[]]
        depth = 0
        p = open_pos
        while p < len(sig):
            t = toks[sig[p]]
            if t.kind == "punct" and t.text == ";":
                break
            if t.kind == "punct" and t.text in ("(", "["):
                depth += 1
                if depth == 1:
                    p += 1
                    continue
            elif t.kind == "punct" and t.text in (")", "]"):
                depth -= 1
                if depth == 0:
                    break
            elif t.kind == "punct" and t.text == "," and depth == 1:
                args.append([])
                p += 1
                continue
            args[-1].append(p)
            p += 1
        return args

    for k, i in enumerate(sig):
        t = toks[i]
        name = _name(t)
        nxt = sig[k + 1] if k + 1 < len(sig) else None
        is_call = nxt is not None and toks[nxt].kind == "punct" and toks[nxt].text == "("
        if name is not None and is_call:
            if SECRET_FUNC.match(name):
                mask_call_args(k + 1)
                continue
            if name.lower() == "set_config":
                args = call_args(k + 1)
                if len(args) >= 2 and args[0] and literal(sig[args[0][0]]) \
                        and SECRET_NAME.search(string_value(toks[sig[args[0][0]]])):
                    for p in args[1]:
                        if literal(sig[p]):
                            masked[sig[p]] = _mask(toks[sig[p]])
                continue
            if name.lower() == "format":
                args = call_args(k + 1)
                if args and args[0] and literal(sig[args[0][0]]) \
                        and SECRET_NAME.search(string_value(toks[sig[args[0][0]]])):
                    for arg in args[1:]:
                        for p in arg:
                            if literal(sig[p]):
                                masked[sig[p]] = _mask(toks[sig[p]])
                continue
            if CONNINFO_FUNC.match(name):
                continue  # its connection strings are literals: handled below
        if name is not None and SECRET_NAME.search(name):
            p = k + 1
            if p < len(sig) and (toks[sig[p]].text in ASSIGN
                                 or toks[sig[p]].text.lower() in ASSIGN_WORDS):
                p += 1
            if p < len(sig) and literal(sig[p]):
                masked[sig[p]] = _mask(toks[sig[p]])
            elif (p + 1 < len(sig) and _name(toks[sig[p]]) is not None
                  and toks[sig[p + 1]].text == "("):
                mask_call_args(p + 1)
    _insert_values(toks, sig, masked, call_args)
    out: list[str] = []
    for i, t in enumerate(toks):
        if i in masked:
            out.append(masked[i])
        elif t.kind in ("string", "dollar"):
            out.append(_scrub_literal(t, _depth))
        elif t.kind == "comment":
            out.append(_scrub_conninfo(t.text))
        else:
            out.append(t.text)
    return "".join(out)


def _insert_values(toks: list[Token], sig: list[int], masked: dict[int, str],
                   call_args: Any) -> None:
    """``INSERT INTO t (email, password_hash) VALUES ('a', 'h'), ...``: mask the values of the
    columns whose names look secret, in every row."""
    for k, i in enumerate(sig):
        if not (toks[i].kind == "word" and toks[i].text.lower() == "insert"):
            continue
        p = k + 1
        while p < len(sig) and not (toks[sig[p]].kind == "punct" and toks[sig[p]].text == "("):
            if toks[sig[p]].kind == "word" and toks[sig[p]].text.lower() in ("values", "select",
                                                                              "default"):
                break
            p += 1
        if p >= len(sig) or toks[sig[p]].text != "(":
            continue
        cols = call_args(p)
        secret = [n for n, c in enumerate(cols)
                  if len(c) == 1 and (nm := _name(toks[sig[c[0]]])) is not None
                  and SECRET_NAME.search(nm)]
        if not secret:
            continue
        q = p
        depth = 0
        while q < len(sig):  # past the column list
            t = toks[sig[q]]
            depth += (t.text == "(") - (t.text == ")") if t.kind == "punct" else 0
            q += 1
            if depth == 0:
                break
        if q >= len(sig) or toks[sig[q]].text.lower() != "values":
            continue
        q += 1
        while q < len(sig) and toks[sig[q]].kind == "punct" and toks[sig[q]].text == "(":
            row = call_args(q)
            for n in secret:
                for pos in row[n] if n < len(row) else ():
                    if toks[sig[pos]].kind in ("string", "dollar"):
                        masked[sig[pos]] = _mask(toks[sig[pos]])
            depth = 0
            while q < len(sig):  # past this row
                t = toks[sig[q]]
                depth += (t.text == "(") - (t.text == ")") if t.kind == "punct" else 0
                q += 1
                if depth == 0:
                    break
            if q < len(sig) and toks[sig[q]].kind == "punct" and toks[sig[q]].text == ",":
                q += 1


def _name(t: Token) -> str | None:
    """The name a word or quoted identifier stands for (None for other tokens)."""
    if t.kind == "word":
        return t.text
    if t.kind == "ident" and not t.unterminated and not t.prefix:
        return t.text[1:-1].replace('""', '"')
    return None


def _mask(t: Token) -> str:
    return f"'{MASK}" + ("" if t.unterminated else "'")


def _scrub_conninfo(text: str) -> str:
    """Passwords of connection strings, URLs and JSON documents inside ``text``."""
    text = URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = CONNINFO_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    return JSON_SECRET.sub(lambda m: m.group(1) + f'"{MASK}' + m.group(2), text)


def _scrub_literal(t: Token, depth: int) -> str:
    """A literal with a connection string's password, or secrets of the SQL it holds, masked."""
    value = string_value(t)
    if not TRIGGER.search(value):
        return t.text
    new = _scrub_conninfo(value)
    if depth < MAX_DEPTH:
        new = scrub_sql(new, depth + 1)
    if new == value:
        return t.text
    tail = "" if t.unterminated else None
    if t.kind == "dollar":
        return t.prefix + new + (t.prefix if tail is None else "")
    if t.prefix == "E":
        body = new.replace("\\", "\\\\").replace("'", "\\'")
        return "E'" + body + ("'" if tail is None else "")
    return "'" + new.replace("'", "''") + ("'" if tail is None else "")


QUERY_FIELDS = ("query", "last_query", "blocked_query", "blocking_query", "current_query",
                "statement", "sql", "text", "query_text")


@lru_cache(maxsize=512)
def _scrub_cached(text: str) -> str:
    """``scrub_sql`` of a query text, remembered: a monitor scrubs the same texts (each
    session's current or last statement) on every sample, and tokenizing them was most of the
    cost. Bounded (512 texts of at most track_activity_query_size, 1 kB by default)."""
    out: str = scrub_sql(text)
    return out


def scrub_row(row: Mapping[str, Any], fields: Iterable[str] = QUERY_FIELDS) -> dict[str, Any]:
    """A copy of a result row with its query-text fields scrubbed."""
    out = dict(row)
    for f in fields:
        if f in out and isinstance(out[f], str):
            out[f] = _scrub_cached(out[f])
    return out


def scrub_rows(rows: Iterable[Mapping[str, Any]],
               fields: Iterable[str] = QUERY_FIELDS) -> list[dict[str, Any]]:
    fields = tuple(fields)
    return [scrub_row(r, fields) for r in rows]
