"""Where a deployment records its applied migrations, and what it has recorded.

Three ledgers exist in the wild (``/work/shared/NCHAT.md``): the Go CLI's
``np_common.schema_versions(name, applied_at)`` with its audit table ``nself_ops.migrations(id,
name, checksum, applied_at, applied_by, duration_ms, rolled_back_at)``, the Bash CLI's
``public.schema_migrations(version, name, applied_at)``, and the guides'
``schema_migrations(version, executed_at)``. They are detected from the catalog (to_regclass and
information_schema.columns), never assumed. Go rows match files by file name; Bash and guide rows
by numeric version. Reading takes only ACCESS SHARE on the ledger tables.

The writing half (``record_applied``/``remove_applied``/``ensure_go_ledger``) writes exactly what
the nself Go CLI writes, so ``nself db migrate status`` agrees with us afterwards. It is called by
the runner inside the migration's own transaction; it never commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui.errors import OperationFailed
from nchat_tui.migrate.discovery import MIGRATION_REF, Discovery, MigrationFile
from nchat_tui.pg.queries import sql_template, sql_text

KIND_PREFERENCE = ("go", "bash", "guide")
GO_OPS_COLUMNS = ("id", "name", "checksum", "applied_at", "applied_by", "duration_ms",
                  "rolled_back_at")


def _version_of(text: str | None) -> int | None:
    """The numeric value of a leading digit run (``"013_x.sql"`` -> 13), or None."""
    if not text:
        return None
    digits = ""
    for ch in text.strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def _prefix_of(name: str) -> str:
    return name.split("_", 1)[0]


@dataclass
class AppliedMigration:
    """One applied migration as a ledger records it."""

    name: str | None
    """The file name (Go, newer Bash) or None (guide ledger and older Bash: version only)."""
    version: int | None
    applied_at: dt.datetime | None
    checksum: str | None = None
    ledger: str = "go"
    id: str | None = None
    applied_by: str | None = None
    duration_ms: int | None = None
    rolled_back_at: dt.datetime | None = None
    raw_version: str | None = None
    """The version exactly as recorded (Bash/guide), e.g. ``"14"`` or ``"014"``."""

    def label(self) -> str:
        """The file name, else the version as recorded."""
        return self.name or self.raw_version or (str(self.version) if self.version is not None
                                                 else "?")


@dataclass
class LedgerTable:
    kind: str
    schema: str
    table: str
    columns: list[str]
    types: dict[str, str] = field(default_factory=dict)
    """column -> information_schema data_type"""

    def version_is_text(self) -> bool:
        return self.types.get("version", "bigint") in ("text", "character varying", "character")

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Ledger:
    """The ledgers found in a database and the applied set of the one the deployment uses."""

    kind: str
    """``"go"``, ``"bash"``, ``"guide"`` or ``"none"``: the ledger the deployment uses."""
    kinds: list[str]
    """Every ledger kind found, in preference order."""
    applied: list[AppliedMigration]
    """The primary ledger's applied migrations (rolled-back rows excluded), oldest first."""
    tables: list[LedgerTable] = field(default_factory=list)
    others: dict[str, list[AppliedMigration]] = field(default_factory=dict)
    """Applied rows of the other ledgers found, by kind."""
    rolled_back: list[AppliedMigration] = field(default_factory=list)
    """Go rows of nself_ops.migrations with rolled_back_at set: not applied."""
    ops_rows: list[AppliedMigration] = field(default_factory=list)
    """Every row of nself_ops.migrations (Go), for checksums and drift."""
    notes: list[str] = field(default_factory=list)

    # -- reading the applied set ------------------------------------------------------------
    def applied_names(self) -> list[str]:
        """File names, or versions as recorded, of the applied set (``status --json``)."""
        return [a.label() for a in self.applied]

    def _matches(self, kind: str, rows: list[AppliedMigration], f: MigrationFile) -> bool:
        if kind == "go":
            return any(a.name == f.name for a in rows)
        return any(a.version == f.version for a in rows)

    def is_applied(self, f: MigrationFile) -> bool:
        """Go ledgers match by file name; Bash and guide ledgers by numeric version."""
        if self.kind == "none":
            return False
        return self._matches(self.kind, self.applied, f)

    def current_version(self) -> str | None:
        """The highest applied version, as written (Go: the file's prefix)."""
        best: AppliedMigration | None = None
        for a in self.applied:
            if a.version is not None and (best is None or (best.version or 0) < a.version):
                best = a
        if best is None:
            return None
        if best.name:
            return _prefix_of(best.name)
        return best.raw_version or str(best.version)

    def latest_change(self) -> dt.datetime | None:
        """The newest applied_at or rolled_back_at across every ledger found."""
        stamps: list[dt.datetime] = []
        for rows in [self.applied, self.rolled_back, self.ops_rows, *self.others.values()]:
            for a in rows:
                stamps += [t for t in (a.applied_at, a.rolled_back_at) if t is not None]
        return max(stamps) if stamps else None

    def checksum_for(self, f: MigrationFile) -> str | None:
        """The sha256 the Go CLI recorded for ``f`` (nself_ops.migrations), if any."""
        for a in self.ops_rows:
            if a.name == f.name and a.checksum:
                return a.checksum
        for a in self.ops_rows:
            if not a.name and a.id in (f.ledger_id, f.legacy_ledger_id) and a.checksum:
                return a.checksum
        return None

    def table(self, kind: str) -> LedgerTable | None:
        return next((t for t in self.tables if t.kind == kind), None)

    def go_tables(self) -> dict[str, LedgerTable]:
        return {t.table: t for t in self.tables if t.kind == "go"}


