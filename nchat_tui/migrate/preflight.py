"""The catalog preflight: what the pending files need that this database lacks, before anything runs.

Every pending file is read with PostgreSQL's own parser (the bodies of ``DO`` blocks with its
PL/pgSQL parser, the bodies of SQL functions too, which the server checks when it creates them)
and replayed in run order against the live catalog. For each statement it lists what must
already exist and what must not:

- **needs**: schemas (an object created in ``app.``), roles (``GRANT ... TO hasura``, owners,
  policy roles), functions (``auth.uid()``, trigger functions), types, relations (a foreign
  key's target, the table an index or policy is on), columns (an index's, a key's), extensions
  (``CREATE EXTENSION`` of one this server does not ship, or this user may not create), operator
  classes (``gin_trgm_ops``, and the *default* class an index column's type needs for its
  access method: a GIN index on a uuid column has none without ``btree_gin``);
- **shapes**: every ``IF NOT EXISTS`` that will be skipped over an existing object of another
  shape (a table whose columns differ: the file's columns never appear), and every plain
  ``CREATE`` of an object that already exists (the statement fails).

Objects created by earlier statements (of the same file or an earlier pending file) meet later
needs; an object only a *later* file creates does not, and is named as such. Needs inside an
``IF``/``CASE`` of a ``DO`` block, or under an exception handler that catches the error, are
reported as guarded, not as failures. Statements whose SQL is built at run time (``EXECUTE
format(...)``) are listed as not checked.

It reads the catalog only (no relation locks, one query per kind of object), never runs a
statement of a migration, and is pure apart from those queries: ``extract`` (text only) and
``resolve`` (with catalog rows) are separate so tests can drive both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType, RoleSpecType
from pglast.parser import ParseError
from psycopg.rows import dict_row

from nchat_tui.errors import Refused
from nchat_tui.migrate.plpgsql import (
    BodyStatement,
    Context,
    Expression,
    body_line,
    do_body,
    function_body,
    read_plpgsql,
)
from nchat_tui.pg.queries import sql_text

AT = AlterTableType
CT = ConstrType
OT = ObjectType

PROBLEM_STATES = ("missing", "later", "skipped", "conflict")
"""Needs that make a statement fail (or silently do less than it says)."""
STATES = ("exists", "earlier", "guarded", "unknown", *PROBLEM_STATES)
SERIALS = {"serial": "pg_catalog.int4", "serial4": "pg_catalog.int4",
           "bigserial": "pg_catalog.int8", "serial8": "pg_catalog.int8",
           "smallserial": "pg_catalog.int2", "serial2": "pg_catalog.int2"}
# Error classes an exception handler must catch for a missing object, or a duplicate one.
CATCH_MISSING = {"others", "undefined_object", "undefined_function", "undefined_table",
                 "undefined_column", "invalid_schema_name"}
CATCH_DUPLICATE = {"others", "duplicate_object", "duplicate_table", "duplicate_schema",
                   "duplicate_function", "unique_violation"}

# What the common extensions provide, for "created earlier by CREATE EXTENSION" and the hint.
EXTENSION_PROVIDES: dict[str, dict[str, set[str]]] = {
    "uuid-ossp": {"function": {"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v3",
                               "uuid_generate_v4", "uuid_generate_v5", "uuid_nil",
                               "uuid_ns_dns", "uuid_ns_url", "uuid_ns_oid", "uuid_ns_x500"}},
    "pgcrypto": {"function": {"gen_random_uuid", "crypt", "gen_salt", "digest", "hmac",
                              "gen_random_bytes", "pgp_sym_encrypt", "pgp_sym_decrypt",
                              "pgp_pub_encrypt", "pgp_pub_decrypt", "armor", "dearmor",
                              "encrypt", "decrypt"}},
    "pg_trgm": {"function": {"similarity", "word_similarity", "strict_word_similarity",
                             "show_trgm", "show_limit", "set_limit"},
                "operator class": {"gin_trgm_ops", "gist_trgm_ops"}},
    "citext": {"type": {"citext"}},
    "hstore": {"type": {"hstore"}, "function": {"hstore", "akeys", "avals", "skeys", "svals"}},
    "ltree": {"type": {"ltree", "lquery", "ltxtquery"}},
    "unaccent": {"function": {"unaccent"}},
    "fuzzystrmatch": {"function": {"levenshtein", "soundex", "difference", "metaphone",
                                   "dmetaphone", "daitch_mokotoff"}},
    "intarray": {"operator class": {"gin__int_ops", "gist__int_ops", "gist__intbig_ops"}},
    "vector": {"type": {"vector", "halfvec", "sparsevec"},
               "operator class": {"vector_l2_ops", "vector_ip_ops", "vector_cosine_ops"}},
    "postgis": {"type": {"geometry", "geography", "box2d", "box3d"}},
    "pg_stat_statements": {"relation": {"pg_stat_statements"},
                           "function": {"pg_stat_statements", "pg_stat_statements_reset"}},
}
# Extensions that give scalar types a default operator class for an access method.
DEFAULT_OPCLASS_EXTENSIONS = {"gin": "btree_gin", "gist": "btree_gist"}


def _qi(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def _written(schema: str | None, name: str) -> str:
    return f"{_qi(schema)}.{_qi(name)}" if schema else _qi(name)


def _strs(items: Any) -> list[str]:
    return [str(getattr(i, "sval", i)) for i in items or ()]


def _qualified(names: Any) -> tuple[str | None, str]:
    parts = _strs(names)
    if not parts:
        return None, "?"
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


Key = tuple[str | None, str]


@dataclass
class Need:
    """One object a statement needs (or must not find), and what the catalog says."""

    kind: str
    """schema, role, function, type, relation, column, extension, operator class,
    default operator class, table shape, index shape, column shape, enum labels, object"""
    name: str
    file: str
    line: int
    statement: int
    context: str
    """What needs it, as written (``GRANT ... TO hasura``)."""
    state: str = "missing"
    """exists, earlier (an earlier statement of this run creates it), guarded (a DO block
    checks first, or catches the error), unknown (may come from an extension created earlier),
    missing, later (only a later statement of this run creates it), skipped (IF NOT EXISTS
    over another shape), conflict (already exists: a plain CREATE fails)."""
    detail: str | None = None
    fix: str | None = None

    @property
    def problem(self) -> bool:
        return self.state in PROBLEM_STATES

    def describe(self) -> str:
        what = {"missing": "does not exist", "later": "does not exist yet",
                "skipped": "is skipped", "conflict": "already exists",
                "guarded": "is checked by the block itself", "unknown": "is not in the catalog",
                "earlier": "is created earlier in this run", "exists": "exists"}[self.state]
        text = f"{self.kind} {self.name} {what}"
        if self.detail:
            text += f": {self.detail}"
        return text


@dataclass
class NeedGroup:
    """The needs of one object grouped: every file and line that needs it."""

    kind: str
    name: str
    state: str
    detail: str | None
    fix: str | None
    context: str
    """What needs it first, as written."""
    where: dict[str, list[int]]
    """File name -> the lines that need it, in the order they are met."""

    def describe(self) -> str:
        return Need(self.kind, self.name, "", 0, 0, "", self.state, self.detail).describe()


@dataclass
class Unchecked:
    """A statement whose needs cannot be read (SQL built at run time, an unparseable file)."""

    file: str
    line: int | None
    """None when the whole file does not parse."""
    why: str


@dataclass
class Preflight:
    needs: list[Need] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)
    """Statements whose needs cannot be read (SQL built at run time, an unparseable file)."""

    def problems(self) -> list[Need]:
        return [n for n in self.needs if n.problem]

    def guarded(self) -> list[Need]:
        return [n for n in self.needs if n.state in ("guarded", "unknown")]

    def grouped(self, needs: Iterable[Need] | None = None) -> list[NeedGroup]:
        """Problems grouped by object: kind, name, state, detail, fix, and where (file ->
        lines), in the order they are first met."""
        groups: dict[tuple[str, str, str], NeedGroup] = {}
        for n in self.problems() if needs is None else needs:
            g = groups.setdefault((n.kind, n.name, n.state), NeedGroup(
                n.kind, n.name, n.state, n.detail, n.fix, n.context, {}))
            g.where.setdefault(n.file, [])
            if n.line not in g.where[n.file]:
                g.where[n.file].append(n.line)
        return list(groups.values())

    def lines(self) -> list[str]:
        """One line per missing object, with every file and line that needs it."""
        out = []
        for g in self.grouped():
            where = "; ".join(f"{f} line{'s' if len(ls) > 1 else ''} "
                              f"{', '.join(str(x) for x in ls)}" for f, ls in g.where.items())
            out.append(f"{g.describe()} ({where})" + (f"; fix: {g.fix}" if g.fix else ""))
        return out

    def for_file(self, name: str) -> list[Need]:
        return [n for n in self.problems() if n.file == name]

    def lines_for(self, name: str) -> list[str]:
        """One line per missing object that file ``name`` needs, with its lines there."""
        out = []
        for g in self.grouped(self.for_file(name)):
            ls = g.where[name]
            out.append(f"line{'s' if len(ls) > 1 else ''} {', '.join(str(x) for x in ls)}: "
                       f"{g.describe()}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "ok": not self.problems(),
                "problems": [asdict(g) for g in self.grouped()],
                "guarded": [asdict(g) for g in self.grouped(self.guarded())],
                "needs": [asdict(n) for n in self.needs],
                "unchecked": [asdict(u) for u in self.unchecked]}


# -- extraction: text -> events ------------------------------------------------------------------
@dataclass
class _Unit:
    node: Any
    text: str
    """The string the node's locations point into."""
    line0: int
    """The file line of text[0]."""
    statement: int
    file: str
    contexts: list[Context]
    fixed_line: int | None = None
    """Every node of the unit is on this line (EXECUTE of a constant string)."""
    start: int = 0
    """Where the statement starts in ``text``: the line of a node that has no location."""

    def line(self, loc: Any) -> int:
        if self.fixed_line is not None:
            return self.fixed_line
        if not isinstance(loc, int) or loc < 0:
            loc = self.start
        return self.line0 + self.text.count("\n", 0, loc)

    def guard(self, catches: set[str]) -> str | None:
        """How the unit is guarded against an error of the given classes, or None."""
        for c in self.contexts:
            if c.kind in ("IF", "CASE"):
                return c.describe()
            if c.kind == "exception block" and catches & set(c.catches):
                return c.describe()
        return None


