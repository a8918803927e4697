"""What a set of migration files creates, alters, drops and deletes, read from their own DDL.

The post-migration verification must not trust a hand-written list of "expected objects": it
parses the applied files with PostgreSQL's own parser (``pglast``) and derives the objects each
statement creates or removes, the tables it alters, the tables whose rows it deletes and the
foreign keys it declares with their delete rules. Statements whose effects cannot be read from
the text (``DO`` blocks, ``EXECUTE`` in functions) are listed as opaque so the operator knows
what the tool could not account for. Unqualified names are taken to be in ``public`` (the
search_path nChat's migrations run with). This module only reads text: no database access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from nchat_tui.migrate.plpgsql import do_body, read_plpgsql
from nchat_tui.pg.objkeys import ident, key, split_key

CATEGORIES = ("schemas", "tables", "columns", "indexes", "constraints", "functions",
              "triggers", "views", "sequences", "enums", "extensions")
FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
              "d": "SET DEFAULT"}
DEFAULT_SCHEMA = "public"


def _rv(rv: Any) -> str:
    """The ``objkeys`` key of a RangeVar (public when unqualified)."""
    return key(str(rv.schemaname or DEFAULT_SCHEMA), str(rv.relname))


def _qual(names: Any) -> str:
    """The ``objkeys`` key of a qualified name list (public when unqualified)."""
    parts = [str(n.sval) for n in names or () if isinstance(n, ast.String)]
    if not parts:
        return "?"
    return key(parts[-2] if len(parts) > 1 else DEFAULT_SCHEMA, parts[-1])


def _sub(owner: str, name: str) -> str:
    """The key of ``name`` inside the object keyed ``owner`` (a column, constraint, trigger)."""
    return f"{owner}.{ident(name)}"


def _schema(owner: str) -> str:
    return split_key(owner)[0]


@dataclass
class ForeignKey:
    """A foreign key a migration declares."""

    table: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str
    name: str | None
    file: str


@dataclass
class Effects:
    """Everything the parsed files do, keyed the way ``snapshot.schema_inventory`` keys objects.

    ``creates[category][key] = file`` for objects that exist after the files ran (an object
    created then dropped by a later file is not there); ``drops`` likewise. Keys are
    ``objkeys`` keys (quoted where a part needs it): tables, views, indexes, sequences, enums
    ``schema.name``; columns, constraints, triggers ``schema.table.name``; functions
    ``schema.name`` (any arguments); extensions and schemas their name.
    """

    files: list[str] = field(default_factory=list)
    creates: dict[str, dict[str, str]] = field(
        default_factory=lambda: {c: {} for c in CATEGORIES})
    drops: dict[str, dict[str, str]] = field(
        default_factory=lambda: {c: {} for c in CATEGORIES})
    altered_tables: dict[str, str] = field(default_factory=dict)
    """Tables an ALTER TABLE (or CREATE/DROP INDEX, trigger, policy) changes: ``key -> file``."""
    created_tables: dict[str, str] = field(default_factory=dict)
    """Tables the files create (their implicit indexes, constraints, sequences are theirs)."""
    unnamed_on: dict[str, list[str]] = field(default_factory=dict)
    """Tables that get an unnamed index or constraint (the server names it): ``key -> [kind]``."""
    deletes_rows: dict[str, str] = field(default_factory=dict)
    """Tables whose rows a DELETE or TRUNCATE in the files removes."""
    enum_values: dict[str, list[str]] = field(default_factory=dict)
    """Labels added by ALTER TYPE ... ADD VALUE, by enum."""
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    opaque: list[dict[str, str]] = field(default_factory=list)
    """Statements whose effects the parser cannot see (DO blocks), with file and line."""
    parse_errors: list[dict[str, str]] = field(default_factory=list)

    def _create(self, cat: str, key: str, file: str) -> None:
        self.creates[cat][key] = file
        self.drops[cat].pop(key, None)

    def _drop(self, cat: str, key: str, file: str) -> None:
        if self.creates[cat].pop(key, None) is None:
            self.drops[cat][key] = file
        if cat == "tables":
            self.created_tables.pop(key, None)
            prefix = key + "."
            for c in ("columns", "constraints", "triggers"):
                for k in [k for k in self.creates[c] if k.startswith(prefix)]:
                    del self.creates[c][k]

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "creates": {c: dict(sorted(v.items())) for c, v in self.creates.items() if v},
            "drops": {c: dict(sorted(v.items())) for c, v in self.drops.items() if v},
            "altered_tables": dict(sorted(self.altered_tables.items())),
            "deletes_rows": dict(sorted(self.deletes_rows.items())),
            "enum_values": self.enum_values,
            "foreign_keys": [fk.__dict__ for fk in self.foreign_keys],
            "opaque": self.opaque,
            "parse_errors": self.parse_errors,
        }


def _line_at(text: str, offset: int) -> int:
    return text.encode()[:max(offset, 0)].count(b"\n") + 1


def analyse_files(files: list[tuple[str, str]]) -> Effects:
    """Effects of ``files`` (name, text) applied in the given order."""
    eff = Effects()
    for name, text in files:
        eff.files.append(name)
        try:
            stmts = pglast.parse_sql(text)
        except pglast.parser.ParseError as exc:
            eff.parse_errors.append({"file": name, "error": str(exc)})
            continue
        for raw in stmts:
            node = raw.stmt
            try:
                _effect(eff, node, name)
            except Exception as exc:  # an unusual node shape: say so, keep going
                eff.opaque.append({"file": name, "line": str(_line_at(text, raw.stmt_location or 0)),
                                   "statement": type(node).__name__,
                                   "why": f"not understood ({type(exc).__name__})"})
            if isinstance(node, ast.DoStmt):
                why = _do_block(eff, node, name)
                if why:
                    eff.opaque.append({"file": name,
                                       "line": str(_line_at(text, raw.stmt_location or 0)),
                                       "statement": "DO block", "why": why})
    return eff


def _do_block(eff: Effects, node: Any, file: str) -> str | None:
    """Apply the SQL inside a DO block (static statements and EXECUTE of a constant string,
    read with the PL/pgSQL parser); say why some of it stays opaque, or None."""
    body, lang = do_body(node)
    if body is None:
        return "a DO block without a body the parser can read"
    if lang != "plpgsql":
        return f"a DO block in language {lang}"
    pb = read_plpgsql(body)
    if pb.error:
        return "procedural code the parser cannot read"
    for bs in pb.statements:
        try:
            for raw in pglast.parse_sql(bs.sql):
                _effect(eff, raw.stmt, file)
        except Exception:
            return "a statement inside the DO block could not be parsed"
    if pb.dynamic:
        return "dynamic SQL (EXECUTE of a string built at run time): its effects are not " \
               "visible to the parser"
    return None


def _column(eff: Effects, table: str, cd: Any, file: str, serial_seq: bool) -> None:
    eff._create("columns", _sub(table, cd.colname), file)
    schema, tname = split_key(table)
    type_name = cd.typeName.names[-1].sval if cd.typeName and cd.typeName.names else ""
    if serial_seq and type_name in ("serial", "bigserial", "smallserial", "serial4",
                                    "serial8", "serial2"):
        eff._create("sequences", key(schema, f"{tname}_{cd.colname}_seq"), file)
    for con in cd.constraints or ():
        if con.contype == ConstrType.CONSTR_IDENTITY:
            eff._create("sequences", key(schema, f"{tname}_{cd.colname}_seq"), file)
        _constraint(eff, table, con, file, columns=[cd.colname])


def _constraint(eff: Effects, table: str, con: Any, file: str,
                columns: list[str] | None = None) -> None:
    kinds = {ConstrType.CONSTR_PRIMARY: "primary key", ConstrType.CONSTR_UNIQUE: "unique",
             ConstrType.CONSTR_FOREIGN: "foreign key", ConstrType.CONSTR_CHECK: "check",
             ConstrType.CONSTR_EXCLUSION: "exclusion"}
    kind = kinds.get(con.contype)
    if kind is None:  # NOT NULL, DEFAULT, ... are column properties
        return
    if con.conname:
        eff._create("constraints", _sub(table, con.conname), file)
        if con.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE,
                           ConstrType.CONSTR_EXCLUSION):
            eff._create("indexes", key(_schema(table), con.indexname or con.conname), file)
    else:
        eff.unnamed_on.setdefault(table, []).append(kind)
    if con.contype == ConstrType.CONSTR_FOREIGN:
        fk_cols = [a.sval for a in con.fk_attrs or ()] or list(columns or [])
        eff.foreign_keys.append(ForeignKey(
            table=table, columns=fk_cols, ref_table=_rv(con.pktable),
            ref_columns=[a.sval for a in con.pk_attrs or ()],
            on_delete=FK_ACTIONS.get(con.fk_del_action, con.fk_del_action),
            name=con.conname, file=file))


def _effect(eff: Effects, node: Any, file: str) -> None:
    if isinstance(node, ast.CreateStmt):
        table = _rv(node.relation)
        eff._create("tables", table, file)
        eff.created_tables[table] = file
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                _column(eff, table, elt, file, serial_seq=True)
            elif isinstance(elt, ast.Constraint):
                _constraint(eff, table, elt, file)
    elif isinstance(node, ast.AlterTableStmt):
        table = _rv(node.relation)
        kind = node.objtype
        if kind in (ObjectType.OBJECT_INDEX,):
            return
        eff.altered_tables.setdefault(table, file)
        for cmd in node.cmds or ():
            st = cmd.subtype
            if st == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                _column(eff, table, cmd.def_, file, serial_seq=True)
            elif st == AlterTableType.AT_DropColumn:
                eff._drop("columns", _sub(table, cmd.name), file)
            elif st == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
                _constraint(eff, table, cmd.def_, file)
            elif st == AlterTableType.AT_DropConstraint:
                eff._drop("constraints", _sub(table, cmd.name), file)
    elif isinstance(node, ast.IndexStmt):
        table = _rv(node.relation)
        eff.altered_tables.setdefault(table, file)
        if node.idxname:
            eff._create("indexes", key(_schema(table), node.idxname), file)
        else:
            eff.unnamed_on.setdefault(table, []).append("index")
    elif isinstance(node, ast.CreateTableAsStmt):
        if node.into is None:
            return
        into = node.into.rel
        cat = "views" if node.objtype == ObjectType.OBJECT_MATVIEW else "tables"
        eff._create(cat, _rv(into), file)
        if cat == "tables":
            eff.created_tables[_rv(into)] = file
    elif isinstance(node, ast.ViewStmt):
        eff._create("views", _rv(node.view), file)
    elif isinstance(node, ast.CreateFunctionStmt):
        eff._create("functions", _qual(node.funcname), file)
    elif isinstance(node, ast.CreateTrigStmt):
        table = _rv(node.relation)
        eff._create("triggers", _sub(table, str(node.trigname)), file)
    elif isinstance(node, ast.CreateSeqStmt):
        eff._create("sequences", _rv(node.sequence), file)
    elif isinstance(node, ast.CreateEnumStmt):
        eff._create("enums", _qual(node.typeName), file)
    elif isinstance(node, ast.AlterEnumStmt):
        if node.newVal and not node.oldVal:
            eff.enum_values.setdefault(_qual(node.typeName), []).append(node.newVal)
    elif isinstance(node, ast.CreateExtensionStmt):
        eff._create("extensions", str(node.extname), file)
    elif isinstance(node, ast.CreateSchemaStmt):
        if node.schemaname:
            eff._create("schemas", node.schemaname, file)
    elif isinstance(node, ast.CreatePolicyStmt):
        eff.altered_tables.setdefault(_rv(node.table), file)
    elif isinstance(node, ast.DeleteStmt):
        eff.deletes_rows.setdefault(_rv(node.relation), file)
    elif isinstance(node, ast.TruncateStmt):
        for rv in node.relations or ():
            eff.deletes_rows.setdefault(_rv(rv), file)
    elif isinstance(node, ast.DropStmt):
        _drop_stmt(eff, node, file)
    elif isinstance(node, ast.RenameStmt):
        eff.opaque.append({"file": file, "line": "?", "statement": "RENAME",
                           "why": "a rename: the old name disappears and the new one appears"})


def _drop_stmt(eff: Effects, node: Any, file: str) -> None:
    cats = {ObjectType.OBJECT_TABLE: "tables", ObjectType.OBJECT_INDEX: "indexes",
            ObjectType.OBJECT_VIEW: "views", ObjectType.OBJECT_MATVIEW: "views",
            ObjectType.OBJECT_SEQUENCE: "sequences", ObjectType.OBJECT_TYPE: "enums",
            ObjectType.OBJECT_FUNCTION: "functions", ObjectType.OBJECT_TRIGGER: "triggers",
            ObjectType.OBJECT_EXTENSION: "extensions", ObjectType.OBJECT_SCHEMA: "schemas"}
    cat = cats.get(node.removeType)
    if cat is None:
        return
    for obj in node.objects or ():
        if cat in ("extensions", "schemas"):
            k = obj.sval if isinstance(obj, ast.String) else str(obj)
        elif cat == "functions":
            k = _qual(obj.objname)
        elif cat == "enums":
            k = _qual(obj.names if isinstance(obj, ast.TypeName) else obj)
        elif cat == "triggers":  # (schema?, table, trigger)
            parts = [n.sval for n in obj]
            table = _qual([ast.String(p) for p in parts[:-1]])
            k = _sub(table, parts[-1])
        else:
            k = _qual(obj)
        k = str(k)
        eff._drop(cat, k, file)
        if cat == "tables":
            eff.deletes_rows[k] = file
