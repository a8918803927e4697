"""Compare a restored copy with the inventory its backup recorded: by meaning, not by text.

After ``pg_dump``/``pg_restore`` some definitions read back differently although they mean the
same: ``CHECK (status IN ('a', 'b'))`` on a varchar column is stored as
``(status)::text = ANY ((ARRAY['a'::varchar, 'b'::varchar])::text[])`` and, parsed again from
the dump, deparses as ``ARRAY[('a'::varchar)::text, ('b'::varchar)::text]``. Index
predicates, trigger ``WHEN`` clauses, domain checks and view bodies do the same. A text
comparison refuses every such restore (real nChat's tenant tables have these checks).

So a definition that differs in text is given to PostgreSQL itself, on the restored copy,
inside a transaction that is always rolled back: the backup's text and the restored text
are each re-created on an empty temporary copy of the table (``CREATE TEMP TABLE ... (LIKE
...)``: nothing is scanned, nothing permanent is locked) or as a temporary domain or view,
and the two definitions PostgreSQL then reads back are compared. Equal means the restore
kept the object's meaning; different means a really changed object, which stays a
difference (as does anything that cannot be re-created: it is named with the reason).

Missing and extra objects, and every other field (types, NOT NULL, validity, owners, ledger
rows), are compared as they are. ``restore_swap`` (before it swaps) and
``verify-backup --test-restore`` use this same comparison, so a test restore fails wherever
the rollback would. No textual here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums import AlterTableType
from psycopg import sql

from nchat_tui.pg.objkeys import split_key
from nchat_tui.pg.queries import sql_template, sql_text

CANONICAL_FIELDS: dict[str, tuple[str, ...]] = {
    "constraints": ("definition",),
    "indexes": ("definition",),
    "triggers": ("definition",),
    "columns": ("default",),
    "views": ("definition",),
}
"""Fields holding SQL that PostgreSQL deparsed: compared by re-creating them."""
PROBE = "nchat_tui_probe"
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s".]+)'
_QUAL = rf"{_IDENT}\.{_IDENT}"
_INDEX = re.compile(rf"^CREATE (UNIQUE )?INDEX {_IDENT} ON (?:ONLY )?{_QUAL} USING ", re.S)
_TRIGGER = re.compile(rf"^CREATE (CONSTRAINT )?TRIGGER {_IDENT} (.*?) ON {_QUAL} ", re.S)


@dataclass
class RestoredComparison:
    """The restored copy against the backup's inventory."""

    differences: dict[str, dict[str, Any]]
    """``diff_inventory``-shaped: what really differs (empty: the copy is the backup)."""
    same_meaning: list[dict[str, Any]] = field(default_factory=list)
    """Definitions that differ in text only: {category, key, field, backup, restored}."""
    not_compared: list[dict[str, Any]] = field(default_factory=list)
    """Text differences that could not be compared by meaning, with why (they stay in
    ``differences``, except views of older manifests, which only keep a checksum)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not any(p["added"] or p["removed"] or p["changed"]
                       for p in self.differences.values())

    def describe(self, limit: int = 3) -> str:
        """The differences in one line: ``constraints [key, ...], ...``."""
        parts = []
        for cat, p in sorted(self.differences.items()):
            keys = sorted(set(p["added"]) | set(p["removed"]) | set(p["changed"]))
            if keys:
                more = f" (+{len(keys) - limit})" if len(keys) > limit else ""
                parts.append(f"{cat} {keys[:limit]}{more}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["equal"] = self.equal
        return d


class _Probe:
    """Re-creates definitions on temporary objects of one rolled-back transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.n = 0
        self.tables: dict[tuple[str, str], str] = {}

    def _name(self, kind: str) -> str:
        self.n += 1
        return f"{PROBE}_{kind}_{self.n}"

    def _one(self, query: str, /, **params: Any) -> Any:
        """The one value of ``sql/verify/probe/<query>.sql`` run with ``params``."""
        row = self.conn.execute(sql_text(f"verify/probe/{query}.sql"), params).fetchone()
        return row[0] if row else None

    def _ddl(self, query: sql.Composed | sql.SQL, expect: type,
             shape: Callable[[Any], bool] = lambda _n: True) -> None:
        """Run one statement built around catalog (or manifest) text, only when it parses as
        exactly one statement of the expected kind and shape, and never as several (the
        extended protocol refuses more than one)."""
        text = query.as_string(self.conn)
        try:
            stmts = pglast.parse_sql(text)
        except pglast.parser.ParseError as exc:
            raise LookupError(f"not parseable: {exc}") from None
        if len(stmts) != 1 or not isinstance(stmts[0].stmt, expect) \
                or not shape(stmts[0].stmt):
            raise LookupError("the definition is not a single "
                              f"{expect.__name__} of the expected shape")
        with self.conn.cursor() as cur:
            cur.execute(query, binary=True)

    def table(self, schema: str, name: str) -> str:
        """An empty temporary table with the columns of ``schema.name``."""
        if (schema, name) not in self.tables:
            tmp = self._name("t")
            self.conn.execute(sql_template("verify/probe/temp_table_like.sql").format(
                name=sql.Identifier(tmp), table=sql.Identifier(schema, name)))  # nothing copied
            self.tables[(schema, name)] = tmp
        return self.tables[(schema, name)]

    def constraint(self, k: str, obj: dict[str, Any], definition: str) -> str:
        schema, owner, _name = split_key(k)
        c = self._name("c")
        if obj.get("on_kind") == "domain":
            base = self._one("domain_base_type", schema=schema, name=owner)
            if base is None:
                raise LookupError("the domain is not in the restored copy")
            d = self._name("d")
            self._ddl(sql_template("verify/probe/create_domain.sql").format(
                name=sql.Identifier(d), base=sql.SQL(base)), ast.CreateDomainStmt,
                lambda n: not n.constraints)  # format_type's output: a type name
            self._ddl(sql_template("verify/probe/domain_add_constraint.sql").format(
                name=sql.Identifier(d), constraint=sql.Identifier(c),
                definition=sql.SQL(definition)), ast.AlterDomainStmt)
        else:
            if obj.get("type") not in ("c", "x"):
                raise LookupError("only check and exclusion constraints are re-created")
            tmp = self.table(schema, owner)
            self._ddl(sql_template("verify/probe/table_add_constraint.sql").format(
                name=sql.Identifier(tmp), constraint=sql.Identifier(c),
                definition=sql.SQL(definition)),
                ast.AlterTableStmt, _one_cmd(AlterTableType.AT_AddConstraint))
        return str(self._one("constraint_def", name=c))

    def index(self, k: str, obj: dict[str, Any], definition: str) -> str:
        schema = split_key(k)[0]
        if not obj.get("table"):
            raise LookupError("the index's table is not recorded")
        tmp = self.table(schema, str(obj["table"]))
        i = self._name("i")
        m = _INDEX.match(definition)
        if m is None:
            raise LookupError("not an index definition as pg_get_indexdef writes them")
        self._ddl(sql_template("verify/probe/create_index.sql").format(
            unique=sql.SQL("UNIQUE " if m.group(1) else ""), name=sql.Identifier(i),
            table=sql.Identifier(tmp), definition=sql.SQL(definition[m.end():])), ast.IndexStmt)
        return str(self._one("index_def", name=i)).replace(f" {i} ", " ", 1)

    def trigger(self, k: str, _obj: dict[str, Any], definition: str) -> str:
        schema, table, _name = split_key(k)
        tmp = self.table(schema, table)
        tg = self._name("g")
        m = _TRIGGER.match(definition)
        if m is None:
            raise LookupError("not a trigger definition as pg_get_triggerdef writes them")
        self._ddl(sql_template("verify/probe/create_trigger.sql").format(
            constraint=sql.SQL("CONSTRAINT " if m.group(1) else ""), name=sql.Identifier(tg),
            timing=sql.SQL(m.group(2)), table=sql.Identifier(tmp),
            definition=sql.SQL(definition[m.end():])), ast.CreateTrigStmt)
        return str(self._one("trigger_def", name=tg)).replace(f" {tg} ", " ", 1)

    def default(self, k: str, _obj: dict[str, Any], expression: str) -> str:
        schema, relation, column = split_key(k)
        tmp = self.table(schema, relation)
        self._ddl(sql_template("verify/probe/set_default.sql").format(
            name=sql.Identifier(tmp), column=sql.Identifier(column),
            expression=sql.SQL(expression)),
            ast.AlterTableStmt, _one_cmd(AlterTableType.AT_ColumnDefault))
        return str(self._one("default_def", relation=f"pg_temp.{tmp}", column=column))

    def view(self, _k: str, _obj: dict[str, Any], definition: str) -> str:
        v = self._name("v")
        self._ddl(sql_template("verify/probe/create_view.sql").format(
            name=sql.Identifier(v), definition=sql.SQL(definition.rstrip().rstrip(";"))),
            ast.ViewStmt)
        return str(self._one("view_def", name=v))