@dataclass
class _Ev:
    op: str
    """need, create, drop, add-column, drop-column, rename-rel, rename-col, shape-table,
    shape-index, shape-column, shape-enum, conflict"""
    kind: str
    key: Any
    line: int
    unit: _Unit
    context: str = ""
    data: Any = None


class _Extractor:
    """Walks one unit's parse tree and emits events in execution order."""

    def __init__(self, unit: _Unit, stmt_sql: str) -> None:
        self.u = unit
        self.sql = _short(stmt_sql)
        self.ev: list[_Ev] = []
        self.skip: set[int] = set()
        self.ctes: set[str] = set()

    # -- emit helpers ---------------------------------------------------------------------------
    def need(self, kind: str, key: Any, loc: Any = None, context: str | None = None,
             data: Any = None) -> None:
        self.ev.append(_Ev("need", kind, key, self.u.line(loc), self.u, context or self.sql,
                           data))

    def emit(self, op: str, kind: str, key: Any, loc: Any = None, data: Any = None) -> None:
        self.ev.append(_Ev(op, kind, key, self.u.line(loc), self.u, self.sql, data))

    # -- the generic walk -----------------------------------------------------------------------
    def walk(self, node: Any) -> None:
        if node is None or id(node) in self.skip:
            return
        if isinstance(node, tuple | list):
            for x in node:
                self.walk(x)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.CommonTableExpr) and node.ctename:
            self.ctes.add(node.ctename)
        elif isinstance(node, ast.FuncCall):
            s, n = _qualified(node.funcname)
            if s != "pg_catalog":
                self.need("function", (s, n), node.location)
        elif isinstance(node, ast.TypeName):
            self.type_need(node)
        elif isinstance(node, ast.RangeVar):
            if node.schemaname is not None or node.relname not in self.ctes:
                self.need("relation", (node.schemaname, node.relname), node.location)
        elif (isinstance(node, ast.RoleSpec) and node.rolename
              and node.roletype == RoleSpecType.ROLESPEC_CSTRING):
            self.need("role", node.rolename, node.location)
        for slot in node.__slots__:
            if slot in ("location",):
                continue
            self.walk(getattr(node, slot, None))

    def type_need(self, tn: Any) -> None:
        if tn.pct_type:
            return
        s, n = _qualified(tn.names)
        if s == "pg_catalog" or (s is None and n in SERIALS):
            return
        self.need("type", (s, n), tn.location)

    def schema_need(self, schema: str | None, loc: Any = None) -> None:
        if schema and schema not in ("pg_catalog", "pg_temp", "public"):
            self.need("schema", schema, loc)

    # -- per statement --------------------------------------------------------------------------
    def statement(self, node: Any) -> None:
        h = getattr(self, "_" + type(node).__name__, None)
        if h is not None:
            h(node)
        else:
            self.walk(node)

    def _CreateStmt(self, node: Any) -> None:
        rv = node.relation
        self.skip.add(id(rv))
        self.schema_need(rv.schemaname, rv.location)
        key = _rel_key(rv)
        cols: dict[str, str | None] = {}
        cons: list[str] = []
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                cols[str(elt.colname)] = _type_text(elt.typeName)
                for c in elt.constraints or ():
                    if c.conname:
                        cons.append(c.conname)
            elif isinstance(elt, ast.Constraint) and elt.conname:
                cons.append(elt.conname)
        data = {"columns": cols, "constraints": cons, "if_not_exists": bool(node.if_not_exists),
                "temp": rv.relpersistence == "t"}
        self.emit("create", "relation", key, rv.location, data)
        self.walk([node.inhRelations, node.partspec, node.ofTypename])
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                self.walk(elt.typeName)
                for c in elt.constraints or ():
                    self.constraint(c, (rv.schemaname, rv.relname), [str(elt.colname)])
            elif isinstance(elt, ast.Constraint):
                self.constraint(elt, (rv.schemaname, rv.relname), None)
            else:
                self.walk(elt)

    def constraint(self, c: Any, table: Key, columns: list[str] | None) -> None:
        if c.contype == CT.CONSTR_FOREIGN and c.pktable is not None:
            self.skip.add(id(c.pktable))
            pk = (c.pktable.schemaname, c.pktable.relname)
            self.need("relation", pk, c.pktable.location)
            for a in _strs(c.fk_attrs):
                self.need("column", (table, a), c.location)
            for a in _strs(c.pk_attrs):
                self.need("column", (pk, a), c.pktable.location)
        elif c.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            for a in _strs(c.keys) or list(columns or []):
                if not columns:
                    self.need("column", (table, a), c.location)
                self.need("default operator class", ("btree", table, a), c.location)
        elif c.contype == CT.CONSTR_EXCLUSION:
            am = c.access_method or "gist"
            for pair in c.exclusions or ():
                elem = pair[0] if isinstance(pair, tuple | list) and pair else None
                if isinstance(elem, ast.IndexElem):
                    self.index_elem(elem, am, table, c.location)
        self.walk([c.raw_expr, c.where_clause])

    def index_elem(self, e: Any, am: str, table: Key, loc: Any) -> None:
        if e.opclass:
            s, n = _qualified(e.opclass)
            self.need("operator class", (am, s, n), loc)
        if e.name:
            self.need("column", (table, e.name), loc)
            if not e.opclass:
                self.need("default operator class", (am, table, e.name), loc)
        self.walk(e.expr)

    def _IndexStmt(self, node: Any) -> None:
        rv = node.relation
        self.skip.add(id(rv))
        table = (rv.schemaname, rv.relname)
        self.need("relation", table, rv.location)
        am = (node.accessMethod or "btree").lower()
        for e in node.indexParams or ():
            self.index_elem(e, am, table, rv.location)
        for e in node.indexIncludingParams or ():
            if e.name:
                self.need("column", (table, e.name), rv.location)
        self.walk(node.whereClause)
        if node.idxname:
            cols = [e.name for e in node.indexParams or ()]
            self.emit("create", "index", (rv.schemaname, node.idxname), rv.location,
                      {"table": table, "columns": None if None in cols else cols,
                       "if_not_exists": bool(node.if_not_exists)})

    def _AlterTableStmt(self, node: Any) -> None:
        rv = node.relation
        if rv is None:
            return
        self.skip.add(id(rv))
        table = (rv.schemaname, rv.relname)
        if node.objtype not in (OT.OBJECT_TABLE, OT.OBJECT_FOREIGN_TABLE, OT.OBJECT_VIEW,
                                OT.OBJECT_MATVIEW, OT.OBJECT_SEQUENCE, OT.OBJECT_INDEX):
            self.walk(node.cmds)
            return
        if not node.missing_ok:
            self.need("relation", table, rv.location)
        for cmd in node.cmds or ():
            sub = cmd.subtype
            if sub == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                cd = cmd.def_
                self.walk(cd.typeName)
                self.emit("add-column", "column", (table, cd.colname), cd.location,
                          {"type": _type_text(cd.typeName), "if_not_exists": bool(cmd.missing_ok)})
                for c in cd.constraints or ():
                    self.constraint(c, table, [str(cd.colname)])
            elif sub == AT.AT_DropColumn:
                if not cmd.missing_ok:
                    self.need("column", (table, cmd.name), rv.location)
                self.emit("drop-column", "column", (table, cmd.name), rv.location)
            elif sub in (AT.AT_AlterColumnType, AT.AT_SetNotNull, AT.AT_DropNotNull,
                         AT.AT_ColumnDefault, AT.AT_SetStatistics, AT.AT_SetStorage,
                         AT.AT_DropExpression, AT.AT_AddIdentity, AT.AT_DropIdentity):
                if cmd.name:
                    self.need("column", (table, cmd.name), rv.location)
                if sub == AT.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                    self.walk(cmd.def_.typeName)
                    self.emit("add-column", "column", (table, cmd.name), rv.location,
                              {"type": _type_text(cmd.def_.typeName), "retype": True})
                else:
                    self.walk(cmd.def_)
            elif sub in (AT.AT_AddConstraint,) and isinstance(cmd.def_, ast.Constraint):
                self.constraint(cmd.def_, table, None)
                if cmd.def_.conname:
                    self.emit("add-constraint", "constraint", table, rv.location,
                              cmd.def_.conname)
            else:
                self.walk([cmd.def_, cmd.newowner])

    def _RenameStmt(self, node: Any) -> None:
        rv = node.relation
        if rv is not None:
            self.skip.add(id(rv))
            table = (rv.schemaname, rv.relname)
            if not node.missing_ok:
                self.need("relation", table, rv.location)
            if node.renameType in (OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW,
                                   OT.OBJECT_SEQUENCE, OT.OBJECT_INDEX):
                self.emit("rename-rel", "relation", table, rv.location,
                          (rv.schemaname, node.newname))
            elif node.renameType == OT.OBJECT_COLUMN and node.subname:
                if not node.missing_ok:
                    self.need("column", (table, node.subname), rv.location)
                self.emit("rename-col", "column", (table, node.subname), rv.location,
                          node.newname)
            return
        self.walk(node.object)

    def _ViewStmt(self, node: Any) -> None:
        rv = node.view
        self.skip.add(id(rv))
        self.schema_need(rv.schemaname, rv.location)
        self.walk(node.query)
        self.emit("create", "relation", _rel_key(rv), rv.location,
                  {"columns": None, "constraints": [], "replace": bool(node.replace),
                   "if_not_exists": False, "view": True})

    def _CreateTableAsStmt(self, node: Any) -> None:
        rv = node.into.rel if node.into is not None else None
        if rv is not None:
            self.skip.add(id(rv))
            self.schema_need(rv.schemaname, rv.location)
        self.walk(node.query)
        if rv is not None:
            self.emit("create", "relation", _rel_key(rv), rv.location,
                      {"columns": None, "constraints": [],
                       "if_not_exists": bool(node.if_not_exists)})

    def _CreateSeqStmt(self, node: Any) -> None:
        rv = node.sequence
        self.skip.add(id(rv))
        self.schema_need(rv.schemaname, rv.location)
        self.walk(node.options)
        self.emit("create", "relation", _rel_key(rv), rv.location,
                  {"columns": None, "constraints": [], "if_not_exists": bool(node.if_not_exists)})

    def _CreateEnumStmt(self, node: Any) -> None:
        s, n = _qualified(node.typeName)
        self.schema_need(s)
        self.emit("create", "type", (s or "public", n), None,
                  {"labels": _strs(node.vals), "enum": True})

    def _CompositeTypeStmt(self, node: Any) -> None:
        rv = node.typevar
        self.skip.add(id(rv))
        self.schema_need(rv.schemaname, rv.location)
        self.walk(node.coldeflist)
        self.emit("create", "type", (rv.schemaname or "public", rv.relname), rv.location, {})

    def _CreateDomainStmt(self, node: Any) -> None:
        s, n = _qualified(node.domainname)
        self.schema_need(s)
        self.walk([node.typeName, node.constraints])
        self.emit("create", "type", (s or "public", n), None, {})

    def _CreateFunctionStmt(self, node: Any) -> None:
        s, n = _qualified(node.funcname)
        self.schema_need(s)
        self.walk([node.parameters, node.returnType, node.sql_body])
        self.emit("create", "function", (s or "public", n), None, {})

    def _CreateTrigStmt(self, node: Any) -> None:
        s, n = _qualified(node.funcname)
        self.walk([node.relation, node.whenClause, node.args])
        if s != "pg_catalog":
            self.need("function", (s, n), None)

    def _CreateSchemaStmt(self, node: Any) -> None:
        self.walk(node.authrole)
        name = node.schemaname or getattr(node.authrole, "rolename", None)
        if name:
            self.emit("create", "schema", name, None, {"if_not_exists": bool(node.if_not_exists)})

    def _CreateExtensionStmt(self, node: Any) -> None:
        opts = {getattr(o, "defname", ""): getattr(o, "arg", None) for o in node.options or ()}
        schema = getattr(opts.get("schema"), "sval", None)
        self.schema_need(schema)
        self.emit("create", "extension", node.extname, None,
                  {"if_not_exists": bool(node.if_not_exists)})

    def _CreateRoleStmt(self, node: Any) -> None:
        self.walk(node.options)
        self.emit("create", "role", node.role, None, {})

    def _DropRoleStmt(self, node: Any) -> None:
        for r in node.roles or ():
            if getattr(r, "rolename", None):
                if not node.missing_ok:
                    self.need("role", r.rolename, r.location)
                self.emit("drop", "role", r.rolename, r.location)

    def _GrantRoleStmt(self, node: Any) -> None:
        for p in node.granted_roles or ():
            if getattr(p, "priv_name", None):
                self.need("role", p.priv_name, None)
        self.walk([node.grantee_roles, node.grantor])

    def _GrantStmt(self, node: Any) -> None:
        self.walk([node.grantees, node.grantor])
        if node.objtype in (OT.OBJECT_FUNCTION, OT.OBJECT_PROCEDURE, OT.OBJECT_ROUTINE):
            for o in node.objects or ():
                if isinstance(o, ast.ObjectWithArgs):
                    self.need("function", _qualified(o.objname), None)
                    self.walk([o.objargs, o.objfuncargs])
        elif node.objtype == OT.OBJECT_SCHEMA or node.targtype != 0:
            # GRANT ... ON SCHEMA x, GRANT ... ON ALL TABLES IN SCHEMA x
            for o in node.objects or ():
                name = getattr(o, "sval", None)
                if name:
                    self.need("schema", name, None)
        else:
            self.walk(node.objects)

    def _CommentStmt(self, node: Any) -> None:
        obj = node.object
        if node.objtype in (OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW,
                            OT.OBJECT_SEQUENCE, OT.OBJECT_INDEX) and isinstance(obj, tuple | list):
            self.need("relation", _qualified(obj), None)
        elif node.objtype == OT.OBJECT_COLUMN and isinstance(obj, tuple | list):
            parts = _strs(obj)
            if len(parts) >= 2:
                table = _qualified(parts[:-1])
                self.need("relation", table, None)
                self.need("column", (table, parts[-1]), None)
        elif node.objtype in (OT.OBJECT_FUNCTION, OT.OBJECT_PROCEDURE) and \
                isinstance(obj, ast.ObjectWithArgs):
            self.need("function", _qualified(obj.objname), None)
        elif node.objtype == OT.OBJECT_SCHEMA:
            name = getattr(obj, "sval", None)
            if name:
                self.need("schema", name, None)
        else:
            self.walk(obj)

    def _DropStmt(self, node: Any) -> None:
        rt = node.removeType
        rels = {OT.OBJECT_TABLE, OT.OBJECT_VIEW, OT.OBJECT_MATVIEW, OT.OBJECT_SEQUENCE,
                OT.OBJECT_INDEX, OT.OBJECT_FOREIGN_TABLE}
        for o in node.objects or ():
            if rt in rels:
                key = _qualified(o)
                if not node.missing_ok:
                    self.need("relation", key, None)
                self.emit("drop", "relation", key, None)
            elif rt in (OT.OBJECT_TYPE, OT.OBJECT_DOMAIN):
                key = _qualified(o.names if isinstance(o, ast.TypeName) else o)
                if not node.missing_ok:
                    self.need("type", key, None)
                self.emit("drop", "type", key, None)
            elif rt in (OT.OBJECT_FUNCTION, OT.OBJECT_PROCEDURE, OT.OBJECT_ROUTINE):
                key = _qualified(o.objname) if isinstance(o, ast.ObjectWithArgs) else (None, "?")
                if not node.missing_ok:
                    self.need("function", key, None)
                self.emit("drop", "function", key, None)
            elif rt == OT.OBJECT_SCHEMA:
                name = getattr(o, "sval", str(o))
                if not node.missing_ok:
                    self.need("schema", name, None)
                self.emit("drop", "schema", name, None)
            elif rt == OT.OBJECT_EXTENSION:
                name = getattr(o, "sval", str(o))
                self.emit("drop", "extension", name, None)
            elif rt in (OT.OBJECT_TRIGGER, OT.OBJECT_POLICY, OT.OBJECT_RULE):
                parts = _strs(o)
                if len(parts) >= 2 and not node.missing_ok:
                    self.need("relation", _qualified(parts[:-1]), None)

    def _AlterEnumStmt(self, node: Any) -> None:
        self.need("type", _qualified(node.typeName), None)
        if node.newVal and not node.oldVal:
            self.emit("add-label", "type", _qualified(node.typeName), None, node.newVal)

    def _VariableSetStmt(self, node: Any) -> None:
        if node.name == "role" and node.args:
            val = getattr(getattr(node.args[0], "val", None), "sval", None)
            if val and val.lower() != "none":
                self.need("role", val, node.location)

    def _DoStmt(self, node: Any) -> None:
        return None  # its body becomes units of its own


