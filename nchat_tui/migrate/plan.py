"""What a migration will do to this database, now: statements, locks, sizes, rewrites, lint.

Each pending file is split into statements with PostgreSQL's own parser (pglast, libpg_query),
never regular expressions. For every statement: the lock it takes and on which existing table,
that table's live size and row estimate (from the catalog: never waiting on a lock), whether it
rewrites the table or scans it under the lock, whether it cannot run inside a transaction block,
and lint findings in the spirit of squawk and strong_migrations, weighed by the live size. For
every file: how it controls transactions (which decides how the runner may run it), its sha256,
and drift of applied files against the checksum the Go ledger recorded.

``analyse_sql`` is pure (no database): the runner uses it to split and classify files.
``build_plan`` adds the live figures. Neither ever runs a statement of a migration.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from psycopg.rows import dict_row

from nchat_tui.migrate.discovery import Discovery, MigrationFile
from nchat_tui.migrate.ledger import DependencyLine, Ledger, describe_context, pending_context
from nchat_tui.migrate.plpgsql import BodyStatement, do_body, function_body, read_plpgsql
from nchat_tui.migrate.preflight import run_preflight
from nchat_tui.pg.queries import sql_text
from nchat_tui.state.safeio import read_text_utf8

if TYPE_CHECKING:
    from nchat_tui.migrate.preflight import Preflight

# PostgreSQL's table lock modes, weakest first.
LOCKS = ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
         "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"]
AE, SUE, SHARE, SRE = "ACCESS EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE"

# Size classes that weigh size-sensitive findings.
SMALL_ROWS, SMALL_BYTES = 10_000, 16 * 1024 * 1024
BIG_ROWS, BIG_BYTES = 1_000_000, 1024 * 1024 * 1024
SEVERITIES = ["info", "warn", "danger"]

# Used when a function cannot be looked up live (it is created by the same plan, say).
KNOWN_VOLATILE = {"gen_random_uuid", "uuid_generate_v4", "uuid_generate_v1", "random",
                  "clock_timestamp", "timeofday", "nextval", "txid_current"}
SERIAL_TYPES = {"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"}

AT = enums.AlterTableType
CT = enums.ConstrType
TK = enums.TransactionStmtKind
OT = enums.ObjectType


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if LOCKS.index(a) >= LOCKS.index(b) else b


def quote_ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def rv_name(rv: Any) -> str:
    """``schema.rel`` (quoted where needed) from a pglast RangeVar."""
    rel = quote_ident(rv.relname)
    return f"{quote_ident(rv.schemaname)}.{rel}" if getattr(rv, "schemaname", None) else rel


def _names(items: Any) -> list[str]:
    return [getattr(i, "sval", str(i)) for i in (items or ())]


@dataclass
class Finding:
    rule: str
    severity: str
    message: str
    statement: int | None = None
    line: int | None = None
    table: str | None = None
    size_sensitive: bool = False


@dataclass
class LockTarget:
    """One existing (or plan-created) relation a statement locks."""

    name: str
    lock: str
    role: str = "table"
    """``table``, ``referenced`` (a foreign key's target), ``index``."""
    exists: bool | None = None
    created_by_plan: bool = False
    qualified: str | None = None
    size_bytes: int | None = None
    row_estimate: int | None = None


class LockHeld(NamedTuple):
    """A lock a statement inside a body takes (JSON: ``[name, lock, role]``)."""

    name: str
    lock: str
    role: str


@dataclass
class BodyEntry:
    """One statement a DO block (or a function body) runs, read with the PL/pgSQL parser."""

    line: int
    """Its line in the migration file."""
    summary: str
    how: str
    """``static``, ``execute-literal`` (EXECUTE of a constant string) or ``dynamic`` (SQL
    built at run time: its text is the expression, never guessed)."""
    where: str | None
    """Inside what it runs (``IF ...``, a loop, an exception handler), None at the top."""
    kind: str
    locks: list[LockHeld]
    rewrite: str | None
    """Why it rewrites its table, None when it does not."""

    @classmethod
    def of(cls, sub: Statement, how: str, where: str | None) -> BodyEntry:
        return cls(sub.line, sub.summary, how, where or None, sub.kind,
                   [LockHeld(t.name, t.lock, t.role) for t in sub.targets],
                   sub.rewrite_reason if sub.rewrite else None)

    @classmethod
    def dynamic(cls, line: int, summary: str) -> BodyEntry:
        return cls(line, summary, "dynamic", None, "dynamic", [], None)


@dataclass
class Statement:
    index: int
    """1-based position in the file."""
    line: int
    end_line: int
    sql: str
    kind: str
    summary: str
    lock: str | None = None
    targets: list[LockTarget] = field(default_factory=list)
    rewrite: bool = False
    rewrite_reason: str | None = None
    scan: bool = False
    non_transactional: bool = False
    non_transactional_reason: str | None = None
    transaction_control: str | None = None
    creates: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    """``table.column`` for every ADD COLUMN (for the rehearsal's expected-objects check)."""
    findings: list[Finding] = field(default_factory=list)
    volatile_candidates: list[str] = field(default_factory=list)
    if_not_exists_index: str | None = None
    enum_value_added: str | None = None
    function_refreshes: str | None = None
    """CREATE FUNCTION whose body runs REFRESH MATERIALIZED VIEW: the function's name."""
    trigger_function: str | None = None
    body: list[BodyEntry] = field(default_factory=list)
    """What a DO block (or a function body) runs, read with the PL/pgSQL parser: one entry per
    statement with its file line, summary, how it runs (``static``, ``execute-literal``,
    ``dynamic``), where (inside an IF, ...), and the locks it takes."""

    def lock_on(self, name: str, lock: str, role: str = "table") -> None:
        for t in self.targets:
            if t.name == name and t.role == role:
                t.lock = stronger(t.lock, lock) or lock
                break
        else:
            self.targets.append(LockTarget(name, lock, role))
        self.lock = stronger(self.lock, lock)

    def find(self, rule: str, severity: str, message: str, table: str | None = None,
             size_sensitive: bool = False) -> None:
        self.findings.append(Finding(rule, severity, message, self.index, self.line, table,
                                     size_sensitive))


@dataclass
class FileAnalysis:
    """A file split into statements, and how it handles transactions."""

    statements: list[Statement]
    txn_mode: str
    """``atomic``: no transaction control, all statements transactional (we wrap it).
    ``own_transaction``: one outer BEGIN ... COMMIT (we run it as that one transaction).
    ``non_transactional``: holds statements that cannot run in a transaction block.
    ``rollback_guard``: ends (or aborts) with ROLLBACK. ``multi_transaction``: any other
    transaction control. ``unparseable``: the parser rejected it (see parse_error)."""
    txn_explanation: str
    parse_error: str | None = None
    parse_error_line: int | None = None

    def body(self) -> list[Statement]:
        """Statements to run: an own_transaction file without its outer BEGIN and COMMIT."""
        if self.txn_mode == "own_transaction":
            return self.statements[1:-1]
        return list(self.statements)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _summary(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 100 else flat[:97] + "..."


def analyse_sql(text: str, server_version_num: int = 150000) -> FileAnalysis:
    """Split ``text`` into statements and classify each one (no database access)."""
    try:
        raw = parse_sql(text)
    except ParseError as exc:
        pos = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        line = _line_at(text, pos)
        msg = str(exc.args[0]) if exc.args else str(exc)
        if re.search(r"^\s*\\", text, re.M):
            msg += " (the file holds psql meta-commands, which only psql understands)"
        return FileAnalysis([], "unparseable", f"PostgreSQL's parser rejects line {line}: {msg}",
                            parse_error=msg, parse_error_line=line)
    stmts: list[Statement] = []
    for i, r in enumerate(raw, 1):
        start = r.stmt_location or 0
        length = r.stmt_len or (len(text) - start)
        chunk = text[start:start + length]
        # stmt_location points at the statement's first token after leading comments/space
        lead = len(chunk) - len(chunk.lstrip())
        start += lead
        chunk = chunk.strip()
        st = Statement(index=i, line=_line_at(text, start), end_line=_line_at(text, start + len(chunk)),
                       sql=chunk, kind=type(r.stmt).__name__, summary=_summary(chunk))
        _analyse(r.stmt, st, server_version_num)
        stmts.append(st)
    _enum_values_used_later(stmts, server_version_num)
    mode, why = _txn_mode(stmts)
    return FileAnalysis(stmts, mode, why)


def _enum_values_used_later(stmts: list[Statement], server_version_num: int) -> None:
    """PG12+ lets ALTER TYPE ... ADD VALUE run in a transaction, but the new value cannot be
    used in that transaction: a file that uses it later must run statement by statement."""
    for i, st in enumerate(stmts):
        if st.enum_value_added is None or st.non_transactional:
            continue
        lit = "'" + st.enum_value_added.replace("'", "''") + "'"
        if any(lit in later.sql for later in stmts[i + 1:]):
            st.non_transactional = True
            st.non_transactional_reason = (
                f"ALTER TYPE ... ADD VALUE {lit}: a later statement uses the new value, which "
                "cannot be used in the transaction that added it")


def _txn_mode(stmts: list[Statement]) -> tuple[str, str]:
    ctl = [(i, s.transaction_control) for i, s in enumerate(stmts) if s.transaction_control]
    nontx = [s for s in stmts if s.non_transactional]
    if not ctl:
        if nontx:
            return ("non_transactional",
                    f"{len(nontx)} statement(s) cannot run in a transaction block "
                    f"({nontx[0].non_transactional_reason}); the file runs statement by "
                    "statement, each committed on its own")
        return "atomic", "no transaction control: the file and its ledger rows run as one transaction"
    kinds = [k for _, k in ctl]
    if any(k == "ROLLBACK" for k in kinds):
        return ("rollback_guard",
                "the file issues ROLLBACK: run as written, its work is thrown away (a guard or a "
                "test), and wrapped in our transaction it would end ours; refused unless confirmed")
    outer = {"BEGIN", "COMMIT"}
    inner_ok = {"SAVEPOINT", "RELEASE", "ROLLBACK TO"}
    if (len(stmts) >= 2 and stmts[0].transaction_control == "BEGIN"
            and stmts[-1].transaction_control == "COMMIT"
            and all(k in inner_ok for i, k in ctl if i not in (0, len(stmts) - 1))
            and not nontx):
        return ("own_transaction",
                "one outer BEGIN ... COMMIT: run as that one transaction, with the ledger rows "
                "inside it")
    if nontx:
        return ("multi_transaction",
                "transaction control mixed with statements that cannot run in a transaction "
                "block; refused unless confirmed (run as written, not atomic)")
    n_commit = sum(1 for k in kinds if k in outer)
    return ("multi_transaction",
            f"{n_commit} BEGIN/COMMIT statement(s) that do not wrap the whole file: several "
            "transactions; refused unless confirmed (run as written, not atomic)")


# -- per statement -----------------------------------------------------------------------------
def _func_names(node: Any) -> list[str]:
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, ast.FuncCall):
            out.append(".".join(_names(n.funcname)))
        if isinstance(n, ast.Node):
            for slot in getattr(n, "__slots__", ()):
                walk(getattr(n, slot, None))
        elif isinstance(n, tuple | list):
            for x in n:
                walk(x)

    walk(node)
    return out


def _analyse(node: Any, st: Statement, pgv: int) -> None:
    handler = _HANDLERS.get(type(node).__name__)
    if handler is not None:
        handler(node, st, pgv)


def _h_transaction(node: Any, st: Statement, pgv: int) -> None:
    kind = node.kind
    st.transaction_control = {
        TK.TRANS_STMT_BEGIN: "BEGIN", TK.TRANS_STMT_START: "BEGIN",
        TK.TRANS_STMT_COMMIT: "COMMIT", TK.TRANS_STMT_ROLLBACK: "ROLLBACK",
        TK.TRANS_STMT_SAVEPOINT: "SAVEPOINT", TK.TRANS_STMT_RELEASE: "RELEASE",
        TK.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO", TK.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
        TK.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
        TK.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
    }.get(kind, "TRANSACTION")


def _column_def(cd: Any, table: str, st: Statement) -> None:
    """ADD COLUMN: rewrite, required field, foreign keys."""
    cons = list(cd.constraints or ())
    st.added_columns.append(f"{table}.{quote_ident(cd.colname)}")
    has_default = any(c.contype == CT.CONSTR_DEFAULT for c in cons)
    not_null = any(c.contype == CT.CONSTR_NOTNULL for c in cons) or cd.is_not_null
    typ = (_names(cd.typeName.names)[-1] if cd.typeName else "").lower()
    if typ in SERIAL_TYPES:
        st.rewrite, st.rewrite_reason = True, f"ADD COLUMN {cd.colname} {typ}: nextval() per row"
    for c in cons:
        if c.contype == CT.CONSTR_DEFAULT:
            st.volatile_candidates += _func_names(c.raw_expr)
        elif c.contype == CT.CONSTR_GENERATED:
            st.rewrite, st.rewrite_reason = True, f"ADD COLUMN {cd.colname} GENERATED ... STORED"
        elif c.contype == CT.CONSTR_IDENTITY:
            st.rewrite, st.rewrite_reason = True, f"ADD COLUMN {cd.colname} identity: fills every row"
        elif c.contype == CT.CONSTR_FOREIGN and c.pktable is not None:
            st.lock_on(rv_name(c.pktable), SRE, "referenced")
        elif c.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            st.scan = True
            st.find("adding-unique-constraint", "warn",
                    f"ADD COLUMN {cd.colname} with PRIMARY KEY/UNIQUE builds an index under "
                    "ACCESS EXCLUSIVE", table, size_sensitive=True)
        elif c.contype == CT.CONSTR_CHECK:
            st.scan = True
    if not_null and not has_default and not any(
            c.contype in (CT.CONSTR_GENERATED, CT.CONSTR_IDENTITY) for c in cons):
        st.find("adding-required-field", "danger",
                f"ADD COLUMN {cd.colname} NOT NULL without a DEFAULT fails on a table that has "
                "rows; add it nullable, backfill in batches, then SET NOT NULL via a NOT VALID "
                "check", table, size_sensitive=True)


def _h_alter_table(node: Any, st: Statement, pgv: int) -> None:
    if node.relation is None:
        return
    name = rv_name(node.relation)
    role = "index" if node.objtype == OT.OBJECT_INDEX else "table"
    for cmd in node.cmds or ():
        sub = cmd.subtype
        lock = AE
        if sub == AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            _column_def(cmd.def_, name, st)
        elif sub == AT.AT_SetNotNull:
            st.scan = True
            st.find("setting-not-null", "warn",
                    f"SET NOT NULL on {cmd.name} scans the whole table under ACCESS EXCLUSIVE; "
                    "add a CHECK (... IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL",
                    name, size_sensitive=True)
        elif sub in (AT.AT_SetStatistics, AT.AT_SetOptions, AT.AT_ResetOptions,
                     AT.AT_ClusterOn, AT.AT_DropCluster, AT.AT_SetRelOptions,
                     AT.AT_ResetRelOptions, AT.AT_ValidateConstraint, AT.AT_AttachPartition):
            lock = SUE
            if sub == AT.AT_ValidateConstraint:
                st.scan = True
        elif sub in (AT.AT_EnableTrig, AT.AT_EnableAlwaysTrig, AT.AT_EnableReplicaTrig,
                     AT.AT_DisableTrig, AT.AT_EnableTrigAll, AT.AT_DisableTrigAll,
                     AT.AT_EnableTrigUser, AT.AT_DisableTrigUser):
            lock = SRE
        elif sub == AT.AT_DropColumn:
            st.find("dropping-column", "warn",
                    f"DROP COLUMN {cmd.name}: application code still reading it breaks, and the "
                    "data is gone (a restore is the only way back)", name)
        elif sub == AT.AT_AlterColumnType:
            st.rewrite = True
            st.rewrite_reason = f"ALTER COLUMN {cmd.name} TYPE: rewrites the table and its " \
                                "indexes unless the change is binary-coercible"
            st.find("changing-column-type", "warn",
                    f"ALTER COLUMN {cmd.name} TYPE rewrites the table under ACCESS EXCLUSIVE",
                    name, size_sensitive=True)
        elif sub in (AT.AT_SetLogged, AT.AT_SetUnLogged, AT.AT_SetTableSpace,
                     AT.AT_SetAccessMethod):
            st.rewrite, st.rewrite_reason = True, "rewrites the table"
        elif sub in (AT.AT_AddConstraint, AT.AT_AddIndex) and isinstance(cmd.def_, ast.Constraint):
            c = cmd.def_
            if c.contype == CT.CONSTR_FOREIGN:
                lock = SRE
                if c.pktable is not None:
                    st.lock_on(rv_name(c.pktable), SRE, "referenced")
                if not c.skip_validation:
                    st.scan = True
                    st.find("adding-foreign-key-constraint", "warn",
                            "a FOREIGN KEY without NOT VALID checks every row while writes to "
                            "both tables wait; add it NOT VALID, then VALIDATE CONSTRAINT",
                            name, size_sensitive=True)
            elif c.contype == CT.CONSTR_CHECK and not c.skip_validation:
                st.scan = True
                st.find("constraint-missing-not-valid", "warn",
                        "a CHECK constraint without NOT VALID scans the table under ACCESS "
                        "EXCLUSIVE; add it NOT VALID, then VALIDATE CONSTRAINT", name,
                        size_sensitive=True)
            elif c.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_EXCLUSION) \
                    and not c.indexname:
                st.scan = True
                st.find("adding-unique-constraint", "warn",
                        "PRIMARY KEY/UNIQUE builds its index under ACCESS EXCLUSIVE; build it "
                        "with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING "
                        "INDEX", name, size_sensitive=True)
        st.lock_on(name, lock, role)