# -- detection ---------------------------------------------------------------------------------
def _classify_schema_migrations(cols: list[str]) -> str | None:
    if "version" not in cols:
        return None
    if "dirty" in cols and "name" not in cols and "executed_at" not in cols:
        return None  # golang-migrate / Hasura CLI: one current-version row, not a per-file ledger
    if "name" in cols or "applied_at" in cols:
        return "bash"
    return "guide"


def _ts(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    return None


def _fetch(conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL | str,
           what: str) -> list[dict[str, Any]]:
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query)
            return list(cur.fetchall())
    except psycopg.errors.InsufficientPrivilege as exc:
        raise OperationFailed(f"cannot read the migration ledger {what}: {exc.diag.message_primary}",
                              "connect as the database owner or a superuser") from None


def detect_ledger(conn: psycopg.Connection[Any]) -> Ledger:
    """Find the ledger tables, read them, and choose the one the deployment uses.

    The primary ledger is the one with the most recent change; with no rows anywhere the
    preference is Go, then Bash, then guide.
    """
    seen: set[int] = set()
    tables: list[LedgerTable] = []
    notes: list[str] = []
    for row in _fetch(conn, sql_text("ledger/detect.sql"), "catalog"):
        if row["oid"] in seen:
            continue
        seen.add(row["oid"])
        cols = list(row["columns"] or [])
        types = dict(zip(cols, row["types"] or [], strict=False))
        schema, table = row["schema_name"], row["table_name"]
        if table in ("schema_versions", "migrations") and schema in ("np_common", "nself_ops"):
            tables.append(LedgerTable("go", schema, table, cols, types))
        else:
            kind = _classify_schema_migrations(cols)
            if kind is None:
                notes.append(f"{schema}.{table} has columns ({', '.join(cols)}): not a "
                             "per-file migration ledger nself writes; ignored")
            else:
                tables.append(LedgerTable(kind, schema, table, cols, types))

    rows_by_kind: dict[str, list[AppliedMigration]] = {}
    rolled_back: list[AppliedMigration] = []
    ops_rows: list[AppliedMigration] = []
    go = {t.table: t for t in tables if t.kind == "go"}
    if go:
        sv = go.get("schema_versions")
        names: list[AppliedMigration] | None = None
        if sv is not None and "name" in sv.columns:
            names = [AppliedMigration(name=r["name"], version=_version_of(r["name"]),
                                      applied_at=_ts(r["applied_at"]), ledger="go")
                     for r in _fetch(conn, sql_text("ledger/go_schema_versions.sql"),
                                     "np_common.schema_versions")]
        elif sv is not None:
            notes.append("np_common.schema_versions has no name column (plugin-shaped): "
                         "no migration rows there")
        if "migrations" in go:
            cols = go["migrations"].columns
            select = sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier(c) if c in cols else sql.SQL("NULL"),
                                           sql.Identifier(c)) for c in GO_OPS_COLUMNS)
            q = sql_template("ledger/go_ops_migrations.sql").format(columns=select)
            for r in _fetch(conn, q, "nself_ops.migrations"):
                ops_rows.append(AppliedMigration(
                    name=r["name"], version=_version_of(r["name"] or r["id"]),
                    applied_at=_ts(r["applied_at"]), checksum=r["checksum"], ledger="go",
                    id=r["id"], applied_by=r["applied_by"], duration_ms=r["duration_ms"],
                    rolled_back_at=_ts(r["rolled_back_at"])))
        ops_by_name = {a.name: a for a in ops_rows if a.name}
        applied: list[AppliedMigration] = []
        if names is not None:
            for a in names:
                ops = ops_by_name.get(a.name) if a.name else None
                if ops is not None:
                    a.id, a.checksum = ops.id, ops.checksum
                    a.applied_by, a.duration_ms = ops.applied_by, ops.duration_ms
                    a.rolled_back_at = ops.rolled_back_at
                if a.rolled_back_at is not None:
                    rolled_back.append(a)
                else:
                    applied.append(a)
            recorded = {a.name for a in names}
            # An older Go CLI keyed nself_ops.migrations by the version prefix: of two files
            # sharing one ("20260207_a.sql", "20260207_b.sql") only one audit row survived.
            lost = sorted(n for n in recorded if n and n not in ops_by_name and any(
                o.id == _prefix_of(n) and o.name and o.name != n for o in ops_rows))
            if lost:
                notes.append("no audit row (checksum, applied_by) in nself_ops.migrations for "
                             f"{', '.join(lost)}: an older nself CLI keyed that table by the "
                             "version prefix, and another file with the same prefix took the "
                             "row; drift of these files cannot be checked")
            stray = [a.name or a.id or "?" for a in ops_rows
                     if a.rolled_back_at is None and a.name and a.name not in recorded]
            if stray:
                notes.append("in nself_ops.migrations but not in np_common.schema_versions (the "
                             f"nself CLI counts them as pending): {', '.join(stray)}")
        else:
            for a in ops_rows:
                (rolled_back if a.rolled_back_at is not None else applied).append(a)
        applied.sort(key=lambda a: (a.applied_at or dt.datetime.min.replace(tzinfo=dt.UTC),
                                    a.version or 0))
        rows_by_kind["go"] = applied

    for t in tables:
        if t.kind not in ("bash", "guide"):
            continue
        name_col = sql.Identifier("name") if "name" in t.columns else sql.SQL("NULL")
        at = next((c for c in ("applied_at", "executed_at") if c in t.columns), None)
        at_col = sql.Identifier(at) if at else sql.SQL("NULL")
        q = sql_template("ledger/schema_migrations.sql").format(
            table=sql.Identifier(t.schema, t.table), name_col=name_col, at_col=at_col)
        rows_by_kind[t.kind] = [
            AppliedMigration(name=r["name"], version=_version_of(r["version"]),
                             applied_at=_ts(r["applied_at"]), ledger=t.kind,
                             raw_version=r["version"])
            for r in _fetch(conn, q, t.qualified)]

    kinds = [k for k in KIND_PREFERENCE if any(t.kind == k for t in tables)]
    kind = _primary(kinds, rows_by_kind, rolled_back)
    led = Ledger(kind=kind, kinds=kinds, applied=rows_by_kind.get(kind, []), tables=tables,
                 others={k: v for k, v in rows_by_kind.items() if k != kind},
                 rolled_back=rolled_back, ops_rows=ops_rows, notes=notes)
    if len(kinds) > 1:
        led.notes.append(f"several ledgers found ({', '.join(kinds)}); the {kind} ledger has the "
                         "latest change and decides what is pending")
    return led