def _rel_key(rv: Any) -> Key:
    """Where a CREATE puts a relation: its schema, pg_temp for a temporary one, else public."""
    if rv.schemaname:
        return rv.schemaname, rv.relname
    return ("pg_temp" if rv.relpersistence == "t" else "public"), rv.relname


def _type_text(tn: Any) -> str | None:
    """A column's type as the server can resolve it (``uuid``, ``pg_catalog.varchar``,
    ``text[]``); serial types as the integer they stand for."""
    if tn is None or tn.pct_type:
        return None
    parts = _strs(tn.names)
    base = SERIALS[parts[0]] if len(parts) == 1 and parts[0] in SERIALS else ".".join(_qi(p) for p in parts)
    return base + ("[]" if tn.arrayBounds else "")


def _short(sql: str, n: int = 90) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= n else flat[:n - 3] + "..."


def extract(files: list[tuple[str, str]]) -> tuple[list[_Ev], list[Unchecked]]:
    """Events of ``files`` (name, text), in run order; and the statements not checked."""
    events: list[_Ev] = []
    unchecked: list[Unchecked] = []
    for fname, text in files:
        try:
            raw = parse_sql(text)
        except ParseError as exc:
            unchecked.append(Unchecked(
                fname, None, f"the file does not parse ({exc.args[0] if exc.args else exc})"))
            continue
        for i, r in enumerate(raw, 1):
            start = r.stmt_location or 0
            chunk = text[start:start + (r.stmt_len or len(text) - start)]
            lead = len(chunk) - len(chunk.lstrip())
            unit = _Unit(r.stmt, text, 1, i, fname, [], start=start + lead)
            events += _unit_events(unit, chunk.strip(), unchecked)
            node = r.stmt
            line = text.count("\n", 0, start + lead) + 1
            if isinstance(node, ast.DoStmt):
                body, lang = do_body(node)
                if body is None or lang != "plpgsql":
                    unchecked.append(Unchecked(fname, line, f"DO block in language {lang}"))
                    continue
                pb = read_plpgsql(body, body_line(text, start, chunk, body))
                if pb.error:
                    unchecked.append(Unchecked(fname, line, pb.error))
                    continue
                events += _body_events(pb.statements, pb.expressions, fname, i, unchecked)
                for d in pb.dynamic:
                    unchecked.append(Unchecked(
                        fname, d.line, f"DO block: {d.form} {_short(d.expr, 60)} builds its SQL "
                        "at run time"))
            elif isinstance(node, ast.CreateFunctionStmt):
                body, lang = function_body(node)
                if body is not None and lang == "sql":
                    # The server checks a SQL function's body when it creates the function.
                    first = body_line(text, start, chunk, body)
                    events += _body_events([BodyStatement(first, body, "static")], [], fname, i,
                                           unchecked, creating=True)
    return events, unchecked