def _h_create(node: Any, st: Statement, pgv: int) -> None:
    name = rv_name(node.relation)
    st.creates.append(name)
    for elt in node.tableElts or ():
        cons = list(elt.constraints or ()) if isinstance(elt, ast.ColumnDef) else [elt]
        for c in cons:
            if isinstance(c, ast.Constraint) and c.contype == CT.CONSTR_FOREIGN and c.pktable:
                st.lock_on(rv_name(c.pktable), SRE, "referenced")
    for parent in node.inhRelations or ():
        st.lock_on(rv_name(parent), AE if node.partbound is None else SUE)


def _h_index(node: Any, st: Statement, pgv: int) -> None:
    table = rv_name(node.relation)
    if node.idxname:
        qual = f"{quote_ident(node.relation.schemaname)}." if node.relation.schemaname else ""
        st.creates.append(qual + quote_ident(node.idxname))
    if node.concurrent:
        st.lock_on(table, SUE)
        st.non_transactional = True
        st.non_transactional_reason = "CREATE INDEX CONCURRENTLY"
        if node.if_not_exists and node.idxname:
            st.if_not_exists_index = st.creates[-1]
            st.find("concurrent-index-if-not-exists", "warn",
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {node.idxname}: an invalid index "
                    "left by an earlier failed build has that name too and is silently kept; "
                    "check pg_index.indisvalid after the run", table)
    else:
        st.lock_on(table, SHARE)
        st.scan = True
        st.find("require-concurrent-index-creation", "warn",
                f"CREATE INDEX without CONCURRENTLY blocks every write to {table} while the "
                "index builds", table, size_sensitive=True)


