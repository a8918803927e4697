"""What a PL/pgSQL body runs, read with PostgreSQL's own PL/pgSQL parser (pglast.parse_plpgsql).

A ``DO`` block runs while the migration runs: the SQL inside it takes locks, rewrites tables
and needs objects exactly as if it stood in the file. A function body runs later, whenever the
function is called. Either way the text between the dollar quotes is opaque to the SQL parser;
this module reads it and returns, with the line each sits on in the file:

- ``statements``: every SQL statement the body runs: static statements, and ``EXECUTE`` of a
  constant string (``EXECUTE 'GRANT ... TO x'``), with the control structure around it (an
  ``IF``, a ``CASE``, a loop, a block whose ``EXCEPTION`` clause catches errors);
- ``dynamic``: every ``EXECUTE`` (and ``FOR ... IN EXECUTE``, ``RETURN QUERY EXECUTE``,
  ``OPEN ... FOR EXECUTE``) of a string built at run time: what it does cannot be known from
  the text, and callers must say so on the statement;
- ``expressions``: the other expressions the body evaluates (conditions, assignments,
  ``PERFORM``), as SQL, for the functions and relations they need.

Pure: no database access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast

# Exception conditions that catch "the object is missing" errors (42704, 42883, 42P01, 3F000).
CATCHES_MISSING = {"others", "undefined_object", "undefined_function", "undefined_table",
                   "invalid_schema_name", "syntax_error_or_access_rule_violation"}
DYNAMIC_KINDS = {
    "PLpgSQL_stmt_dynexecute": ("query", "EXECUTE"),
    "PLpgSQL_stmt_dynfors": ("query", "FOR ... IN EXECUTE"),
    "PLpgSQL_stmt_return_query": ("dynquery", "RETURN QUERY EXECUTE"),
    "PLpgSQL_stmt_open": ("dynquery", "OPEN ... FOR EXECUTE"),
}
ASSIGN = re.compile(r"^\s*[^:=]+?\s*:?=\s*", re.S)


@dataclass
class Context:
    """The control structure around a statement of a body."""

    kind: str
    """``IF``, ``CASE``, ``loop``, ``exception block``"""
    line: int
    catches: tuple[str, ...] = ()
    """For an exception block: the condition names its handlers catch."""

    def describe(self) -> str:
        if self.kind == "exception block":
            return f"inside a block whose EXCEPTION clause (line {self.line}) catches " \
                   + ", ".join(self.catches)
        return f"inside the {self.kind} at line {self.line}"


@dataclass
class BodyStatement:
    line: int
    """The line of the statement's first token in the file."""
    sql: str
    how: str
    """``static`` or ``execute-literal`` (EXECUTE of a constant string)."""
    context: list[Context] = field(default_factory=list)

    @property
    def conditional(self) -> bool:
        """True when the statement may not run (IF, CASE) or its failure is caught."""
        return any(c.kind in ("IF", "CASE") or (c.kind == "exception block" and
                                                 CATCHES_MISSING & set(c.catches))
                   for c in self.context)

    def where(self) -> str:
        return "; ".join(c.describe() for c in self.context)


@dataclass
class DynamicSql:
    line: int
    expr: str
    """The expression whose value is executed, as written (``format('...', t)``)."""
    form: str
    """``EXECUTE``, ``FOR ... IN EXECUTE``, ..."""


@dataclass
class Expression:
    line: int
    sql: str
    """A parseable SQL statement (``SELECT <expression>`` for a bare expression)."""
    context: list[Context] = field(default_factory=list)

    @property
    def conditional(self) -> bool:
        return BodyStatement(self.line, self.sql, "static", self.context).conditional


@dataclass
class Body:
    statements: list[BodyStatement] = field(default_factory=list)
    dynamic: list[DynamicSql] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    error: str | None = None
    """Why the body could not be read (not PL/pgSQL, a parse error), or None."""


def _defs(options: Any) -> dict[str, Any]:
    return {str(getattr(o, "defname", "")): getattr(o, "arg", None) for o in options or ()}