def _one_cmd(subtype: Any) -> Callable[[Any], bool]:
    def check(node: Any) -> bool:
        return len(node.cmds or ()) == 1 and node.cmds[0].subtype == subtype
    return check


_RECREATE = {("constraints", "definition"): "constraint", ("indexes", "definition"): "index",
             ("triggers", "definition"): "trigger", ("columns", "default"): "default",
             ("views", "definition"): "view"}


def same_meaning(conn: psycopg.Connection[Any], category: str, k: str,
                 obj: dict[str, Any], field_name: str, backup: Any, restored: Any
                 ) -> tuple[bool | None, str]:
    """Whether two deparsed texts of one field mean the same on ``conn``'s database:
    (True/False, "") or (None, why it cannot be told)."""
    if not isinstance(backup, str) or not isinstance(restored, str):
        return False, ""
    how = _RECREATE.get((category, field_name))
    if how is None:
        return None, "not a definition PostgreSQL can re-create"
    probe = _Probe(conn)
    fn = getattr(probe, how)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute("SET LOCAL statement_timeout = '30s'")
            a = fn(k, obj, backup)
            b = fn(k, obj, restored)
    except (psycopg.Error, LookupError) as exc:
        why = exc.diag.message_primary if isinstance(exc, psycopg.Error) and exc.diag \
            else str(exc)
        return None, f"could not re-create it: {why}"
    return a == b, ""