def _h_drop(node: Any, st: Statement, pgv: int) -> None:
    rt = node.removeType
    objs = [_names(o) if isinstance(o, tuple | list) else _names((o,)) for o in node.objects or ()]
    if node.behavior == enums.DropBehavior.DROP_CASCADE:
        st.find("drop-cascade", "warn", "DROP ... CASCADE also drops every dependent object "
                "(views, foreign keys, ...) without listing them")
    if rt == OT.OBJECT_INDEX:
        for o in objs:
            name = ".".join(quote_ident(p) for p in o)
            if node.concurrent:
                st.lock_on(name, SUE, "index")
                st.non_transactional = True
                st.non_transactional_reason = "DROP INDEX CONCURRENTLY"
            else:
                st.lock_on(name, AE, "index")
    elif rt in (OT.OBJECT_TABLE, OT.OBJECT_MATVIEW, OT.OBJECT_VIEW, OT.OBJECT_FOREIGN_TABLE):
        for o in objs:
            name = ".".join(quote_ident(p) for p in o)
            st.lock_on(name, AE)
            if rt == OT.OBJECT_TABLE:
                st.find("dropping-table", "warn", f"DROP TABLE {name}: its data is gone (a restore "
                        "is the only way back)", name)
    elif rt in (OT.OBJECT_TRIGGER, OT.OBJECT_POLICY, OT.OBJECT_RULE):
        for o in objs:
            if len(o) >= 2:
                st.lock_on(".".join(quote_ident(p) for p in o[:-1]), AE)