def do_body(node: ast.DoStmt) -> tuple[str | None, str]:
    """(body text, language) of a DO statement."""
    d = _defs(node.args)
    body = d.get("as")
    lang = d.get("language")
    return (getattr(body, "sval", None),
            (getattr(lang, "sval", None) or "plpgsql").lower())


def function_body(node: ast.CreateFunctionStmt) -> tuple[str | None, str]:
    """(body text, language) of a CREATE FUNCTION/PROCEDURE (None for a C function or a
    BEGIN ATOMIC body, which the SQL parser already read)."""
    d = _defs(node.options)
    lang = (getattr(d.get("language"), "sval", None) or "sql").lower()
    body = d.get("as")
    if isinstance(body, tuple | list):
        if len(body) != 1:  # C: (object file, link symbol)
            return None, lang
        body = body[0]
    return getattr(body, "sval", None), lang


def body_line(text: str, stmt_start: int, stmt_sql: str, body: str) -> int:
    """The file line the body's first character sits on (its opening dollar quote's line)."""
    at = stmt_sql.find(body)
    if at < 0:  # a single-quoted body with doubled quotes: fall back to the statement's line
        at = 0
    return text.count("\n", 0, stmt_start + at) + 1


def _query(expr: Any) -> str | None:
    if isinstance(expr, dict):
        e = expr.get("PLpgSQL_expr")
        if isinstance(e, dict):
            q = e.get("query")
            return q if isinstance(q, str) else None
    return None


def _mode(expr: Any) -> int:
    if isinstance(expr, dict) and isinstance(expr.get("PLpgSQL_expr"), dict):
        return int(expr["PLpgSQL_expr"].get("parseMode") or 0)
    return 0


def as_statement(query: str, mode: int) -> str:
    """A PL/pgSQL expression as a statement the SQL parser reads."""
    if mode == 0:
        return query
    if mode >= 3:  # an assignment target := expression
        return "SELECT " + ASSIGN.sub("", query, count=1)
    return "SELECT " + query


def lone_expression(expr: str) -> ast.Node | None:
    """The parse tree of one SQL expression (read as ``SELECT expr``), or None when the text
    is not exactly one expression. Nothing runs."""
    try:
        stmts = pglast.parse_sql("SELECT " + expr)
    except pglast.parser.ParseError:
        return None
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.SelectStmt):
        return None
    targets = stmts[0].stmt.targetList or ()
    if len(targets) != 1:
        return None
    node: ast.Node = targets[0].val
    return node


def literal_string(expr: str) -> str | None:
    """The value of a constant string expression (``'GRANT ...'``, ``E'...'``, ``$x$...$x$``),
    or None when the string is built at run time."""
    val = lone_expression(expr)
    if isinstance(val, ast.A_Const) and isinstance(val.val, ast.String):
        return str(val.val.sval)
    return None


def read_plpgsql(body: str, first_line: int = 1) -> Body:
    """Read a PL/pgSQL body; ``first_line`` is the file line its first character sits on."""
    tag = "nchat_tui_body"
    while f"${tag}$" in body:
        tag += "_"
    try:
        tree = pglast.parse_plpgsql(f"CREATE FUNCTION nchat_tui_body() RETURNS void AS ${tag}$"
                                    f"{body}${tag}$ LANGUAGE plpgsql")
    except Exception as exc:  # the PL/pgSQL parser's own error, said as it is
        msg = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
        return Body(error=f"the PL/pgSQL parser rejects the body: {msg}")
    out = Body()
    _walk(tree, [], out, first_line - 1)
    return out


