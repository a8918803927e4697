"""Keys of database objects: unambiguous text for (schema, name) and (schema, table, name).

Snapshots, manifests, verification and rollback key objects by text (JSON object keys must be
strings). A plain ``schema.name`` cannot tell ``"a.b".c`` from ``a."b.c"``: both are
``a.b.c``, so one of the two tables was never counted. Every key is therefore written in the
quoted form PostgreSQL itself reads: each part stays as it is when it is lowercase ASCII
letters, digits and underscores (not starting with a digit), and is otherwise put in double
quotes with inner double quotes doubled. ``public.nchat_users`` stays ``public.nchat_users``;
``"a.b".c`` and ``a."b.c"`` differ; ``public."Users"`` keeps its case. ``split_key`` gives the
parts back exactly, so no code ever splits a key on a dot.

Keywords are not quoted (``public.user``): a key names an object, it is not SQL text; give
its parts to ``psycopg.sql.Identifier`` to build SQL. Names of schemas and extensions (one
part, no ambiguity) are keyed by the name itself.

Manifests written before this format (``snapshot["key_format"]`` absent) keyed the same
objects as unquoted ``schema.name``; ``upgrade_snapshot_keys`` rewrites such a snapshot in
memory, resolving dotted names with the schemas and relations the snapshot itself lists.
"""

from __future__ import annotations

import re
from typing import Any

from nchat_tui.errors import BadInput

KEY_FORMAT = "quoted-identifiers"
"""The value of ``snapshot["key_format"]`` for snapshots keyed as this module keys them."""

_PLAIN = re.compile(r"[a-z_][a-z0-9_]*\Z")


def ident(name: str) -> str:
    """One name part as it appears in a key (quoted only when it must be)."""
    if _PLAIN.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def key(*parts: str) -> str:
    """The key of an object from its name parts, e.g. ``key("public", "nchat_users")``."""
    if not parts:
        raise ValueError("a key needs at least one part")
    return ".".join(ident(str(p)) for p in parts)


def _scan(text: str, pos: int) -> tuple[str, int]:
    """One part starting at ``pos``: (the raw name, the position after it)."""
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        i = pos + 1
        while i < len(text):
            ch = text[i]
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise ValueError(f"unterminated quoted name in key {text!r}")
    m = re.compile(r"[^.\"(]*").match(text, pos)
    assert m is not None
    if not m.group(0):
        raise ValueError(f"empty name part in key {text!r}")
    return m.group(0), m.end()


def split_prefix(text: str, parts: int | None = None) -> tuple[tuple[str, ...], str]:
    """The name parts at the start of ``text`` and what follows them (e.g. ``(args)``).

    ``parts`` limits how many parts are read (the rest, from its dot, is returned)."""
    out: list[str] = []
    pos = 0
    while True:
        name, pos = _scan(text, pos)
        out.append(name)
        if parts is not None and len(out) == parts:
            return tuple(out), text[pos:]
        if pos < len(text) and text[pos] == "." and pos + 1 < len(text):
            pos += 1
            continue
        return tuple(out), text[pos:]


def split_key(k: str) -> tuple[str, ...]:
    """The raw name parts of a key: ``split_key('a."b.c"') == ("a", "b.c")``."""
    parts, rest = split_prefix(k)
    if rest:
        raise ValueError(f"not an object key: {k!r}")
    return parts


def split2(k: str, default_schema: str = "public") -> tuple[str, str]:
    """(schema, name) of a two-part key; a one-part key is taken to be in ``default_schema``."""
    parts = split_key(k)
    if len(parts) == 1:
        return default_schema, parts[0]
    if len(parts) != 2:
        raise ValueError(f"not a schema.name key: {k!r}")
    return parts[0], parts[1]


def parent(k: str) -> str:
    """The key of the owning object: ``parent('public.t.col') == 'public.t'``."""
    parts = split_key(k)
    return key(*parts[:-1])


def function_base(k: str) -> str:
    """``schema.name`` of a function key ``schema.name(arguments)``."""
    parts, _rest = split_prefix(k, 2)
    return key(*parts)


# ---------------------------------------------------------------------------------------------
# manifests written before quoted keys
# ---------------------------------------------------------------------------------------------
_TWO = ("tables", "indexes", "views", "sequences", "enums")
_THREE = ("columns", "constraints", "triggers")