def _primary(kinds: list[str], rows: dict[str, list[AppliedMigration]],
             rolled_back: list[AppliedMigration]) -> str:
    if not kinds:
        return "none"
    best, best_ts = kinds[0], None
    for k in kinds:
        stamps = [a.applied_at for a in rows.get(k, []) if a.applied_at]
        if k == "go":
            stamps += [a.rolled_back_at for a in rolled_back if a.rolled_back_at]
        ts = max(stamps) if stamps else None
        if ts is not None and (best_ts is None or ts > best_ts):
            best, best_ts = k, ts
    return best


def pending(files: list[MigrationFile], ledger: Ledger) -> list[MigrationFile]:
    """The files the ledger does not record as applied, in the given (run) order."""
    return [f for f in files if not ledger.is_applied(f)]


@dataclass
class DependencyRef:
    """A migration named in a dependency line, and its state in this run."""

    ref: str
    """As written in the line (``013``, ``013_e2ee_system.sql``)."""
    file: str | None
    """The file it resolves to, None when the folder has none."""
    state: str
    """``applied``, ``pending, runs before this file``, ``pending, runs AFTER this file``,
    ``pending, not part of this run`` or ``not found in the migrations folder``."""


@dataclass
class DependencyLine:
    """One dependency line of a file's header comment (``Depends on: 013``)."""

    label: str
    """The line's label, lower case (``depends on``, ``run after``)."""
    text: str
    refs: list[DependencyRef]