def _unit_events(unit: _Unit, stmt_sql: str,
                 unchecked: list[Unchecked] | None = None) -> list[_Ev]:
    x = _Extractor(unit, stmt_sql)
    try:
        x.statement(unit.node)
    except Exception as exc:  # a node shape this reader does not know: say so, keep going
        if unchecked is not None:
            unchecked.append(Unchecked(
                unit.file, unit.line(None), f"{type(unit.node).__name__} not understood "
                f"({type(exc).__name__}): what it needs is not checked"))
        return []
    return x.ev


def _body_events(stmts: list[BodyStatement], exprs: list[Expression], fname: str, index: int,
                 unchecked: list[Unchecked], creating: bool = False) -> list[_Ev]:
    out: list[_Ev] = []
    items: list[tuple[int, str, list[Context], int | None]] = []
    for bs in stmts:
        items.append((bs.line, bs.sql, bs.context,
                      bs.line if bs.how == "execute-literal" else None))
    for e in exprs:
        items.append((e.line, e.sql, e.context, e.line))
    items.sort(key=lambda t: t[0])
    for line, sql, ctx, fixed in items:
        try:
            raw = parse_sql(sql)
        except ParseError as exc:
            unchecked.append(Unchecked(
                fname, line, f"a statement in a body does not parse ({exc.args[0]})"))
            continue
        for r in raw:
            start = r.stmt_location or 0
            unit = _Unit(r.stmt, sql, line, index, fname, list(ctx), fixed, start=start)
            out += _unit_events(unit, sql[start:start + (r.stmt_len or len(sql) - start)],
                                unchecked)
    if creating:
        for ev in out:
            ev.context = "the body of a SQL function (checked when it is created): " + ev.context
    return out