class _Legacy:
    """Turns the unquoted dotted keys of an older snapshot into quoted ones."""

    def __init__(self, inventory: dict[str, Any]) -> None:
        self.schemas = sorted((inventory.get("schemas") or {}).keys(), key=len, reverse=True)
        self.relations: dict[str, list[str]] = {}
        for cat in ("tables", "views", "sequences", "enums"):
            for k in inventory.get(cat) or {}:
                s, n = self._schema_of(k)
                self.relations.setdefault(s, []).append(n)
        for names in self.relations.values():
            names.sort(key=len, reverse=True)

    def _schema_of(self, k: str) -> tuple[str, str]:
        for s in self.schemas:  # the longest known schema that prefixes the key
            if k.startswith(s + ".") and len(k) > len(s) + 1:
                return s, k[len(s) + 1:]
        s, _, rest = k.partition(".")
        return s, rest

    def two(self, k: str) -> str:
        return key(*self._schema_of(k))

    def three(self, k: str) -> str:
        s, rest = self._schema_of(k)
        for rel in self.relations.get(s, []):
            if rest.startswith(rel + ".") and len(rest) > len(rel) + 1:
                return key(s, rel, rest[len(rel) + 1:])
        rel, _, name = rest.partition(".")
        return key(s, rel, name)

    def function(self, k: str) -> str:
        head, paren, args = k.partition("(")
        return self.two(head) + paren + args


def _rekey(d: Any, fn: Any) -> Any:
    if not isinstance(d, dict):
        return d
    return dict(sorted((fn(k), v) for k, v in d.items()))


_PARTS = {**dict.fromkeys(_TWO, 2), **dict.fromkeys(_THREE, 3)}


def _check_keys(snap: dict[str, Any]) -> dict[str, Any]:
    """``BadInput`` naming the first key that is not an object key (a manifest edited by hand
    or damaged), instead of a traceback wherever it is split."""
    raw = snap.get("inventory")
    inv: dict[str, Any] = raw if isinstance(raw, dict) else {}
    where: list[tuple[str, Any, int]] = [(c, inv.get(c), n) for c, n in _PARTS.items()]
    where += [(f, snap.get(f), 2) for f in ("row_counts", "table_bytes")]
    for name, d, n in where:
        for k in d if isinstance(d, dict) else ():
            try:
                ok = isinstance(k, str) and len(split_key(k)) == n
            except ValueError:
                ok = False
            if not ok:
                raise BadInput(f"the snapshot's {name} key {k!r} is not a {n}-part object key: "
                               "the manifest was edited or is damaged",
                               "use the manifest as nchat-tui wrote it, or another backup")
    return snap


def upgrade_snapshot_keys(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot keyed as this module keys objects (a copy when it had to be rewritten).

    Snapshots already in this format are returned as they are. ``BadInput`` when a key is
    not an object key (a hand-edited or damaged manifest)."""
    if not isinstance(snap, dict):
        return snap
    if snap.get("key_format") == KEY_FORMAT:
        return _check_keys(snap)
    inv = snap.get("inventory")
    if not isinstance(inv, dict):
        return snap
    lg = _Legacy(inv)
    new_inv = dict(inv)
    for cat in _TWO:
        if cat in inv:
            new_inv[cat] = _rekey(inv[cat], lg.two)
    for cat in _THREE:
        if cat in inv:
            new_inv[cat] = _rekey(inv[cat], lg.three)
    if "functions" in inv:
        new_inv["functions"] = _rekey(inv["functions"], lg.function)
    out = dict(snap)
    out["inventory"] = new_inv
    for field in ("row_counts", "table_bytes"):
        if isinstance(snap.get(field), dict):
            out[field] = _rekey(snap[field], lg.two)
    stats = snap.get("table_stats")
    if isinstance(stats, dict) and isinstance(stats.get("tables"), dict):
        out["table_stats"] = {**stats, "tables": _rekey(stats["tables"], lg.two)}
    rls = snap.get("rls")
    if isinstance(rls, dict):
        out["rls"] = {**rls, **{f: [lg.two(k) for k in rls.get(f) or []]
                                for f in ("rls_enabled_tables", "tables_rls_could_hide")
                                if isinstance(rls.get(f), list)}}
    out["key_format"] = KEY_FORMAT
    out["key_format_upgraded_from"] = "dotted"
    return _check_keys(out)


__all__ = ["KEY_FORMAT", "function_base", "ident", "key", "parent", "split2", "split_key",
           "split_prefix", "upgrade_snapshot_keys"]