def compare_restored(conn: psycopg.Connection[Any], expected: dict[str, Any]
                     ) -> RestoredComparison:
    """The inventory of ``conn``'s (restored) database against ``expected``, by meaning.

    ``conn`` must be an autocommit connection to the restored copy; it is changed only inside
    transactions that are rolled back."""
    from nchat_tui.pg.snapshot import schema_inventory
    from nchat_tui.verify.engine import diff_inventory

    live = schema_inventory(conn)
    d = diff_inventory(expected, live, include_ledgers=True)
    res = RestoredComparison(d)
    for cat, part in list(d.items()):
        fields_of = CANONICAL_FIELDS.get(cat)
        for k, changed in list(part["changed"].items()):
            if not fields_of:
                continue
            if cat == "views" and set(changed) == {"definition_md5"} \
                    and "definition" not in (expected.get("views") or {}).get(k, {}):
                # An older manifest kept only a checksum: the text cannot be re-created, and
                # a view holds no data. Say so instead of refusing the restore.
                res.not_compared.append({"category": cat, "key": k, "field": "definition_md5",
                                         "why": "this manifest records only a checksum of the "
                                                "view's definition"})
                res.warnings.append(f"view {k}: its definition differs in text from the "
                                    "backup's checksum (an older manifest: not compared by "
                                    "meaning); check it by hand")
                del part["changed"][k]
                continue
            if cat == "views":
                changed = {f: v for f, v in changed.items() if f != "definition_md5"}
            if not changed or not set(changed) <= set(fields_of):
                continue
            verdicts = []
            for f, (was, now) in changed.items():
                ok, why = same_meaning(conn, cat, k, live[cat][k], f, was, now)
                verdicts.append(ok)
                if ok is None:
                    res.not_compared.append({"category": cat, "key": k, "field": f, "why": why})
                elif ok:
                    res.same_meaning.append({"category": cat, "key": k, "field": f,
                                             "backup": was, "restored": now})
            if all(v is True for v in verdicts):
                del part["changed"][k]
        if not (part["added"] or part["removed"] or part["changed"]):
            del d[cat]
    return res


__all__ = ["CANONICAL_FIELDS", "RestoredComparison", "compare_restored", "same_meaning"]