def _walk(node: Any, ctx: list[Context], out: Body, base: int) -> None:
    if isinstance(node, list):
        for x in node:
            _walk(x, ctx, out, base)
        return
    if not isinstance(node, dict):
        return
    for kind, v in node.items():
        if not isinstance(v, dict):
            _walk(v, ctx, out, base)
            continue
        line = base + int(v.get("lineno") or 1)
        if kind == "PLpgSQL_stmt_execsql":
            q = _query(v.get("sqlstmt"))
            if q:
                out.statements.append(BodyStatement(line, q, "static", list(ctx)))
            continue
        if kind in DYNAMIC_KINDS:
            key, form = DYNAMIC_KINDS[kind]
            q = _query(v.get(key))
            if q is None:  # RETURN QUERY SELECT ..., OPEN ... FOR SELECT: a static query
                q2 = _query(v.get("query"))
                if q2:
                    out.expressions.append(Expression(line, as_statement(q2, _mode(v.get("query"))),
                                                      list(ctx)))
                _walk({k: x for k, x in v.items() if k not in ("query", key)}, ctx, out, base)
                continue
            lit = literal_string(q)
            if lit is not None and kind == "PLpgSQL_stmt_dynexecute":
                out.statements.append(BodyStatement(line, lit, "execute-literal", list(ctx)))
            else:
                out.dynamic.append(DynamicSql(line, q, form))
            inner = [Context("loop", line)] if kind == "PLpgSQL_stmt_dynfors" else []
            _walk(v.get("body"), ctx + inner, out, base)
            continue
        if kind == "PLpgSQL_stmt_if":
            _expr(v.get("cond"), line, ctx, out)
            here = [*ctx, Context("IF", line)]
            _walk(v.get("then_body"), here, out, base)
            for e in v.get("elsif_list") or ():
                ei = e.get("PLpgSQL_if_elsif", {}) if isinstance(e, dict) else {}
                _expr(ei.get("cond"), base + int(ei.get("lineno") or 1) if ei else line, ctx, out)
                _walk(ei.get("stmts"), here, out, base)
            _walk(v.get("else_body"), here, out, base)
            continue
        if kind == "PLpgSQL_stmt_case":
            _expr(v.get("t_expr"), line, ctx, out)
            here = [*ctx, Context("CASE", line)]
            for w in v.get("case_when_list") or ():
                wi = w.get("PLpgSQL_case_when", {}) if isinstance(w, dict) else {}
                _expr(wi.get("expr"), line, ctx, out)
                _walk(wi.get("stmts"), here, out, base)
            _walk(v.get("else_stmts"), here, out, base)
            continue
        if kind in ("PLpgSQL_stmt_loop", "PLpgSQL_stmt_while", "PLpgSQL_stmt_fori",
                    "PLpgSQL_stmt_fors", "PLpgSQL_stmt_foreach_a", "PLpgSQL_stmt_forc"):
            for key in ("cond", "lower", "upper", "step", "query", "expr"):
                _expr(v.get(key), line, ctx, out)
            _walk(v.get("body"), [*ctx, Context("loop", line)], out, base)
            continue
        if kind == "PLpgSQL_stmt_block":
            exc = v.get("exceptions") or {}
            eb = exc.get("PLpgSQL_exception_block", {}) if isinstance(exc, dict) else {}
            handlers = [h.get("PLpgSQL_exception", {}) for h in eb.get("exc_list") or ()
                        if isinstance(h, dict)]
            names = tuple(c.get("PLpgSQL_condition", {}).get("condname", "?")
                          for h in handlers for c in h.get("conditions") or ()
                          if isinstance(c, dict))
            inner = [*ctx, Context("exception block", line, names)] if handlers else ctx
            _walk(v.get("body"), inner, out, base)
            for h in handlers:
                _walk(h.get("action"), ctx, out, base)
            continue
        # Anything else: collect its expressions (PERFORM, assignments, RETURN, RAISE args,
        # EXIT WHEN, ...) and walk nested statements.
        for x in v.values():
            if _query(x) is not None:
                _expr(x, line, ctx, out)
            elif isinstance(x, list | dict):
                _walk(x, ctx, out, base)


def _expr(expr: Any, line: int, ctx: list[Context], out: Body) -> None:
    q = _query(expr)
    if q:
        out.expressions.append(Expression(line, as_statement(q, _mode(expr)), list(ctx)))