def _h_reindex(node: Any, st: Statement, pgv: int) -> None:
    conc = any(getattr(p, "defname", "") == "concurrently" for p in node.params or ())
    if node.relation is None:
        if conc:
            st.non_transactional, st.non_transactional_reason = True, "REINDEX ... CONCURRENTLY"
        st.non_transactional = True
        st.non_transactional_reason = st.non_transactional_reason or "REINDEX SCHEMA/DATABASE"
        return
    name = rv_name(node.relation)
    role = "index" if node.kind == enums.ReindexObjectType.REINDEX_OBJECT_INDEX else "table"
    if conc:
        st.lock_on(name, SUE, role)
        st.non_transactional, st.non_transactional_reason = True, "REINDEX ... CONCURRENTLY"
    else:
        st.lock_on(name, AE if role == "index" else SHARE, role)
        st.find("require-concurrent-reindex", "warn",
                f"REINDEX without CONCURRENTLY blocks writes to {name} while it rebuilds",
                name, size_sensitive=True)


def _h_alter_enum(node: Any, st: Statement, pgv: int) -> None:
    if node.newVal and not node.oldVal:
        st.enum_value_added = node.newVal
        if pgv < 120000:
            st.non_transactional = True
            st.non_transactional_reason = "ALTER TYPE ... ADD VALUE (before PostgreSQL 12)"


def _h_vacuum(node: Any, st: Statement, pgv: int) -> None:
    full = any(getattr(o, "defname", "") == "full" for o in node.options or ())
    if node.is_vacuumcmd:
        st.non_transactional, st.non_transactional_reason = True, "VACUUM"
    for vr in node.rels or ():
        if vr.relation is None:
            continue
        name = rv_name(vr.relation)
        st.lock_on(name, AE if full else SUE)
        if full:
            st.rewrite, st.rewrite_reason = True, "VACUUM FULL rewrites the table"
            st.find("vacuum-full", "warn", f"VACUUM FULL holds ACCESS EXCLUSIVE on {name} while "
                    "it rewrites it", name, size_sensitive=True)


def _h_cluster(node: Any, st: Statement, pgv: int) -> None:
    if node.relation is not None:
        name = rv_name(node.relation)
        st.lock_on(name, AE)
        st.rewrite, st.rewrite_reason = True, "CLUSTER rewrites the table"
        st.find("cluster", "warn", f"CLUSTER holds ACCESS EXCLUSIVE on {name} while it rewrites it",
                name, size_sensitive=True)


def _h_relation_lock(lock: str) -> Any:
    def handler(node: Any, st: Statement, pgv: int) -> None:
        rel = getattr(node, "relation", None) or getattr(node, "table", None)
        if rel is not None:
            st.lock_on(rv_name(rel), lock)
    return handler


def _h_rename(node: Any, st: Statement, pgv: int) -> None:
    if node.relation is None:
        return
    name = rv_name(node.relation)
    if node.renameType == OT.OBJECT_INDEX:
        st.lock_on(name, SUE if pgv >= 120000 else AE, "index")
        return
    st.lock_on(name, AE)
    if node.renameType in (OT.OBJECT_TABLE, OT.OBJECT_COLUMN):
        what = f"column {node.subname}" if node.renameType == OT.OBJECT_COLUMN else "table"
        st.find("renaming", "warn", f"renaming {what} of {name} breaks application code that "
                "still uses the old name", name)


def _h_truncate(node: Any, st: Statement, pgv: int) -> None:
    for rv in node.relations or ():
        st.lock_on(rv_name(rv), AE)
        st.find("truncate", "warn", f"TRUNCATE {rv_name(rv)} deletes every row", rv_name(rv))