# -- the catalog ---------------------------------------------------------------------------------
@dataclass
class Catalog:
    """The catalog rows the preflight needs (filled by ``read_catalog``, or by hand in tests)."""

    schemas: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    functions: dict[Key, dict[str, Any]] = field(default_factory=dict)
    types: dict[Key, dict[str, Any]] = field(default_factory=dict)
    relations: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By the name as written."""
    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)
    type_oids: dict[str, dict[str, Any]] = field(default_factory=dict)
    opclasses: dict[tuple[str, str], bool] = field(default_factory=dict)
    default_opclass: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


def _rows(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]
          ) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(f"preflight/{name}.sql"), params)
        return list(cur.fetchall())


def read_catalog(conn: psycopg.Connection[Any], events: list[_Ev]) -> Catalog:
    """One query per kind of object for everything ``events`` name (catalog reads only)."""
    cat = Catalog()
    want: dict[str, set[Any]] = {k: set() for k in ("schema", "role", "function", "type",
                                                     "relation", "extension", "typetext",
                                                     "opclass")}
    for ev in events:
        k = ev.kind
        if ev.op == "need" and k in ("schema", "role", "extension"):
            want[k].add(ev.key)
        elif ev.op == "need" and k in ("function", "type"):
            want[k].add(ev.key)
            if ev.key[0]:
                want["schema"].add(ev.key[0])
        elif ev.op == "need" and k == "relation":
            want["relation"].add(_written(*ev.key))
            if ev.key[0]:
                want["schema"].add(ev.key[0])
        elif ev.op == "need" and k in ("column", "default operator class"):
            table = ev.key[0] if k == "column" else ev.key[1]
            want["relation"].add(_written(*table))
        elif ev.op == "need" and k == "operator class":
            want["opclass"].add((ev.key[2], ev.key[0]))
        elif ev.op == "create":
            if k == "relation":
                want["relation"].add(_written(*ev.key))
                for t in (ev.data.get("columns") or {}).values():
                    if t:
                        want["typetext"].add(t)
            elif k == "index":
                want["relation"].add(_written(*ev.key))
                want["relation"].add(_written(*ev.data["table"]))
            elif k == "type":
                want["type"].add(ev.key)
            elif k in ("schema", "role", "extension"):
                want[k].add(ev.key)
            if k == "extension":
                want["extension"].add(ev.key)
        elif ev.op == "add-column" and ev.data.get("type"):
            want["typetext"].add(ev.data["type"])
            want["relation"].add(_written(*ev.key[0]))
    want["extension"] |= set(EXTENSION_PROVIDES) | set(DEFAULT_OPCLASS_EXTENSIONS.values())
    if want["schema"]:
        cat.schemas = {r["name"] for r in _rows(conn, "schemas",
                                                {"names": sorted(want["schema"])})}
    if want["role"]:
        cat.roles = {r["name"] for r in _rows(conn, "roles", {"names": sorted(want["role"])})}
    for kind, target in (("function", cat.functions), ("type", cat.types)):
        keys = sorted(want[kind], key=lambda k: (k[0] or "", k[1]))
        if keys:
            for r in _rows(conn, kind + "s", {"schemas": [k[0] or "" for k in keys],
                                              "names": [k[1] for k in keys]}):
                target[(r["schema"] or None, r["name"])] = r
    if want["relation"]:
        for r in _rows(conn, "relations", {"names": sorted(want["relation"])}):
            cat.relations[r["name"]] = r
    cat.extensions = {r["name"]: r for r in _rows(conn, "extensions",
                                                  {"names": sorted(want["extension"])})}
    # Column types: written in the files, and those of the existing tables the files index.
    if want["typetext"]:
        cat.type_oids = {r["name"]: r for r in _rows(conn, "type_oids",
                                                     {"names": sorted(want["typetext"])})}
    if want["opclass"]:
        ops = sorted(want["opclass"])
        for r in _rows(conn, "opclasses", {"names": [o[0] for o in ops],
                                           "methods": [o[1] for o in ops]}):
            cat.opclasses[(r["name"], r["method"])] = bool(r["found"])
    pairs: set[tuple[str, int]] = set()
    ams = {ev.key[0] for ev in events if ev.kind == "default operator class"}
    if ams:
        oids = {int(r["oid"]) for r in cat.type_oids.values() if r.get("oid")}
        for r in cat.relations.values():
            for c in r.get("columns") or []:
                oids.add(int(c["type_oid"]))
        pairs = {(am, o) for am in ams for o in oids}
    if pairs:
        ps = sorted(pairs)
        for r in _rows(conn, "default_opclass", {"methods": [p[0] for p in ps],
                                                 "types": [p[1] for p in ps]}):
            cat.default_opclass[(r["method"], int(r["type_oid"]))] = r
    return cat


# -- resolution: events + catalog -> needs -------------------------------------------------------
@dataclass
class _Col:
    type: str | None
    """As written (or formatted by the server)."""
    oid: int | None


@dataclass
class _Rel:
    columns: dict[str, _Col] | None
    constraints: set[str]
    origin: str
    """``catalog`` or ``FILE line N``."""
    index: dict[str, Any] | None = None


class _Sim:
    """The database as the run will have changed it up to the current statement."""

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat
        self.rels: dict[Key, _Rel | None] = {}
        """Relations touched by the run: created (a _Rel) or dropped (None)."""
        self.objs: dict[tuple[str, Any], str | None] = {}
        """(kind, key) -> where it was created, or None when dropped."""
        self.type_labels: dict[Key, list[str]] = {}
        self.shapes: list[dict[str, Any]] = []
        """Skipped IF NOT EXISTS statements, judged at the end of the run."""

    # relations ---------------------------------------------------------------------------------
    def _cat_rel(self, key: Key) -> dict[str, Any] | None:
        r = self.cat.relations.get(_written(*key))
        return r if r is not None and r.get("oid") is not None else None

    def rel(self, key: Key) -> tuple[str, _Rel | None, Key | None]:
        """(state, relation, resolved key): state exists / earlier / missing."""
        s, n = key
        cands: list[Key] = [(s, n)] if s else [("pg_temp", n), ("public", n)]
        for c in cands:
            if c in self.rels:
                r = self.rels[c]
                if r is not None:
                    return ("exists" if r.origin == "catalog" else "earlier"), r, c
        row = self._cat_rel(key)
        if row is not None:
            rk = (row["schema_name"], row["rel_name"])
            if rk in self.rels and self.rels[rk] is None:
                return "missing", None, None
            if rk in self.rels:
                r2 = self.rels[rk]
                return ("exists" if r2 and r2.origin == "catalog" else "earlier"), r2, rk
            return "exists", self._from_catalog(row), rk
        return "missing", None, None

    def _from_catalog(self, row: dict[str, Any]) -> _Rel:
        cols = {c["name"]: _Col(c["type"], int(c["type_oid"])) for c in row.get("columns") or []}
        idx = None
        if row.get("index_table"):
            idx = {"table": row["index_table"], "columns": row.get("index_columns")}
        return _Rel(cols, set(row.get("constraints") or []), "catalog", idx)

    def touch(self, key: Key) -> _Rel | None:
        """The relation for a change (copied from the catalog on first change)."""
        _state, r, rk = self.rel(key)
        if r is None or rk is None:
            return None
        self.rels[rk] = r
        return r

    def type_display(self, text: str | None) -> str:
        row = self.cat.type_oids.get(text or "")
        return str(row["formatted"]) if row and row.get("formatted") else str(text)

    def type_oid(self, text: str | None) -> int | None:
        if not text:
            return None
        row = self.cat.type_oids.get(text)
        return int(row["oid"]) if row and row.get("oid") else None

    # other objects -----------------------------------------------------------------------------
    def obj(self, kind: str, key: Any) -> str | None:
        """Where an earlier statement of this run created it ("" when not), None if dropped."""
        if kind in ("function", "type"):
            s, n = key
            for c in ([(s, n)] if s else [("public", n), ("pg_catalog", n)]):
                if (kind, c) in self.objs:
                    return self.objs[(kind, c)]
            return ""
        return self.objs.get((kind, key), "")

    def extension_created(self, name: str) -> str | None:
        return self.objs.get(("extension", name)) or None


def _origin(ev: _Ev) -> str:
    return f"{ev.unit.file} line {ev.line}"


def resolve(events: list[_Ev], cat: Catalog) -> list[Need]:
    sim = _Sim(cat)
    # Where every object is first created anywhere in the run (for "only a later file").
    first: dict[tuple[str, Any], tuple[int, _Ev]] = {}
    for i, ev in enumerate(events):
        if ev.op == "create":
            key = ev.key
            if ev.kind == "relation" or ev.kind == "index":
                first.setdefault(("relation", (key[0] or "public", key[1])), (i, ev))
            else:
                first.setdefault((ev.kind, key), (i, ev))
    needs: list[tuple[int, Need]] = []
    dead: set[int] = set()
    """Units whose statement does nothing (CREATE TABLE IF NOT EXISTS over an existing table,
    checked before anything else in it) or fails (a plain CREATE of an existing object): what
    the rest of the statement needs no longer matters."""
    for i, ev in enumerate(events):
        if id(ev.unit) in dead:
            continue
        try:
            if ev.op == "need":
                n = _need(ev, i, sim, cat, first)
                if n is not None:
                    needs.append((i, n))
                continue
            found = _apply(ev, sim, cat, i)
        except Exception as exc:  # an odd shape: this one object is not judged, say so
            needs.append((i, _mk(ev, ev.kind, str(ev.key), "unknown",
                                 f"not judged ({type(exc).__name__})")))
            continue
        needs += [(i, n) for n in found]
        if ev.op == "create" and ev.kind == "relation":
            now = sim.rel(ev.key)[1]
            if found or now is None or now.origin != _origin(ev):
                dead.add(id(ev.unit))
    # A skipped IF NOT EXISTS is judged at the end of the run: a later ALTER TABLE ... ADD
    # COLUMN IF NOT EXISTS (the usual way to complete an older shape) makes the columns appear.
    for sh in sim.shapes:
        text = _shape_text(sh)
        if text:
            ev = sh["ev"]
            needs.append((sh["i"], _mk(ev, sh["kind"], sh["name"], "skipped", text, sh["fix"])))
    needs.sort(key=lambda t: t[0])
    return [n for _, n in needs]


def _later(kind: str, key: Any, i: int, first: dict[tuple[str, Any], tuple[int, _Ev]]
           ) -> _Ev | None:
    cands: list[Any] = [key]
    if kind in ("relation", "function", "type") and key[0] is None:
        cands = [("public", key[1]), ("pg_temp", key[1])]
    for c in cands:
        hit = first.get((kind, c))
        if hit is not None and hit[0] > i:
            return hit[1]
    return None


def visible(text: str) -> str:
    """A name as it can be shown on one line: control characters (a newline in a quoted
    identifier) escaped."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\n" if m.group() == "\n"
                  else f"\\x{ord(m.group()):02x}", text)