@dataclass
class PendingContext:
    """What an operator should know about a pending file before it runs (``pending_context``)."""

    name: str
    version: int
    out_of_order: bool
    """Its version sorts below the latest applied one."""
    latest_applied: str | None
    """That latest applied migration, when this file is out of order."""
    depends_on: list[DependencyLine]


def pending_context(disc: Discovery, ledger: Ledger, todo: list[MigrationFile]
                    ) -> dict[str, PendingContext]:
    """What an operator should know about each pending file before running it, by name:

    - ``out_of_order``: its version sorts below the latest applied one (``003`` pending under
      an applied ``20260203070945``): it will run after files it numerically precedes, and a
      file it was written before may already have done what it expects to do;
    - ``depends_on``: the dependency lines of its header comment (``Depends on:``, ``Run
      after:``, ...), each migration named in them with its state: applied, pending (before
      this file in the run, or AFTER it), or not found in the folder.
    """
    top = max((a for a in ledger.applied if a.version is not None),
              key=lambda a: a.version or 0, default=None)
    order = {f.name: i for i, f in enumerate(todo)}
    out: dict[str, PendingContext] = {}
    for f in todo:
        late = top is not None and top.version is not None and f.version < top.version
        deps = []
        for d in f.header_dependencies():
            refs = []
            for m in MIGRATION_REF.finditer(d["text"]):
                g = disc.resolve_ref(m.group("ref"))
                if g is None:
                    state = "not found in the migrations folder"
                elif ledger.is_applied(g):
                    state = "applied"
                elif g.name in order and order[g.name] < order[f.name]:
                    state = "pending, runs before this file"
                elif g.name in order:
                    state = "pending, runs AFTER this file"
                else:
                    state = "pending, not part of this run"
                refs.append(DependencyRef(m.group("ref"), g.name if g else None, state))
            deps.append(DependencyLine(d["label"], d["text"], refs))
        out[f.name] = PendingContext(
            name=f.name, version=f.version, out_of_order=late,
            latest_applied=(top.label() if late and top is not None else None),
            depends_on=deps)
    return out


def describe_context(ctx: PendingContext) -> list[str]:
    """The lines ``status`` and ``plan`` print under a pending file."""
    out = []
    if ctx.out_of_order:
        out.append(f"out of order: its version sorts below the latest applied "
                   f"{ctx.latest_applied}; it runs after files it numerically precedes")
    for d in ctx.depends_on:
        refs = "; ".join(f"{r.file or r.ref}: {r.state}" for r in d.refs)
        out.append(f"{d.label}: {d.text}" + (f"  [{refs}]" if refs else ""))
    return out