def _h_refresh(node: Any, st: Statement, pgv: int) -> None:
    name = rv_name(node.relation)
    if node.concurrent:
        st.lock_on(name, "EXCLUSIVE")
    else:
        st.lock_on(name, AE)
        st.find("refresh-blocks-reads", "warn", f"REFRESH MATERIALIZED VIEW {name} without "
                "CONCURRENTLY blocks every read of it until it finishes", name,
                size_sensitive=True)


def _h_create_as(node: Any, st: Statement, pgv: int) -> None:
    if node.into is not None and node.into.rel is not None:
        st.creates.append(rv_name(node.into.rel))


def _h_view(node: Any, st: Statement, pgv: int) -> None:
    st.creates.append(rv_name(node.view))
    if node.replace:
        st.lock_on(rv_name(node.view), AE)


def _h_dml(node: Any, st: Statement, pgv: int) -> None:
    name = rv_name(node.relation)
    st.lock_on(name, "ROW EXCLUSIVE")
    if isinstance(node, ast.InsertStmt):
        return
    verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
    whole = node.whereClause is None
    st.find("backfill-in-one-transaction", "warn",
            f"{verb} {name}{' without WHERE (every row)' if whole else ''} in the migration's "
            "transaction: every touched row stays locked until it commits; batch large backfills",
            name, size_sensitive=True)


def _h_lock(node: Any, st: Statement, pgv: int) -> None:
    mode = LOCKS[max(0, min(len(LOCKS) - 1, (node.mode or 8) - 1))]
    for rv in node.relations or ():
        st.lock_on(rv_name(rv), mode)


def _h_comment(node: Any, st: Statement, pgv: int) -> None:
    if node.objtype in (OT.OBJECT_TABLE, OT.OBJECT_COLUMN) and isinstance(node.object, tuple):
        parts = _names(node.object)
        if node.objtype == OT.OBJECT_COLUMN:
            parts = parts[:-1]
        if parts:
            st.lock_on(".".join(quote_ident(p) for p in parts), SUE)


# Statements a function body may run without changing the schema (reported only in DO blocks,
# which run during the migration; a function's DML is its normal work).
NOT_DDL = {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "VariableSetStmt",
           "VariableShowStmt", "NotifyStmt", "ListenStmt", "UnlistenStmt", "CallStmt",
           "ExplainStmt", "CopyStmt", "PrepareStmt", "ExecuteStmt", "DeallocateStmt",
           "DeclareCursorStmt", "FetchStmt", "ClosePortalStmt", "CheckPointStmt", "LoadStmt",
           "DiscardStmt"}


def _first_body_line(st: Statement, body: str) -> int:
    at = st.sql.find(body)
    return st.line + (st.sql.count("\n", 0, at) if at >= 0 else 0)