def _mk(ev: _Ev, kind: str, name: str, state: str, detail: str | None = None,
        fix: str | None = None) -> Need:
    return Need(kind, visible(name), ev.unit.file, ev.line, ev.unit.statement,
                visible(ev.context), state, visible(detail) if detail else None,
                visible(fix) if fix else None)


def _provider(kind: str, name: str) -> str | None:
    for ext, provides in EXTENSION_PROVIDES.items():
        if name in provides.get(kind, set()):
            return ext
    return None


def _missing(ev: _Ev, kind: str, name: str, i: int, key: Any, sim: _Sim, cat: Catalog,
             first: dict[tuple[str, Any], tuple[int, _Ev]], detail: str | None = None,
             fix: str | None = None) -> Need:
    """A need the catalog and the earlier statements do not meet."""
    guard = ev.unit.guard(CATCH_MISSING)
    later = _later(kind, key, i, first)
    d: str | None
    if later is not None:
        d = (f"only {later.unit.file} line {later.line} creates it, and that runs after this "
             "statement (files run in numeric version order)")
        state = "later"
    else:
        d, state = detail, "missing"
    if guard:
        return _mk(ev, kind, name, "guarded", f"{guard}; {d}" if d else guard, fix)
    return _mk(ev, kind, name, state, d, fix)


def _ext_fix(ext: str) -> str:
    return f'CREATE EXTENSION IF NOT EXISTS "{ext}"' if "-" in ext else \
        f"CREATE EXTENSION IF NOT EXISTS {ext}"


def _need(ev: _Ev, i: int, sim: _Sim, cat: Catalog,
          first: dict[tuple[str, Any], tuple[int, _Ev]]) -> Need | None:
    k = ev.kind
    if k == "schema":
        where = sim.obj("schema", ev.key)
        if where:
            return _mk(ev, k, ev.key, "earlier", where)
        if where == "" and ev.key in cat.schemas:
            return _mk(ev, k, ev.key, "exists")
        return _missing(ev, k, ev.key, i, ev.key, sim, cat, first,
                        fix=f"CREATE SCHEMA {_qi(ev.key)} (or the file that creates it)")
    if k == "role":
        where = sim.obj("role", ev.key)
        if where:
            return _mk(ev, k, ev.key, "earlier", where)
        if where == "" and ev.key in cat.roles:
            return _mk(ev, k, ev.key, "exists")
        return _missing(ev, k, ev.key, i, ev.key, sim, cat, first,
                        "roles are cluster-wide: create it once, as a superuser",
                        f"CREATE ROLE {_qi(ev.key)} NOLOGIN (or the role your Hasura uses)")
    if k in ("function", "type"):
        s, n = ev.key
        name = f"{s}.{n}" if s else n
        label = name + "()" if k == "function" else name
        where = sim.obj(k, ev.key)
        if where:
            return _mk(ev, k, label, "earlier", where)
        row = (cat.functions if k == "function" else cat.types).get(ev.key)
        found = bool(row and (row.get("found") if k == "function" else row.get("oid")))
        if where == "" and found:
            return _mk(ev, k, label, "exists")
        ext = _provider(k, n)
        if ext and sim.extension_created(ext):
            return _mk(ev, k, label, "earlier", f"by CREATE EXTENSION {ext} "
                       f"({sim.extension_created(ext)})")
        created_exts = [e for (kind, e), w in sim.objs.items() if kind == "extension" and w]
        unknown = [e for e in created_exts if e not in EXTENSION_PROVIDES]
        if unknown and not ext:
            return _mk(ev, k, label, "unknown", "not in the database now; it may come from "
                       f"extension {', '.join(unknown)}, created earlier in this run")
        detail, fix = None, None
        if s and s not in cat.schemas and not sim.obj("schema", s):
            detail = f"schema {s} does not exist either"
        if ext:
            inst = cat.extensions.get(ext, {})
            detail = (f"extension {ext} provides it, and it is not installed here"
                      if not inst.get("installed") else
                      f"extension {ext} provides it; it is installed in schema "
                      f"{inst.get('schema')}, which is not on the search_path")
            fix = _ext_fix(ext)
        elif row and row.get("elsewhere"):
            detail = (detail + "; " if detail else "") + \
                f"one exists in schema {', '.join(row['elsewhere'])} (not on the search_path)"
        return _missing(ev, k, label, i, ev.key, sim, cat, first, detail, fix)
    if k == "relation":
        s, n = ev.key
        name = f"{s}.{n}" if s else n
        state, r, _rk = sim.rel(ev.key)
        if state == "earlier":
            return _mk(ev, k, name, "earlier", r.origin if r else None)
        if state == "exists":
            return _mk(ev, k, name, "exists")
        row = cat.relations.get(_written(*ev.key)) or {}
        detail = None
        if s and s not in cat.schemas and not sim.obj("schema", s):
            detail = f"schema {s} does not exist either"
        elif row.get("elsewhere"):
            detail = f"a relation {n} exists in schema {', '.join(row['elsewhere'])}, " \
                     "which an unqualified name does not reach"
        ext = _provider("relation", n)
        fix = _ext_fix(ext) if ext else None
        return _missing(ev, k, name, i, ev.key, sim, cat, first, detail, fix)
    if k == "column":
        table, col = ev.key
        state, r, _rk = sim.rel(table)
        if r is None or r.columns is None:
            return None  # the table's own need says it; a view's columns are not tracked
        if col in r.columns:
            return None
        tname = f"{table[0]}.{table[1]}" if table[0] else table[1]
        origin = "the table as it is now" if r.origin == "catalog" else f"the table as " \
                 f"{r.origin} creates it"
        return _missing(ev, k, f"{tname}.{col}", i, ("column", tname, col), sim, cat, first,
                        f"{origin} has no column {col}")
    if k == "default operator class":
        am, table, col = ev.key
        state, r, _rk = sim.rel(table)
        if r is None or r.columns is None or col not in r.columns:
            return None
        c = r.columns[col]
        oid = c.oid if c.oid is not None else sim.type_oid(c.type)
        if oid is None:
            return None  # a type this run creates: not checked
        row = cat.default_opclass.get((am, oid))
        if row is None or row.get("found") or not row.get("method_exists", True):
            return None
        ext = DEFAULT_OPCLASS_EXTENSIONS.get(am)
        tname = f"{table[0]}.{table[1]}" if table[0] else table[1]
        label = f"for {row.get('type') or c.type} in {am} (column {tname}.{col})"
        if ext and sim.extension_created(ext):
            return _mk(ev, k, label, "earlier", f"by CREATE EXTENSION {ext} "
                       f"({sim.extension_created(ext)})")
        detail = f"{row.get('type') or c.type} has no default {am} operator class here"
        fix = None
        if ext:
            inst = cat.extensions.get(ext, {})
            if inst.get("installed"):
                return None
            detail += f"; extension {ext} provides one" + \
                ("" if inst.get("available") else " (not available on this server)")
            fix = _ext_fix(ext) + " before this index, or name an operator class"
        return _missing(ev, k, label, i, ("default operator class", am, oid), sim, cat, first,
                        detail, fix)
    if k == "operator class":
        am, s, n = ev.key
        label = f"{n} ({am})"
        ext = _provider("operator class", n)
        if ext and sim.extension_created(ext):
            return _mk(ev, k, label, "earlier", f"by CREATE EXTENSION {ext} "
                       f"({sim.extension_created(ext)})")
        if cat.opclasses.get((n, am)):
            return _mk(ev, k, label, "exists")
        return _missing(ev, k, label, i, ("operator class", n), sim, cat, first,
                        f"extension {ext} provides it" if ext else None,
                        _ext_fix(ext) if ext else None)
    return None