# -- writing (the runner's half) ---------------------------------------------------------------
def ensure_go_ledger(conn: psycopg.Connection[Any]) -> None:
    """Create the Go CLI's two ledger tables exactly as it does (no-op when they exist)."""
    conn.execute(sql_text("ledger/create_go.sql"))


def record_applied(conn: psycopg.Connection[Any], kinds: list[str], f: MigrationFile, *,
                   checksum: str, applied_by: str, duration_ms: int,
                   ledger: Ledger | None = None) -> None:
    """Record ``f`` as applied in every ledger kind given, inside the caller's transaction."""
    for kind in kinds:
        if kind == "go":
            go = ledger.go_tables() if ledger is not None else {}
            sv = go.get("schema_versions")
            if sv is None or "name" in sv.columns:
                conn.execute(sql_text("ledger/record_go_schema_versions.sql"), {"name": f.name})
            ops = go.get("migrations")
            if ledger is None or ops is not None:
                have = ops.columns if ops is not None else list(GO_OPS_COLUMNS)
                if "id" in have and "name" in have:
                    # The file's own row, if an older CLI keyed it by the version prefix, gets
                    # its unique id first (as the current Go CLI's ledger upgrade does).
                    conn.execute(sql_text("ledger/upgrade_go_ops_id.sql"),
                                 {"id": f.ledger_id, "name": f.name})
                cols: list[str] = [c for c in ("id", "name", "checksum", "applied_by",
                                               "duration_ms") if c in have]
                updates: list[sql.Composable] = [
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in cols if c != "id"]
                if "applied_at" in have:
                    updates.append(sql.SQL("applied_at = now()"))
                if "rolled_back_at" in have:
                    updates.append(sql.SQL("rolled_back_at = NULL"))
                q = sql_template("ledger/record_go_ops.sql").format(
                    columns=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                    values=sql.SQL(", ").join(sql.Placeholder(c) for c in cols),
                    updates=sql.SQL(", ").join(updates))
                conn.execute(q, {"id": f.ledger_id, "name": f.name, "checksum": checksum,
                                 "applied_by": applied_by, "duration_ms": duration_ms})
        elif kind in ("bash", "guide"):
            t = ledger.table(kind) if ledger else None
            if t is None:
                continue
            wanted = ("version", "name") if kind == "bash" else ("version",)
            cols = [c for c in wanted if c in t.columns]
            values: list[sql.Composable] = [sql.Placeholder(c) for c in cols]
            # The time column gets now() explicitly: a hand-made guide table may lack a default.
            at = next((c for c in ("applied_at", "executed_at") if c in t.columns), None)
            if at:
                cols.append(at)
                values.append(sql.SQL("now()"))
            q = sql_template("ledger/record_schema_migrations.sql").format(
                table=sql.Identifier(t.schema, t.table),
                columns=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                values=sql.SQL(", ").join(values))
            # A text version column holds the prefix as written ('013'), as the Bash CLI's
            # `WHERE version = '013'` expects; a numeric one holds its value.
            conn.execute(q, {"version": f.prefix if t.version_is_text() else f.version,
                             "name": f.name})


def remove_applied(conn: psycopg.Connection[Any], kinds: list[str], f: MigrationFile,
                   ledger: Ledger | None = None) -> None:
    """Forget ``f`` in every ledger kind given (a down migration), in the caller's transaction.

    Go: the np_common.schema_versions row is deleted (that is what ``nself db migrate status``
    reads) and so is the nself_ops.migrations row, as the Go CLI's own ``migrate down`` does
    since v1.5, so a later re-apply records a fresh checksum and duration.
    """
    for kind in kinds:
        if kind == "go":
            conn.execute(sql_text("ledger/delete_go_schema_versions.sql"), {"name": f.name})
            if ledger is None or "migrations" in ledger.go_tables():
                conn.execute(sql_text("ledger/delete_go_ops.sql"),
                             {"name": f.name, "id": f.ledger_id})
        elif kind in ("bash", "guide"):
            t = ledger.table(kind) if ledger else None
            if t is None:
                continue
            q = sql_template("ledger/delete_schema_migrations.sql").format(
                table=sql.Identifier(t.schema, t.table))
            conn.execute(q, {"version": f.version})