def _short(sql: str, n: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= n else flat[:n - 3] + "..."


def _inner(bs: Any, pgv: int) -> tuple[list[Statement], str | None]:
    """The statements of one body statement (its SQL may hold several), each analysed alone."""
    try:
        raw = parse_sql(bs.sql)
    except ParseError as exc:
        return [], str(exc.args[0]) if exc.args else str(exc)
    out = []
    for r in raw:
        start = r.stmt_location or 0
        chunk = bs.sql[start:start + (r.stmt_len or len(bs.sql) - start)].strip()
        line = bs.line if bs.how != "static" else bs.line + bs.sql.count("\n", 0, start)
        sub = Statement(index=0, line=line, end_line=line, sql=chunk, kind=type(r.stmt).__name__,
                        summary=_summary(chunk))
        _analyse(r.stmt, sub, pgv)
        out.append(sub)
    return out, None


def _describe_locks(sub: Statement) -> str:
    return ", ".join(f"{t.lock} on {t.name}" for t in sub.targets) or "no table lock"


def _h_do(node: Any, st: Statement, pgv: int) -> None:
    """A DO block runs now, inside the migration: what its body runs is this statement's."""
    body, lang = do_body(node)
    if body is None or lang != "plpgsql":
        st.find("do-block-unread", "warn", f"DO block in language {lang}: its body is not "
                "analysed and may take any lock; read it")
        return
    pb = read_plpgsql(body, _first_body_line(st, body))
    if pb.error:
        st.find("do-block-unread", "warn", f"DO block: {pb.error}; what it locks is unknown")
        return
    for bs in pb.statements:
        subs, err = _inner(bs, pgv)
        where = bs.where()
        how = "EXECUTE of a constant string" if bs.how == "execute-literal" else ""
        if err:
            st.find("do-block-unread", "warn", f"DO block line {bs.line}: the statement cannot "
                    f"be parsed ({err}); what it locks is unknown")
        for sub in subs:
            note = "; ".join(x for x in (how, where) if x)
            st.body.append(BodyEntry.of(sub, bs.how, where))
            for t in sub.targets:
                st.lock_on(t.name, t.lock, t.role)
            if sub.rewrite:
                reason = f"DO block line {sub.line}: {sub.rewrite_reason}"
                if bs.conditional:
                    reason += f" ({where}: when that runs)"
                if not st.rewrite:
                    st.rewrite, st.rewrite_reason = True, reason
            st.scan = st.scan or sub.scan
            st.creates += sub.creates
            st.added_columns += sub.added_columns
            st.volatile_candidates += sub.volatile_candidates
            st.enum_value_added = st.enum_value_added or sub.enum_value_added
            for f in sub.findings:
                f.statement, f.line = st.index, sub.line
                f.message = f"DO block line {sub.line}{' (' + note + ')' if note else ''}: " \
                            + f.message
                st.findings.append(f)
            if sub.non_transactional:
                st.find("non-transactional-in-do-block", "danger",
                        f"DO block line {sub.line}: {sub.non_transactional_reason} cannot run "
                        "inside a DO block (it always runs in a transaction): the block fails")
                st.findings[-1].line = sub.line
            if sub.transaction_control:
                st.find("transaction-control-in-do-block", "danger",
                        f"DO block line {sub.line}: {sub.transaction_control} is not allowed "
                        "inside a DO block run in a transaction: the block fails")
                st.findings[-1].line = sub.line
    for d in pb.dynamic:
        st.body.append(BodyEntry.dynamic(d.line, f"{d.form} {_short(d.expr)}"))
        st.find("dynamic-sql", "warn",
                f"DO block line {d.line}: {d.form} {_short(d.expr)} runs SQL built at run time: "
                "what it locks or changes cannot be read from the file; read it")
        st.findings[-1].line = d.line


def _h_database(node: Any, st: Statement, pgv: int) -> None:
    st.non_transactional, st.non_transactional_reason = True, "CREATE/DROP DATABASE"


def _h_create_named(attr: str) -> Any:
    def handler(node: Any, st: Statement, pgv: int) -> None:
        v = getattr(node, attr, None)
        if v is not None and hasattr(v, "relname"):
            st.creates.append(rv_name(v))
    return handler


REFRESH_IN_BODY = re.compile(r"\bREFRESH\s+MATERIALIZED\s+VIEW\b", re.I)


def _h_create_function(node: Any, st: Statement, pgv: int) -> None:
    text = " ".join(" ".join(_names(o.arg)) for o in node.options or ()
                    if getattr(o, "defname", "") == "as" and isinstance(o.arg, tuple | list))
    if REFRESH_IN_BODY.search(text):
        st.function_refreshes = _names(node.funcname)[-1]
    body, lang = function_body(node)
    if body is None or lang not in ("plpgsql", "sql"):
        return
    fname = ".".join(_names(node.funcname)) + "()"
    first = _first_body_line(st, body)
    if lang == "plpgsql":
        pb = read_plpgsql(body, first)
        if pb.error:
            st.find("function-body-unread", "info", f"{fname}: {pb.error}; what it runs when "
                    "called is not analysed")
            return
        stmts, dynamic = pb.statements, pb.dynamic
    else:
        stmts, dynamic = [BodyStatement(first, body, "static")], []
    for bs in stmts:
        subs, _err = _inner(bs, pgv)
        for sub in subs:
            if sub.kind in NOT_DDL:
                continue
            st.body.append(BodyEntry.of(sub, bs.how, bs.where()))
            strong = any(t.lock == AE for t in sub.targets) or sub.rewrite
            st.find("function-runs-ddl", "warn" if strong else "info",
                    f"{fname} runs DDL when it is called (line {sub.line}: {_short(sub.summary)}"
                    f"): {_describe_locks(sub)}"
                    + (f", rewrites the table ({sub.rewrite_reason})" if sub.rewrite else "")
                    + ": not while this migration runs, but every time the function does")
            st.findings[-1].line = sub.line
    for d in dynamic:
        st.body.append(BodyEntry.dynamic(d.line, f"{d.form} {_short(d.expr)}"))
        st.find("dynamic-sql-in-function", "info",
                f"{fname} line {d.line}: {d.form} {_short(d.expr)} runs SQL built at run time "
                "when the function is called: what it locks or changes cannot be read from the "
                "file")
        st.findings[-1].line = d.line


def _h_create_trigger(node: Any, st: Statement, pgv: int) -> None:
    if node.relation is not None:
        st.lock_on(rv_name(node.relation), SRE)
    st.trigger_function = _names(node.funcname)[-1] if node.funcname else None


_HANDLERS: dict[str, Any] = {
    "TransactionStmt": _h_transaction,
    "AlterTableStmt": _h_alter_table,
    "CreateStmt": _h_create,
    "IndexStmt": _h_index,
    "DropStmt": _h_drop,
    "ReindexStmt": _h_reindex,
    "AlterEnumStmt": _h_alter_enum,
    "VacuumStmt": _h_vacuum,
    "ClusterStmt": _h_cluster,
    "CreateTrigStmt": _h_create_trigger,
    "CreateFunctionStmt": _h_create_function,
    "RuleStmt": _h_relation_lock(AE),
    "CreatePolicyStmt": _h_relation_lock(AE),
    "AlterPolicyStmt": _h_relation_lock(AE),
    "RenameStmt": _h_rename,
    "TruncateStmt": _h_truncate,
    "RefreshMatViewStmt": _h_refresh,
    "CreateTableAsStmt": _h_create_as,
    "ViewStmt": _h_view,
    "UpdateStmt": _h_dml,
    "DeleteStmt": _h_dml,
    "InsertStmt": _h_dml,
    "LockStmt": _h_lock,
    "CommentStmt": _h_comment,
    "DoStmt": _h_do,
    "CreatedbStmt": _h_database,
    "DropdbStmt": _h_database,
    "CreateSeqStmt": _h_create_named("sequence"),
}


# -- the live plan -----------------------------------------------------------------------------
@dataclass
class FilePlan:
    file: str
    version: int
    path: str
    checksum: str
    txn_mode: str
    txn_explanation: str
    statements: list[Statement]
    findings: list[Finding]
    down_file: str | None = None
    parse_error: str | None = None
    parse_error_line: int | None = None
    strongest_lock: str | None = None
    rewrites: list[str] = field(default_factory=list)
    out_of_order: bool = False
    """Its version sorts below the latest applied one (up plans)."""
    depends_on: list[DependencyLine] = field(default_factory=list)
    """The dependency lines of its header comment, with the state of each file they name."""
    notes: list[str] = field(default_factory=list)
    """Out of order and dependency lines, as ``status`` prints them."""
    preflight: list[str] = field(default_factory=list)
    """What the catalog preflight says this file needs that the database lacks."""


@dataclass
class Drift:
    file: str
    recorded: str
    current: str


@dataclass
class SeverityCounts:
    """Findings by severity."""

    info: int = 0
    warn: int = 0
    danger: int = 0


@dataclass
class PlanSummary:
    """The plan in figures (``plan --json``'s ``summary``)."""

    preflight_problems: int | None
    """Objects the files need that the database lacks; None without a preflight (down)."""
    out_of_order: list[str]
    files: int
    statements: int
    findings: SeverityCounts
    drift: int
    needs_confirmation: list[str]
    """Files that control their own transactions in a way the runner asks about first."""


@dataclass
class Plan:
    direction: str
    ledger_kind: str
    files: list[FilePlan]
    drift: list[Drift] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    preflight: Preflight | None = None
    """The catalog preflight of an up plan, or None."""

    def findings(self) -> list[Finding]:
        return [f for fp in self.files for f in fp.findings]

    def worst(self) -> str | None:
        sev = [SEVERITIES.index(f.severity) for f in self.findings()]
        return SEVERITIES[max(sev)] if sev else None

    def summary(self) -> PlanSummary:
        pf = self.preflight
        found = self.findings()
        return PlanSummary(
            preflight_problems=len(pf.grouped()) if pf is not None else None,
            out_of_order=[f.file for f in self.files if f.out_of_order],
            files=len(self.files),
            statements=sum(len(f.statements) for f in self.files),
            findings=SeverityCounts(**{s: sum(1 for f in found if f.severity == s)
                                       for s in SEVERITIES}),
            drift=len(self.drift),
            needs_confirmation=[f.file for f in self.files
                                if f.txn_mode in ("rollback_guard", "multi_transaction",
                                                  "unparseable")])

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``plan --json``."""
        d = asdict(replace(self, preflight=None))
        d["preflight"] = self.preflight.to_dict() if self.preflight is not None else None
        d["summary"] = asdict(self.summary())
        return d


def norm_name(name: str) -> str:
    """A relation name as written, with the default schema dropped (``public.x`` is ``x``)."""
    return name[len("public."):] if name.startswith("public.") else name


def _size_class(t: LockTarget | None) -> str:
    if t is None or t.created_by_plan:
        return "new"
    if not t.exists:
        return "missing"
    rows, size = t.row_estimate or 0, t.size_bytes or 0
    if rows >= BIG_ROWS or size >= BIG_BYTES:
        return "big"
    if rows >= SMALL_ROWS or size >= SMALL_BYTES:
        return "medium"
    return "small"


def _weigh(f: Finding, t: LockTarget | None) -> None:
    """Scale a size-sensitive finding by the live size of its table."""
    if not f.size_sensitive:
        return
    cls = _size_class(t)
    figures = ""
    if t is not None and t.exists and not t.created_by_plan:
        figures = f" [{t.qualified or t.name}: ~{t.row_estimate or 0:,} rows, " \
                  f"{(t.size_bytes or 0) / 1048576:,.1f} MiB]"
    if f.rule == "adding-required-field":
        if cls in ("new", "missing") or (t is not None and (t.row_estimate or 0) == 0):
            f.severity = "info"
            f.message += " (the table is new or empty now)"
        f.message += figures
        return
    if cls == "new":
        f.severity = "info"
        f.message += " (the table is created earlier in this plan: nothing to wait for)"
    elif cls == "missing":
        f.severity = "info"
        f.message += " (the table does not exist now: see missing-relation)"
    elif cls == "small":
        f.severity = "info"
        f.message += figures + " (small now: brief)"
    elif cls == "medium":
        f.severity = "warn"
        f.message += figures
    else:
        f.severity = "danger"
        f.message += figures


def build_plan(conn: psycopg.Connection[Any], files: list[MigrationFile], ledger: Ledger, *,
               all_files: list[MigrationFile] | None = None, direction: str = "up",
               warnings: list[str] | None = None, preflight: bool = True) -> Plan:
    """Analyse ``files`` (in run order) against the live database behind ``conn``.

    Reads only the catalog and statistics (no lock on any table). ``all_files`` (the whole
    folder) lets it report drift of applied files against the Go ledger's checksums, and the
    files that header comments name. ``direction="down"`` analyses each file's down file
    instead. An up plan also carries the catalog preflight (``preflight=False`` skips it).
    """
    pgv = int(conn.execute(sql_text("plan/server_version_num.sql")).fetchone()[0])  # type: ignore[index]
    plan = Plan(direction=direction, ledger_kind=ledger.kind, files=[],
                warnings=list(warnings or []))
    analyses: list[tuple[MigrationFile, FileAnalysis, str, str]] = []
    for f in files:
        path = f.down_path if direction == "down" else f.path
        if path is None:
            plan.warnings.append(f"{f.name}: no down file")
            continue
        text = read_text_utf8(path)
        analyses.append((f, analyse_sql(text, pgv), path.name,
                         hashlib.sha256(path.read_bytes()).hexdigest()))

    # Live figures for every relation any statement names (one catalog query).
    names = sorted({t.name for _, a, _, _ in analyses for s in a.statements for t in s.targets})
    idx_names = sorted({s.if_not_exists_index for _, a, _, _ in analyses for s in a.statements
                        if s.if_not_exists_index})
    funcs = sorted({fn for _, a, _, _ in analyses for s in a.statements
                    for fn in s.volatile_candidates})
    stats: dict[str, dict[str, Any]] = {}
    idx_state: dict[str, dict[str, Any]] = {}
    volatile: dict[str, bool] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        if names:
            cur.execute(sql_text("plan/relation_stats.sql"), {"names": names})
            stats = {r["name"]: r for r in cur.fetchall()}
        index_lookup = sorted(set(idx_names) | {t.name for _, a, _, _ in analyses
                                                for s in a.statements for t in s.targets
                                                if t.role == "index"})
        if index_lookup:
            cur.execute(sql_text("plan/index_state.sql"), {"names": index_lookup})
            idx_state = {r["name"]: r for r in cur.fetchall()}
        extra = sorted({r["table_name"] for r in idx_state.values()} - set(stats))
        if extra:
            cur.execute(sql_text("plan/relation_stats.sql"), {"names": extra})
            stats.update({r["name"]: r for r in cur.fetchall()})
        if funcs:
            cur.execute(sql_text("plan/function_volatility.sql"), {"names": funcs})
            volatile = {r["name"]: bool(r["volatile"]) for r in cur.fetchall()}

    refreshers = {s.function_refreshes for _, a, _, _ in analyses for s in a.statements
                  if s.function_refreshes}
    # Where each relation is first created in this plan (file, line, position in run order):
    # a statement that needs a relation only a LATER statement creates will fail.
    creators: dict[str, tuple[str, int, int]] = {}
    pos = 0
    for _, a, fname, _ in analyses:
        for st in a.statements:
            pos += 1
            for c in st.creates:
                creators.setdefault(norm_name(c), (fname, st.line, pos))
    created: set[str] = set()
    pos = 0
    for f, a, fname, checksum in analyses:
        fp = FilePlan(file=fname, version=f.version, path=str(f.down_path if direction == "down"
                                                                else f.path),
                      checksum=checksum, txn_mode=a.txn_mode, txn_explanation=a.txn_explanation,
                      statements=a.statements, findings=[],
                      down_file=f.down_path.name if f.down_path and direction == "up" else None,
                      parse_error=a.parse_error, parse_error_line=a.parse_error_line)
        if a.parse_error:
            fp.findings.append(Finding("unparseable", "danger", a.txn_explanation,
                                       line=a.parse_error_line))
        elif a.txn_mode in ("rollback_guard", "multi_transaction"):
            fp.findings.append(Finding("transaction-control", "danger", a.txn_explanation))
        elif a.txn_mode == "non_transactional":
            fp.findings.append(Finding("non-transactional", "warn", a.txn_explanation))
        for st in a.statements:
            pos += 1
            own = {norm_name(c) for c in st.creates}
            for t in st.targets:
                # An index's lock lands on its table: report the table's figures.
                if t.role == "index" and t.name in idx_state:
                    t.qualified = idx_state[t.name]["index"]
                    tbl = idx_state[t.name]["table_name"]
                    srow = stats.get(tbl)
                    if srow is not None:
                        t.exists = True
                        t.size_bytes, t.row_estimate = srow["size_bytes"], srow["row_estimate"]
                    continue
                row = stats.get(t.name)
                t.exists = row is not None
                # CREATE TABLE IF NOT EXISTS on a table that exists now creates nothing; only an
                # earlier statement (or this one: CREATE OR REPLACE VIEW) creates for this one.
                key = norm_name(t.name)
                t.created_by_plan = (key in created or key in own) and not t.exists
                if row is not None:
                    t.qualified = f"{row['schema_name']}.{row['rel_name']}"
                    t.size_bytes, t.row_estimate = row["size_bytes"], row["row_estimate"]
            # Volatile defaults rewrite the table (PG11+ keeps stable/immutable ones cheap).
            vol = [fn for fn in st.volatile_candidates
                   if volatile.get(fn, fn.split(".")[-1] in KNOWN_VOLATILE)]
            main = next((t for t in st.targets if t.role == "table"), None)
            if vol:
                st.rewrite = True
                st.rewrite_reason = f"volatile default {', '.join(vol)}(): evaluated for every row"
                st.find("adding-field-with-volatile-default", "warn",
                        f"a column DEFAULT calling volatile {', '.join(vol)}() rewrites the whole "
                        "table under ACCESS EXCLUSIVE; add the column without a default, set the "
                        "default, backfill in batches", main.name if main else None,
                        size_sensitive=True)
            elif pgv < 110000 and st.volatile_candidates:
                st.rewrite, st.rewrite_reason = True, "ADD COLUMN with DEFAULT before PG11"
            if st.trigger_function and st.trigger_function in refreshers and main is not None:
                st.find("refresh-matview-in-trigger", "warn",
                        f"trigger on {main.name} calls {st.trigger_function}(), which runs REFRESH "
                        "MATERIALIZED VIEW: every write to the table re-computes the whole view, "
                        "and concurrent refreshes queue behind each other (EXCLUSIVE lock)",
                        main.name)
            if st.if_not_exists_index and st.if_not_exists_index in idx_state \
                    and not idx_state[st.if_not_exists_index]["indisvalid"]:
                st.find("invalid-index-exists", "danger",
                        f"index {idx_state[st.if_not_exists_index]['index']} exists and is "
                        "INVALID: IF NOT EXISTS will keep it as it is; DROP INDEX CONCURRENTLY "
                        "it first", idx_state[st.if_not_exists_index]["table_name"])
            if st.rewrite and not any(x.rule in ("changing-column-type", "vacuum-full", "cluster",
                                                 "adding-field-with-volatile-default")
                                      for x in st.findings):
                st.find("table-rewrite", "warn", f"rewrites the table: {st.rewrite_reason}",
                        main.name if main else None, size_sensitive=True)
            for finding in st.findings:
                tgt = next((t for t in st.targets if t.name == finding.table), main)
                _weigh(finding, tgt)
            if st.kind != "DropStmt":
                for t in st.targets:
                    if t.role == "index" or t.exists or t.created_by_plan:
                        continue
                    later = creators.get(norm_name(t.name))
                    if later is not None and later[2] > pos:
                        st.find("missing-relation", "danger",
                                f"{t.name} does not exist now; only {later[0]} (line {later[1]})"
                                ", which runs after this statement, creates it: this statement "
                                "fails (files run in numeric version order)", t.name)
                    else:
                        st.find("missing-relation", "warn",
                                f"{t.name} does not exist now and no earlier statement of this "
                                "plan creates it: this statement fails unless the file changes "
                                "search_path", t.name)
            # A strong lock on a big live table is worth saying even without a lint rule.
            for t in st.targets:
                if t.lock == AE and _size_class(t) == "big" and not st.findings:
                    st.find("access-exclusive-on-big-table", "info",
                            f"takes ACCESS EXCLUSIVE on {t.qualified or t.name} (~"
                            f"{t.row_estimate or 0:,} rows): brief, but every query on it "
                            "queues behind it while it waits", t.name)
            created.update(norm_name(c) for c in st.creates)
            fp.findings.extend(st.findings)
            fp.strongest_lock = stronger(fp.strongest_lock, st.lock)
            if st.rewrite:
                fp.rewrites.append(f"statement {st.index} (line {st.line}): {st.rewrite_reason}")
        plan.files.append(fp)

    if direction == "up" and analyses:
        folder = Discovery(directory=files[0].path.parent, files=list(all_files or files))
        ctx = pending_context(folder, ledger, [f for f, *_ in analyses])
        for fp, (f, *_rest) in zip(plan.files, analyses, strict=True):
            pc = ctx[f.name]
            fp.out_of_order, fp.depends_on = pc.out_of_order, pc.depends_on
            fp.notes = describe_context(pc)
        if preflight:
            texts = [(f.name, f.path.read_text(encoding="utf-8")) for f, *_ in analyses]
            plan.preflight = run_preflight(conn, texts)
            for fp in plan.files:
                fp.preflight = plan.preflight.lines_for(fp.file)

    # Drift: applied files whose content changed since the Go ledger recorded their checksum.
    for f in all_files or []:
        if not ledger.is_applied(f):
            continue
        recorded = ledger.checksum_for(f)
        if recorded and recorded != f.sha256():
            plan.drift.append(Drift(f.name, recorded, f.sha256()))
    return plan