def _apply(ev: _Ev, sim: _Sim, cat: Catalog, i: int = 0) -> list[Need]:
    """Apply one change to the simulated database; report shapes and conflicts it meets."""
    out: list[Need] = []
    k, key, d = ev.kind, ev.key, ev.data or {}
    if ev.op == "create" and k == "relation":
        _state, r, _rk = sim.rel(key)
        name = f"{key[0]}.{key[1]}" if key[0] != "public" else key[1]
        if r is not None and not d.get("replace"):
            where = "exists now" if r.origin == "catalog" else f"is created earlier by {r.origin}"
            if d.get("if_not_exists"):
                diff = _shape_diff(d, r, sim)
                if diff is not None:
                    sim.shapes.append({
                        **diff, "i": i, "ev": ev, "kind": "table shape", "name": name,
                        "rel": r, "head": f"CREATE TABLE IF NOT EXISTS is skipped: the table "
                                          f"{where} with another shape",
                        "fix": "compare the two definitions; ALTER TABLE the missing columns "
                               "in, or fix the file"})
                return out
            guard = ev.unit.guard(CATCH_DUPLICATE)
            out.append(_mk(ev, "relation", name, "guarded" if guard else "conflict",
                           f"{guard}; it {where}" if guard else f"it {where}: a plain CREATE "
                           "fails"))
            return out
        cols = None
        if d.get("columns") is not None:
            cols = {c: _Col(t, sim.type_oid(t)) for c, t in d["columns"].items()}
        sim.rels[(key[0] or "public", key[1])] = _Rel(cols, set(d.get("constraints") or []),
                                                      _origin(ev))
        sim.objs[("type", (key[0] or "public", key[1]))] = _origin(ev)
    elif ev.op == "create" and k == "index":
        # An index lives in its table's schema.
        _tstate, _tr, tk = sim.rel(d["table"])
        schema = key[0] or (tk[0] if tk else "public")
        r = sim.rel((schema, key[1]))[1]
        if r is not None:
            where = "exists now" if r.origin == "catalog" else f"is created earlier by {r.origin}"
            if d.get("if_not_exists"):
                same = _index_same(r, d, sim)
                if same is False:
                    out.append(_mk(ev, "index shape", key[1], "skipped",
                                   f"CREATE INDEX IF NOT EXISTS is skipped: an index of that "
                                   f"name {where} on {(r.index or {}).get('table')} "
                                   f"({', '.join((r.index or {}).get('columns') or ['?'])})",
                                   "drop or rename the old index, or rename this one"))
                return out
            guard = ev.unit.guard(CATCH_DUPLICATE)
            out.append(_mk(ev, "relation", key[1], "guarded" if guard else "conflict",
                           f"{guard}; it {where}" if guard else f"a relation of that name "
                           f"{where}: a plain CREATE INDEX fails"))
            return out
        sim.rels[(schema, key[1])] = _Rel(None, set(), _origin(ev),
                                          {"table": _written(*(tk or d["table"])),
                                           "columns": d.get("columns")})
    elif ev.op == "create" and k == "type":
        made = sim.obj("type", key)
        row = cat.types.get(key) or cat.types.get((None, key[1]) if key[0] == "public" else key)
        exists = bool(made) or (made == "" and row is not None and row.get("oid"))
        if exists:
            guard = ev.unit.guard(CATCH_DUPLICATE)
            labels = sim.type_labels.get(key) or (row or {}).get("labels")
            name = key[1] if key[0] == "public" else f"{key[0]}.{key[1]}"
            if d.get("enum") and labels is not None:
                lost = [x for x in d["labels"] if x not in labels]
                if lost and guard:
                    sim.shapes.append({
                        "i": i, "ev": ev, "kind": "enum labels", "name": name, "type": key,
                        "labels": lost, "missing": [], "retyped": {}, "lost_cons": [],
                        "extra": [], "rel": None,
                        "head": f"{guard}, so the CREATE TYPE is skipped: the type exists with "
                                f"labels ({', '.join(labels)})",
                        "fix": f"ALTER TYPE {_qi(key[1])} ADD VALUE ... for each"})
                    return out
            if guard:
                return out
            out.append(_mk(ev, "type", name, "conflict",
                           "it already exists: a plain CREATE TYPE fails"))
            return out
        sim.objs[("type", key)] = _origin(ev)
        if d.get("enum"):
            sim.type_labels[key] = list(d["labels"])
    elif ev.op == "create" and k in ("schema", "role", "extension", "function"):
        made = sim.obj(k, key)
        if k == "schema":
            exists = bool(made) or (made == "" and key in cat.schemas)
        elif k == "role":
            exists = bool(made) or (made == "" and key in cat.roles)
        elif k == "extension":
            row = cat.extensions.get(key, {})
            exists = bool(made) or (made == "" and bool(row.get("installed")))
            if not exists:
                problem = None
                if not row.get("available"):
                    problem = ("not available on this server: install the package that ships "
                               "it (for contrib: the postgresql-contrib package)")
                elif not row.get("is_superuser") and not row.get("trusted"):
                    problem = ("this user is not a superuser and the extension is not trusted: "
                               "a superuser must create it")
                if problem:
                    guard = ev.unit.guard(CATCH_MISSING | {"insufficient_privilege"})
                    out.append(_mk(ev, "extension", key, "guarded" if guard else "missing",
                                   problem, _ext_fix(key)))
        else:
            exists = False  # CREATE FUNCTION without OR REPLACE over another overload is fine
        if exists and k != "function" and not d.get("if_not_exists"):
            guard = ev.unit.guard(CATCH_DUPLICATE)
            out.append(_mk(ev, k, key, "guarded" if guard else "conflict",
                           guard if guard else "it already exists: a plain CREATE fails"))
        if not exists:
            sim.objs[(k, key)] = _origin(ev)
    elif ev.op == "drop":
        if k == "relation":
            _state, _r, rk = sim.rel(key)
            if rk is not None:
                sim.rels[rk] = None
        else:
            kk = key if k not in ("function", "type") else (key[0] or "public", key[1])
            sim.objs[(k, kk)] = None
    elif ev.op == "add-column":
        table, col = key
        r = sim.touch(table)
        if r is None or r.columns is None:
            return out
        t = d.get("type")
        if col in r.columns and not d.get("retype"):
            if d.get("if_not_exists"):
                old = r.columns[col]
                new_oid = sim.type_oid(t)
                if old.oid is not None and new_oid is not None and old.oid != new_oid:
                    tname = f"{table[0]}.{table[1]}" if table[0] else table[1]
                    out.append(_mk(ev, "column shape", f"{tname}.{col}", "skipped",
                                   f"ADD COLUMN IF NOT EXISTS is skipped: the column exists as "
                                   f"{old.type}, the file adds it as {sim.type_display(t)}"))
            return out
        r.columns[col] = _Col(t, sim.type_oid(t))
        for sh in sim.shapes:
            if sh["rel"] is r:
                if col in sh["missing"]:
                    sh["missing"].remove(col)
                want = sh["retyped"].get(col)
                if want is not None and sim.type_oid(want[1]) == sim.type_oid(t):
                    del sh["retyped"][col]
    elif ev.op == "add-constraint":
        _state, r, _rk = sim.rel(key)
        if r is not None:
            r.constraints.add(str(d))
            for sh in sim.shapes:
                if sh["rel"] is r and d in sh["lost_cons"]:
                    sh["lost_cons"].remove(d)
    elif ev.op == "add-label":
        for sh in sim.shapes:
            if sh.get("type") in (key, ("public", key[1]) if key[0] is None else key) \
                    and d in sh["labels"]:
                sh["labels"].remove(d)
    elif ev.op == "drop-column":
        table, col = key
        r = sim.touch(table)
        if r is not None and r.columns is not None:
            r.columns.pop(col, None)
    elif ev.op == "rename-col":
        table, col = key
        r = sim.touch(table)
        if r is not None and r.columns is not None and col in r.columns:
            r.columns[str(d)] = r.columns.pop(col)
    elif ev.op == "rename-rel":
        _state, r, rk = sim.rel(key)
        if r is not None and rk is not None:
            sim.rels[rk] = None
            sim.rels[(rk[0], d[1])] = r
    return out


