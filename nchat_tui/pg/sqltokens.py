"""A tolerant SQL tokenizer following PostgreSQL's lexical rules (``scan.l``).

It never fails: text cut short (``pg_stat_activity`` truncates queries at
``track_activity_query_size``) ends in an ``unterminated`` token that runs to the end, and a
character PostgreSQL would refuse becomes an ``other`` token. The tokens cover the text exactly
(concatenated, their ``text`` is the input), so a caller can rewrite some and keep the rest.

Used for two jobs: stripping the comments of our own SQL templates before ``psycopg.sql``
fills their placeholders (``resources.sql_template``), and finding the literals a secret could
hide in inside other sessions' query text (``scrub.scrub_sql``).

Kinds: ``space``, ``comment`` (``--`` to the end of the line, or a nested ``/* */``),
``string`` (``'..'`` with ``''``, ``E'..'`` with backslash escapes, ``B''``/``X''``/``N''``/
``U&''``, and continuation lines ``'a'<newline>'b'``, which PostgreSQL joins into one),
``dollar`` (``$tag$..$tag$``), ``ident`` (``".."`` with ``""``, ``U&".."``), ``word`` (an
unquoted identifier or keyword), ``number``, ``param`` (``$1``), ``op`` (operators),
``punct`` (``( ) [ ] , ; . :``) and ``other``. ``standard_conforming_strings`` is taken as on
(the default since PostgreSQL 9.1): in a plain ``'..'`` a backslash is an ordinary character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

OP_CHARS = set("+-*/<>=~!@#%^&|`?")
PUNCT = set("()[],;.:")
_WORD_START = re.compile(r"[A-Za-z_\u0080-\U0010ffff]")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:\d[\d_]*(?:\.(?!\.)[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_PARAM = re.compile(r"\$\d+")
_SPACE = re.compile(r"[ \t\n\r\f\v]+")
# after a closing quote: blanks and comments with at least one newline, then a quote
_CONTINUE = re.compile(r"(?:[ \t\f\r]|--[^\n]*+)*\n(?:[ \t\n\r\f\v]|--[^\n]*+\n)*'")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    unterminated: bool = False
    prefix: str = ""
    """For strings and quoted identifiers: ``E``, ``B``, ``X``, ``N``, ``U&`` or empty."""

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def _quoted_end(text: str, i: int, quote: str, backslash: bool,
                doubled: bool = True) -> tuple[int, bool]:
    """End (exclusive) of a quoted run whose opening quote is at ``i``; (end, unterminated).
    ``doubled``: a doubled quote stands for one (not in bit and hex strings)."""
    n = len(text)
    j = i + 1
    while j < n:
        c = text[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if doubled and j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1, False
        j += 1
    return n, True


def _string_end(text: str, i: int, backslash: bool, doubled: bool = True) -> tuple[int, bool]:
    """A string constant from its opening quote, with continuation lines joined."""
    end, unterminated = _quoted_end(text, i, "'", backslash, doubled)
    while not unterminated:
        m = _CONTINUE.match(text, end)
        if not m:
            break
        end, unterminated = _quoted_end(text, m.end() - 1, "'", backslash, doubled)
    return end, unterminated


def _comment_end(text: str, i: int) -> tuple[int, bool]:
    """End of a (nested) block comment starting at ``i``."""
    depth = 0
    j = i
    n = len(text)
    while j < n:
        if text.startswith("/*", j):
            depth += 1
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j, False
        else:
            j += 1
    return n, True


def tokenize(text: str) -> Iterator[Token]:
    """The tokens of ``text``, covering it exactly, never raising."""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r\f\v":
            m = _SPACE.match(text, i)
            assert m is not None
            yield Token("space", m.group(), i)
            i = m.end()
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield Token("comment", text[i:j], i)
            i = j
            continue
        if text.startswith("/*", i):
            j, unterminated = _comment_end(text, i)
            yield Token("comment", text[i:j], i, unterminated)
            i = j
            continue
        # prefixed strings and identifiers: E'..', B'..', X'..', N'..', U&'..', U&".."
        if c in "eE" and text.startswith("'", i + 1):
            j, unterminated = _string_end(text, i + 1, backslash=True)
            yield Token("string", text[i:j], i, unterminated, "E")
            i = j
            continue
        if c in "bBxXnN" and text.startswith("'", i + 1):
            j, unterminated = _string_end(text, i + 1, backslash=False, doubled=c in "nN")
            yield Token("string", text[i:j], i, unterminated, c.upper())
            i = j
            continue
        if c in "uU" and text.startswith("&'", i + 1):
            j, unterminated = _string_end(text, i + 2, backslash=False)
            yield Token("string", text[i:j], i, unterminated, "U&")
            i = j
            continue
        if c in "uU" and text.startswith('&"', i + 1):
            j, unterminated = _quoted_end(text, i + 2, '"', backslash=False)
            yield Token("ident", text[i:j], i, unterminated, "U&")
            i = j
            continue
        if c == "'":
            j, unterminated = _string_end(text, i, backslash=False)
            yield Token("string", text[i:j], i, unterminated)
            i = j
            continue
        if c == '"':
            j, unterminated = _quoted_end(text, i, '"', backslash=False)
            yield Token("ident", text[i:j], i, unterminated)
            i = j
            continue
        if c == "$":
            m = _PARAM.match(text, i)
            if m:
                yield Token("param", m.group(), i)
                i = m.end()
                continue
            m = _DOLLAR_TAG.match(text, i)
            if m:
                tag = m.group()
                close = text.find(tag, m.end())
                j = n if close < 0 else close + len(tag)
                yield Token("dollar", text[i:j], i, close < 0, tag)
                i = j
                continue
            yield Token("other", c, i)
            i += 1
            continue
        if _WORD_START.match(c):
            m = _WORD.match(text, i)
            assert m is not None
            yield Token("word", m.group(), i)
            i = m.end()
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            if m and m.end() > i:
                yield Token("number", m.group(), i)
                i = m.end()
                continue
        if c in OP_CHARS:
            j = i
            while j < n and text[j] in OP_CHARS:
                if j > i and (text.startswith("--", j) or text.startswith("/*", j)):
                    break
                j += 1
            yield Token("op", text[i:j], i)
            i = j
            continue
        if c in PUNCT:
            if text.startswith("::", i) or text.startswith("..", i):
                yield Token("punct", text[i:i + 2], i)
                i += 2
                continue
            yield Token("punct", c, i)
            i += 1
            continue
        yield Token("other", c, i)
        i += 1


def strip_comments(text: str) -> str:
    """``text`` without its comments (a ``--`` comment keeps its line break; a block comment
    becomes one space), everything else byte for byte."""
    return "".join(" " if t.kind == "comment" and t.text.startswith("/*")
                   else "" if t.kind == "comment" else t.text for t in tokenize(text))


def comments(text: str) -> list[Token]:
    return [t for t in tokenize(text) if t.kind == "comment"]


def string_value(tok: Token) -> str:
    """The characters a string or dollar-quoted token stands for (its quotes and escapes
    undone; an unterminated one up to where the text ends)."""
    if tok.kind == "dollar":
        body = tok.text[len(tok.prefix):]
        return body[: -len(tok.prefix)] if not tok.unterminated else body
    raw = tok.text[len(tok.prefix):]
    parts: list[str] = []
    # continuation lines: each piece is a quoted run, what lies between them is blank
    i = 0
    n = len(raw)
    while i < n:
        if raw[i] != "'":
            i += 1
            continue
        end, unterminated = _quoted_end(raw, i, "'", tok.prefix == "E")
        body = raw[i + 1: end if unterminated else end - 1]
        body = _unescape_e(body) if tok.prefix == "E" else body.replace("''", "'")
        parts.append(body)
        i = end
    return "".join(parts)


_E_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_e(body: str) -> str:
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "'" and i + 1 < n and body[i + 1] == "'":
            out.append("'")
            i += 2
            continue
        if c == "\\" and i + 1 < n:
            nxt = body[i + 1]
            out.append(_E_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