def _shape_diff(d: dict[str, Any], r: _Rel, sim: _Sim) -> dict[str, Any] | None:
    """How a CREATE TABLE IF NOT EXISTS differs from the table that exists (None if it does
    not): columns it declares that the table lacks, columns of another type, named
    constraints the table lacks, and the table's own extra columns."""
    if r.columns is None or d.get("columns") is None:
        return None
    mine = d["columns"]
    missing = [c for c in mine if c not in r.columns]
    retyped: dict[str, tuple[str, str | None, str]] = {}
    for c, t in mine.items():
        if c in r.columns:
            a, b = sim.type_oid(t), r.columns[c].oid
            if b is None:
                b = sim.type_oid(r.columns[c].type)
            if a is not None and b is not None and a != b:
                retyped[c] = (str(r.columns[c].type), t, sim.type_display(t))
    lost_cons = [c for c in d.get("constraints") or [] if c not in r.constraints]
    if not (missing or retyped or lost_cons):
        return None
    return {"missing": missing, "retyped": retyped, "lost_cons": lost_cons,
            "extra": [c for c in r.columns if c not in mine]}


def _shape_text(sh: dict[str, Any]) -> str:
    """What is still missing of a skipped IF NOT EXISTS at the end of the run ("" if nothing)."""
    parts = []
    if sh["missing"]:
        parts.append(f"its columns {', '.join(sh['missing'])} never appear")
    if sh["retyped"]:
        parts.append("; ".join(f"{c} is {there} there, {shown} here"
                               for c, (there, _t, shown) in sh["retyped"].items()))
    if sh["lost_cons"]:
        parts.append(f"its constraints {', '.join(sh['lost_cons'])} never appear")
    if sh.get("labels"):
        parts.append(f"the file's labels {', '.join(sh['labels'])} never appear")
    if not parts:
        return ""
    extra = sh.get("extra") or []
    if extra and (sh["missing"] or sh["retyped"]):
        parts.append(f"the existing table has {', '.join(extra[:8])}"
                     + (f" and {len(extra) - 8} more" if len(extra) > 8 else "") + " instead")
    return f"{sh['head']}: " + "; ".join(parts)


def _index_same(r: _Rel, d: dict[str, Any], sim: _Sim) -> bool | None:
    if not r.index:
        return None
    _s, _tr, tk = sim.rel(d["table"])
    if tk is None:
        return None
    want_table = _written(*tk)
    if r.index.get("table") not in (want_table, f"public.{want_table}",
                                    want_table.removeprefix("public.")):
        return False
    a, b = r.index.get("columns"), d.get("columns")
    if a is None or b is None:
        return None
    return list(a) == list(b)


def run_preflight(conn: psycopg.Connection[Any], files: list[tuple[str, str]]) -> Preflight:
    """The preflight of ``files`` (name, text, in run order) against the database of ``conn``."""
    events, unchecked = extract(files)
    cat = read_catalog(conn, events)
    return Preflight(needs=resolve(events, cat), files=[f for f, _ in files], unchecked=unchecked)


def catalog_gate(runner: Any, conn: psycopg.Connection[Any], files: list[Any]) -> Preflight:
    """The runner's gate before it runs anything: refuse (``Refused``, exit 3) while the files
    need objects the database lacks, unless the operator confirms (``confirm_preflight``) or
    gave a reason (``RunOptions.accept_preflight``); both are journaled. On a scratch copy
    (``gate=False``: the rehearsal) the problems are only reported: there the files run for
    real to show what fails."""
    pf = run_preflight(conn, [(f.name, f.text()) for f in files])
    lines = pf.lines()
    journal, run_id = runner.journal, runner.run_id
    if not lines:
        if journal is not None:
            journal.append("migrate_preflight_passed", run_id=run_id, files=pf.files,
                           guarded=len(pf.guarded()),
                           unchecked=[asdict(u) for u in pf.unchecked])
        return pf
    if journal is not None:
        journal.append("migrate_preflight_problems", run_id=run_id, problems=lines)
    if not runner.opt.gate:
        # A scratch copy we made (the rehearsal): running the files for real is the point.
        runner.result.warnings.append("preflight: " + "; ".join(lines))
        return pf
    reason = (runner.opt.accept_preflight or "").strip()
    if reason:
        if journal is not None:
            journal.append("migrate_preflight_override", run_id=run_id, reason=reason)
        runner.result.warnings.append(f"preflight overridden ({reason}): " + "; ".join(lines))
        return pf
    ask = runner.cb.confirm_preflight
    if ask is not None and ask(lines):
        if journal is not None:
            journal.append("migrate_preflight_confirmed", run_id=run_id)
        runner.result.warnings.append("preflight problems confirmed: " + "; ".join(lines))
        return pf
    if journal is not None:
        journal.append("migrate_refused_by_preflight", run_id=run_id, problems=lines)
    raise Refused(f"refused, nothing was run: the files need {len(lines)} object(s) this "
                  "database lacks: " + "; ".join(lines),
                  "create them first (`nchat-tui plan` names each with its file and line), or "
                  "run anyway with --accept-preflight \"REASON\"")
