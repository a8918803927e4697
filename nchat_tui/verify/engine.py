"""Post-migration verification: what changed against the before-snapshot, and whether it is right.

``verify_upgrade`` compares the live database with the snapshot a verified backup recorded
before the migration (or one given explicitly), and reports one ``Check`` per question with
its evidence:

- schema: the live inventory diffed against the before one; the objects the applied migration
  files create must exist (derived from the files' own DDL by ``ddl_effects``, never a hand
  list), what they drop must be gone, and every other change is "unexpected";
- data: every table that existed before has at least its before row count, unless a migration
  deletes rows from it: exact ``count(*)`` of every table by default, within a time budget the
  operator sees (a table the budget did not reach fails the check: never assumed fine);
  estimates only for the tables the operator asks for (``estimate_over_bytes``), ANALYZEd
  first and reported with their error, never as a plain ``ok`` (``rowcounts``); soft-deleted
  rows are reported separately; the counting role and whether row-level security could hide
  rows from it are stated;
- health: invalid indexes, NOT VALID constraints, disabled triggers, sequences near their
  limit, extensions behind the server's version, tables never analyzed, and ledger rows for
  every applied file;
- each release's own checks (the v0.4.0 guide's integrity checks: ``releases.registry``), when
  the applied files are that release's, recognised by the objects they create (never by a
  version number); otherwise they are skipped with the reason;
- the application's health URL, when given.

Objects are keyed by ``objkeys`` keys (quoted where a name needs it), never a bare dotted
string. It only reads the target (apart from ANALYZE when estimates are asked for) and writes
the "stats baseline" file in the state directory (for the rollback decision's "rows written
since"). It never imports textual.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from nchat_tui import fmt
from nchat_tui.errors import BadInput
from nchat_tui.migrate.ddl_effects import Effects, analyse_files
from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import detect_ledger
from nchat_tui.pg.guard import guarded
from nchat_tui.pg.objkeys import function_base, parent, split2, split_key, upgrade_snapshot_keys
from nchat_tui.pg.objkeys import key as okey
from nchat_tui.pg.queries import sql_template, sql_text
from nchat_tui.pg.snapshot import qualified, read_table_stats, role_info, schema_inventory
from nchat_tui.pg.target import Target
from nchat_tui.pg.tools import Cancelled
from nchat_tui.releases import registry as releases
from nchat_tui.state.journal import target_key
from nchat_tui.state.safeio import private_dir, write_file_atomic
from nchat_tui.upgrade.actions import Progress
from nchat_tui.upgrade.checklist import StepResult
from nchat_tui.verify.rowcounts import DEFAULT_BUDGET_S, Counter

if TYPE_CHECKING:
    from nchat_tui.upgrade.actions import ActionContext

OK, WARN, FAILED, SKIPPED = "ok", "warn", "failed", "skipped"
SEQUENCE_WARN, SEQUENCE_FAIL = 0.80, 0.95
LEDGER_TABLES = {"np_common.schema_versions", "nself_ops.migrations", "public.schema_migrations"}
LEDGER_SCHEMAS = {"np_common", "nself_ops"}
HEALTHY = ("ok", "healthy")
VERIFY_STATEMENT_TIMEOUT_S = 300.0
"""A backstop for the session (guard.py); counts SET their own budget and RESET back."""

ProgressFn = Callable[[str, float | None], None]


@dataclass
class Check:
    """One verification question and its answer."""

    id: str
    """``group.name``, e.g. ``data.row_counts``."""
    group: str
    status: str
    """ok, warn, failed or skipped. Only ``failed`` makes the verification fail."""
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyReport:
    target: str
    database: str
    before_source: str
    before_taken_at: str | None
    applied: list[str]
    checks: list[Check] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    release_checks: dict[str, Any] = field(default_factory=dict)
    """Whether the applied files were recognised as a release with checks of its own, why."""

    @property
    def ok(self) -> bool:
        return not self.failed()

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["failed"] = [c.id for c in self.failed()]
        return d


# ---------------------------------------------------------------------------------------------
# the before-snapshot
# ---------------------------------------------------------------------------------------------
def snapshot_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The snapshot inside a manifest (``{"snapshot": {...}}``), or the snapshot itself,
    keyed as ``objkeys`` keys objects (an older manifest's dotted keys are rewritten)."""
    if "inventory" in obj and "row_counts" in obj:
        return upgrade_snapshot_keys(obj)
    snap = obj.get("snapshot")
    if isinstance(snap, dict) and "inventory" in snap:
        return upgrade_snapshot_keys(snap)
    raise BadInput("this JSON is neither a backup manifest with a snapshot nor a snapshot "
                   "(no inventory and row_counts)")


def load_before(target: Target, against: dict[str, Any] | Path | str | None,
                conn: psycopg.Connection[Any] | None = None) -> tuple[dict[str, Any], str]:
    """The before-snapshot and where it came from (a manifest path, "given", or the latest
    verified backup)."""
    if isinstance(against, dict):
        return snapshot_of(against), "given snapshot"
    if against is not None:
        p = Path(against).expanduser()
        if p.is_file() and not p.name.endswith(".json"):
            from nchat_tui.backup.engine import manifest_path_for  # noqa: PLC0415 - backup engine costs 30ms

            p = manifest_path_for(p)
        if not p.is_file():
            raise BadInput(f"{p} does not exist (give a backup manifest, *.manifest.json)")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BadInput(f"{p} is not JSON: {exc}") from None
        return snapshot_of(data), str(p)
    from nchat_tui.backup.engine import latest_verified_backup  # noqa: PLC0415 - backup engine costs 30ms

    info = latest_verified_backup(target, conn)
    if info is None or not info.manifest:
        raise BadInput("no before-snapshot: no verified backup of this database in "
                       f"{target.backup_dir}", "give --against MANIFEST, or run nchat-tui backup "
                       "before migrating")
    return snapshot_of(info.manifest), str(info.manifest_path or info.path)


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _rows(conn: psycopg.Connection[Any], name: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(name), params)
        return [dict(r) for r in cur.fetchall()]


def _is_ledger_key(cat: str, k: str, obj: dict[str, Any] | None) -> bool:
    if cat == "schemas":
        return k in LEDGER_SCHEMAS
    if cat not in ("tables", "sequences", "columns", "constraints", "triggers", "indexes"):
        return False
    parts = split_key(k)
    if cat in ("tables", "sequences"):
        return k in LEDGER_TABLES or parts[0] in LEDGER_SCHEMAS \
            or any(k.startswith(t + "_") for t in LEDGER_TABLES)
    if cat in ("columns", "constraints", "triggers"):
        return okey(*parts[:2]) in LEDGER_TABLES or parts[0] in LEDGER_SCHEMAS
    if cat == "indexes":
        table = (obj or {}).get("table")
        return parts[0] in LEDGER_SCHEMAS or (
            table is not None and okey(parts[0], table) in LEDGER_TABLES)
    return False


def _normalise(cat: str, obj: Any) -> Any:
    if cat == "sequences" and isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "last_value"}
    return obj


def diff_inventory(before: dict[str, Any], after: dict[str, Any], *,
                   include_ledgers: bool = False) -> dict[str, dict[str, Any]]:
    """Per category: ``added``/``removed`` (key -> object) and ``changed`` (key -> {field:
    [before, after]}). Sequence positions are ignored (not transactional); the ledger tables
    are left out unless ``include_ledgers`` (the ledger is checked on its own)."""
    out: dict[str, dict[str, Any]] = {}
    cats = sorted(set(before) | set(after))
    for cat in cats:
        if cat == "ledgers" and not include_ledgers:
            continue
        b, a = before.get(cat) or {}, after.get(cat) or {}
        if cat == "ledgers":
            if b != a:
                out[cat] = {"added": {}, "removed": {},
                            "changed": {"ledgers": {"rows": [b, a]}}}
            continue
        added = {k: v for k, v in a.items() if k not in b
                 and (include_ledgers or not _is_ledger_key(cat, k, v))}
        removed = {k: v for k, v in b.items() if k not in a
                   and (include_ledgers or not _is_ledger_key(cat, k, v))}
        changed: dict[str, Any] = {}
        for k in sorted(set(a) & set(b)):
            if not include_ledgers and _is_ledger_key(cat, k, a[k]):
                continue
            ob, oa = _normalise(cat, b[k]), _normalise(cat, a[k])
            if isinstance(ob, dict) and isinstance(oa, dict):
                # Only what the before side recorded: an older snapshot lacks newer fields
                # (a view's full definition), which is not a change of the object.
                fields = {f: [ob.get(f), oa.get(f)] for f in sorted(ob)
                          if ob.get(f) != oa.get(f)}
                if fields:
                    changed[k] = fields
            elif ob != oa:
                changed[k] = {"value": [ob, oa]}
        if added or removed or changed:
            out[cat] = {"added": added, "removed": removed, "changed": changed}
    return out


def diff_is_empty(d: dict[str, dict[str, Any]]) -> bool:
    return not any(v["added"] or v["removed"] or v["changed"] for v in d.values())


def _owner_table(cat: str, k: str, obj: dict[str, Any] | None) -> str | None:
    if cat in ("columns", "constraints", "triggers"):
        return parent(k)
    if cat == "indexes" and obj and obj.get("table"):
        return okey(split_key(k)[0], obj["table"])
    return None


def _function_key(k: str) -> str:
    return function_base(k)


def explain_change(cat: str, key: str, change: str, obj: dict[str, Any] | None,
                   eff: Effects) -> str | None:
    """The file that explains a change, or None when nothing in the applied files does."""
    fkey = _function_key(key) if cat == "functions" else key
    owner = _owner_table(cat, key, obj)
    if change in ("added", "changed"):
        if fkey in eff.creates.get(cat, {}):
            return eff.creates[cat][fkey]
        if owner and owner in eff.created_tables:
            return eff.created_tables[owner]
        if owner and owner in eff.creates["views"]:
            return eff.creates["views"][owner]
        if cat == "tables" and key in eff.altered_tables:
            return eff.altered_tables[key]
        if change == "changed" and owner and owner in eff.altered_tables:
            return eff.altered_tables[owner]
        if cat in ("constraints", "indexes") and owner and owner in eff.unnamed_on:
            return eff.altered_tables.get(owner) or "an unnamed constraint or index"
        if cat == "sequences":
            seq_schema, seq_name = split2(key)
            for t, f in eff.created_tables.items():
                t_schema, t_name = split2(t)
                if seq_schema == t_schema and seq_name.startswith(t_name + "_"):
                    return f
        if cat == "enums" and key in eff.enum_values:
            return "ALTER TYPE ... ADD VALUE"
        if cat == "views" and change == "changed":
            return eff.creates["views"].get(key)
    if change == "removed":
        if fkey in eff.drops.get(cat, {}):
            return eff.drops[cat][fkey]
        for relcat in ("tables", "views"):
            if owner and owner in eff.drops[relcat]:
                return eff.drops[relcat][owner]
        if cat == "columns" and owner and owner in eff.altered_tables \
                and key in eff.drops["columns"]:
            return eff.drops["columns"][key]
    return None


class Difference(TypedDict):
    """One object that differs from the before-snapshot (JSON as it is, in a check's
    evidence)."""

    category: str
    """The inventory's category (``tables``, ``columns``, ``indexes``, ...)."""
    key: str
    change: str
    """``added``, ``removed`` or ``changed``."""
    fields: NotRequired[Any]
    """What changed in it (``changed`` only)."""
    by: NotRequired[str]
    """The applied file that explains it (explained changes only)."""


class ExpectedProblem(TypedDict):
    """An object the applied files create that is missing or broken, or drop that is there."""

    category: str
    key: str
    file: str
    problem: str


def classify_diff(d: dict[str, dict[str, Any]], eff: Effects
                  ) -> tuple[list[Difference], list[Difference]]:
    """Split a diff into changes the applied files explain and unexpected ones."""
    explained: list[Difference] = []
    unexpected: list[Difference] = []
    for cat, parts in sorted(d.items()):
        for change in ("added", "removed", "changed"):
            for key, obj in sorted(parts[change].items()):
                item: Difference = {"category": cat, "key": key, "change": change}
                if change == "changed":
                    item["fields"] = obj
                    live = None
                else:
                    live = obj if isinstance(obj, dict) else None
                by = explain_change(cat, key, change, live, eff)
                if by:
                    explained.append({**item, "by": by})
                else:
                    unexpected.append(item)
    return explained, unexpected


def expected_problems(eff: Effects, after: dict[str, Any]) -> list[ExpectedProblem]:
    """Objects the applied files create that are missing or broken, and dropped ones still
    there."""
    problems: list[ExpectedProblem] = []
    func_keys = {_function_key(k) for k in after.get("functions", {})}
    for cat, objs in eff.creates.items():
        live = after.get(cat) or {}
        for key, file in sorted(objs.items()):
            present = key in func_keys if cat == "functions" else key in live
            if not present:
                problems.append({"category": cat, "key": key, "file": file,
                                 "problem": "missing"})
            elif cat == "indexes" and not (live[key].get("valid") and live[key].get("ready")):
                problems.append({"category": cat, "key": key, "file": file,
                                 "problem": "invalid (a failed or interrupted build)"})
    for cat, objs in eff.drops.items():
        live = after.get(cat) or {}
        for key, file in sorted(objs.items()):
            present = key in func_keys if cat == "functions" else key in live
            if present:
                problems.append({"category": cat, "key": key, "file": file,
                                 "problem": "still present although the file drops it"})
    for enum, labels in eff.enum_values.items():
        live_labels = (after.get("enums", {}).get(enum) or {}).get("labels") or []
        for label in labels:
            if label not in live_labels:
                problems.append({"category": "enums", "key": f"{enum}:{label}",
                                 "file": "ALTER TYPE ... ADD VALUE", "problem": "missing"})
    return problems


# ---------------------------------------------------------------------------------------------
# which files this upgrade applied
# ---------------------------------------------------------------------------------------------
def applied_before(files: list[Any], ledgers: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Names of ``files`` the before-snapshot's ledger rows record as applied."""
    names: set[str] = set()
    versions: set[int] = set()
    for r in ledgers.get("np_common.schema_versions", []):
        if r.get("name"):
            names.add(str(r["name"]))
    for r in ledgers.get("nself_ops.migrations", []):
        if r.get("name") and not r.get("rolled_back_at"):
            names.add(str(r["name"]))
    for r in ledgers.get("public.schema_migrations", []):
        v = str(r.get("version") or "")
        digits = "".join(ch for ch in v if ch.isdigit())
        if digits:
            versions.add(int(digits))
        if r.get("name"):
            names.add(str(r["name"]))
    go = bool(ledgers.get("np_common.schema_versions") or ledgers.get("nself_ops.migrations"))
    out = set()
    for f in files:
        if f.name in names or (not go and f.version in versions):
            out.add(f.name)
    return out


@dataclass
class AppliedSet:
    files: list[Any]
    """MigrationFile objects this upgrade applied (recorded now, not before), in run order."""
    unrecorded: list[Any]
    """Pending files whose objects are all present: applied outside the ledger."""
    pending: list[Any]
    before: set[str]
    ledger_kind: str
    ledger: Any


def find_applied(conn: psycopg.Connection[Any], migrations_dir: Path | None,
                 before_inv: dict[str, Any], after_inv: dict[str, Any]) -> AppliedSet | None:
    if migrations_dir is None or not Path(migrations_dir).is_dir():
        return None
    disc = discover(Path(migrations_dir))
    led = detect_ledger(conn)
    before = applied_before(disc.files, before_inv.get("ledgers") or {})
    applied = [f for f in disc.files if led.is_applied(f) and f.name not in before]
    pending = [f for f in disc.files if not led.is_applied(f)]
    unrecorded = []
    for f in pending:
        eff = analyse_files([(f.name, f.text())])
        created = [(c, k) for c, objs in eff.creates.items() if c in ("tables", "indexes", "views")
                   for k in objs]
        if created and all(k in (after_inv.get(c) or {}) and k not in (before_inv.get(c) or {})
                           for c, k in created):
            unrecorded.append(f)
    return AppliedSet(applied, unrecorded, [f for f in pending if f not in unrecorded], before,
                      led.kind, led)


# ---------------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------------
class _Run:
    def __init__(self, conn: psycopg.Connection[Any], before: dict[str, Any],
                 after: dict[str, Any], eff: Effects, applied: AppliedSet | None,
                 report: VerifyReport, *, estimate_over: int | None = None,
                 budget_s: float = DEFAULT_BUDGET_S, say: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.conn, self.before, self.after, self.eff = conn, before, after, eff
        self.applied, self.report = applied, report
        self.estimate_over, self.budget_s = estimate_over, budget_s
        self.say: ProgressFn = say or (lambda _t, _f: None)
        self.cancel = cancel
        self.diff = diff_inventory(before["inventory"], after)

    def add(self, check_id: str, status: str, summary: str, **evidence: Any) -> Check:
        c = Check(check_id, check_id.split(".", 1)[0], status, summary, evidence)
        self.report.checks.append(c)
        return c

    # -- schema -------------------------------------------------------------------------------
    def schema(self) -> None:
        explained, unexpected = classify_diff(self.diff, self.eff)
        if self.applied is None:
            self.add("schema.expected", WARN, "no migrations directory: the objects the "
                     "migration should create are unknown (give --migrations DIR)")
        else:
            problems = expected_problems(self.eff, self.after)
            n_expected = sum(len(v) for v in self.eff.creates.values())
            if problems:
                names = ", ".join(f"{p['category'][:-1] if p['category'] != 'indexes' else 'index'}"
                                  f" {p['key']} {p['problem']}" for p in problems[:8])
                more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
                self.add("schema.expected", FAILED, f"{len(problems)} problem(s) with the "
                         f"objects the applied files create or drop: {names}{more}",
                         problems=problems, expected=n_expected, effects=self.eff.as_dict())
            else:
                self.add("schema.expected", OK, f"all {n_expected} object(s) the "
                         f"{len(self.eff.files)} applied file(s) create are present"
                         + (" and valid" if self.eff.creates["indexes"] else ""),
                         expected=n_expected, effects=self.eff.as_dict())
        removed = [u for u in unexpected if u["change"] == "removed"]
        ev: dict[str, Any] = {"explained": explained, "unexpected": unexpected}
        if self.eff.opaque:
            ev["opaque_statements"] = self.eff.opaque
        if not unexpected:
            self.add("schema.unexpected", OK, f"no unexpected change ({len(explained)} change(s) "
                     "explained by the applied files)", **ev)
        else:
            listed = ", ".join(f"{u['category']} {u['key']} {u['change']}"
                               for u in unexpected[:8])
            more = f" (and {len(unexpected) - 8} more)" if len(unexpected) > 8 else ""
            # A removal nobody asked for is lost schema (an index, a column): that fails. An
            # unexplained addition or change is shown but does not fail, and neither does
            # anything when a DO block could be the cause.
            status = FAILED if removed and not self.eff.opaque else WARN
            note = " (DO blocks in the applied files may explain them)" if self.eff.opaque else ""
            self.add("schema.unexpected", status, f"{len(unexpected)} unexpected change(s): "
                     f"{listed}{more}{note}", **ev)
        if self.applied is not None:
            self.foreign_keys()

    def foreign_keys(self) -> None:
        """Every foreign key the applied files declare exists with its declared delete rule."""
        live = {(okey(r["schema"], r["table"]), tuple(r["columns"]),
                 okey(r["ref_schema"], r["ref_table"])): r
                for r in _rows(self.conn, "verify/foreign_keys.sql")}
        fks: list[dict[str, Any]] = []
        bad: list[str] = []
        for fk in self.eff.foreign_keys:
            if fk.table not in self.eff.created_tables and fk.table not in (
                    self.after.get("tables") or {}):
                continue  # a table a later file dropped again
            r = live.get((fk.table, tuple(fk.columns), fk.ref_table))
            item = {"table": fk.table, "columns": fk.columns, "references": fk.ref_table,
                    "declared_on_delete": fk.on_delete, "file": fk.file,
                    "live_on_delete": r["on_delete"] if r else None,
                    "name": r["name"] if r else fk.name,
                    "validated": r["validated"] if r else None}
            fks.append(item)
            if r is None:
                bad.append(f"{fk.table}({', '.join(fk.columns)}) -> {fk.ref_table} missing")
            elif r["on_delete"] != fk.on_delete:
                bad.append(f"{fk.table}({', '.join(fk.columns)}) ON DELETE {r['on_delete']}, "
                           f"declared {fk.on_delete}")
        if bad:
            self.add("schema.foreign_keys", FAILED, "foreign keys: " + "; ".join(bad),
                     foreign_keys=fks)
        elif not fks:
            self.add("schema.foreign_keys", OK, "the applied files declare no foreign key",
                     foreign_keys=fks)
        else:
            rules = sorted({f["live_on_delete"] for f in fks})
            self.add("schema.foreign_keys", OK, f"{len(fks)} foreign key(s) declared by the "
                     f"applied files present with their delete rules ({', '.join(rules)})",
                     foreign_keys=fks)

    # -- data ---------------------------------------------------------------------------------
    def data(self, lo: float = 0.35, hi: float = 0.7) -> None:
        role = role_info(self.conn)
        sizes = {qualified(r["schema"], r["name"]): r for r in _rows(self.conn,
                                                                    "verify/table_sizes.sql")}
        live_tables = self.after.get("tables") or {}
        before_counts: dict[str, int] = self.before.get("row_counts") or {}
        counter = Counter(self.conn, budget_s=self.budget_s, cancel=self.cancel)
        todo = sorted(before_counts.items())
        here = [k for k, _ in todo if k in live_tables]
        total_bytes = sum(int((sizes.get(k) or {}).get("bytes") or 0) for k in here)
        done_bytes = 0
        tables: list[dict[str, Any]] = []
        lower: list[str] = []
        gone: list[str] = []
        unproven: list[str] = []
        uncounted: list[str] = []
        try:
            for i, (k, before_n) in enumerate(todo, 1):
                t: dict[str, Any] = {"table": k, "before": before_n}
                if k not in live_tables:
                    by = self.eff.drops["tables"].get(k)
                    t.update(after=None, method="absent", ok=bool(by), dropped_by=by,
                             status="ok" if by else "gone")
                    if not by:
                        gone.append(k)
                    tables.append(t)
                    continue
                nbytes = int((sizes.get(k) or {}).get("bytes") or 0)
                estimate = self.estimate_over is not None and nbytes > self.estimate_over
                frac = lo + (hi - lo) * (done_bytes + i) / (total_bytes + len(todo) or 1)
                self.say(f"data: {'estimating' if estimate else 'counting'} {k} "
                         f"({i} of {len(todo)}, {fmt.size(done_bytes)} of {fmt.size(total_bytes)}; "
                         f"{counter.elapsed():.0f}s of a {self.budget_s:g}s budget)",
                         min(frac, hi))
                schema, name = split2(k)
                c = counter.estimate(schema, name) if estimate else counter.exact(schema, name)
                done_bytes += nbytes
                t.update(after=c.rows, method=c.method, bytes=nbytes, seconds=c.seconds)
                if c.note:
                    t["note"] = c.note
                if c.method == "exact":
                    assert c.rows is not None
                    t["delta"] = c.rows - before_n
                    status = "ok" if c.rows >= before_n else "lost"
                elif c.method == "estimate":
                    assert c.rows is not None and c.error is not None
                    t.update(delta=c.rows - before_n, error=c.error)
                    # Below the before count by more than its error: rows are gone. Otherwise
                    # the estimate cannot prove anything either way.
                    status = "lost" if c.rows + c.error < before_n else "estimate"
                else:
                    status = "not_counted"
                deleting = self.eff.deletes_rows.get(k)
                if status in ("lost", "estimate") and deleting:
                    t["deleted_by_migration"] = deleting
                    status = "ok" if status == "lost" else status
                t["status"] = status
                t["ok"] = status == "ok"
                t["rls_could_hide_rows"] = bool(live_tables[k].get("rls_could_hide_rows"))
                {"lost": lower, "estimate": unproven, "not_counted": uncounted}.get(
                    status, []).append(k)
                tables.append(t)
        except BaseException:
            counter.done()
            raise
        hidden = [k for k, t in live_tables.items() if t.get("rls_could_hide_rows")]
        ev: dict[str, Any] = {
            "counted_as": role, "before_counted_as": self.before.get("counted_as"),
            "rls_could_hide_rows": hidden, "count_budget_s": self.budget_s,
            "count_seconds": round(counter.elapsed(), 3),
            "estimate_over_bytes": self.estimate_over, "tables": tables}
        who = f"counted as {role['role']}" + (" (superuser)" if role.get("is_superuser") else "")
        by_key = {t["table"]: t for t in tables}
        if lower or gone or uncounted:
            parts = []
            for k in lower:
                t = by_key[k]
                parts.append(f"{k} has {t['after']} row(s), {t['before']} before"
                             if t["method"] == "exact" else
                             f"{k} has about {t['after']} +- {t['error']} row(s) (estimate after "
                             f"ANALYZE), {t['before']} before")
            parts += [f"{k} is gone" for k in gone]
            rls = (" - row-level security could hide rows from this role: count as the owner or "
                   "a superuser") if hidden else ""
            text = f"rows missing: {'; '.join(parts)} ({who}){rls}" if parts else ""
            if uncounted:
                spent = " (the time budget ran out)" if counter.spent else ""
                text += ("; " if text else "") + (
                    f"{len(uncounted)} table(s) not counted{spent}: {', '.join(uncounted[:5])}"
                    + (" ..." if len(uncounted) > 5 else "") + " - their rows are not verified; "
                    "give a larger --count-budget, or --estimate-over MB for the large tables")
            self.add("data.row_counts", FAILED, text, **ev)
        elif unproven:
            n_exact = sum(1 for t in tables if t.get("method") == "exact")
            est = "; ".join(f"{k} about {by_key[k]['after']:,} +- {by_key[k]['error']:,} "
                            f"({by_key[k]['before']:,} before)" for k in unproven[:4])
            more = f" and {len(unproven) - 4} more" if len(unproven) > 4 else ""
            self.add("data.row_counts", WARN, f"{n_exact} table(s) counted exactly have at "
                     f"least their before row count; {len(unproven)} estimated after ANALYZE "
                     f"(not proven, as asked): {est}{more} ({who})", **ev)
        elif hidden:
            self.add("data.row_counts", WARN, f"every table has at least its before row count, "
                     f"but row-level security could hide rows of {len(hidden)} table(s) from "
                     f"{role['role']} ({who})", **ev)
        else:
            self.add("data.row_counts", OK, f"all {len(tables)} table(s) have at least their "
                     f"before row count, counted exactly in {counter.elapsed():.1f}s ({who})",
                     **ev)
        try:
            self.soft_deleted(counter, {t["table"] for t in tables if t.get("method") == "exact"})
        finally:
            counter.done()

    def soft_deleted(self, counter: Counter, counted: set[str]) -> None:
        preds = {"deleted_at": "{col} IS NOT NULL", "is_deleted": "{col} IS TRUE",
                 "is_archived": "{col} IS TRUE"}
        template = sql_template("verify/count_flagged.sql")
        found: list[dict[str, Any]] = []
        for col in _rows(self.conn, "verify/soft_delete_columns.sql"):
            k = okey(col["schema"], col["table"])
            item: dict[str, Any] = {"table": k, "column": col["column"]}
            if col["column"] != "deleted_at" and col["type"] != "boolean":
                item["flagged"] = None
                item["note"] = f"type {col['type']}: not a flag"
            elif k not in counted:
                item["flagged"] = None
                item["note"] = "not counted: its rows were estimated or not counted"
            else:
                pred = sql.SQL(preds[col["column"]]).format(col=sql.Identifier(col["column"]))
                rows = counter.query(template.format(
                    predicate=pred, table=sql.Identifier(col["schema"], col["table"])))
                if rows is None:
                    item["flagged"] = None
                    item["note"] = "not counted: the time budget was spent"
                else:
                    item["flagged"], item["total"] = int(rows[0]["flagged"]), int(rows[0]["total"])
            found.append(item)
        counted_items = [f for f in found if f.get("flagged")]
        summary = ("soft-deleted or archived rows (still counted above): "
                   + ", ".join(f"{f['table']}.{f['column']} {f['flagged']}"
                               for f in counted_items)
                   if counted_items else f"no soft-deleted rows ({len(found)} marker column(s) "
                   "found)")
        self.add("data.soft_deleted", OK, summary, columns=found)

    # -- health -------------------------------------------------------------------------------
    def health(self) -> None:
        inv = _rows(self.conn, "verify/invalid_indexes.sql")
        if inv:
            self.add("health.invalid_indexes", FAILED, "invalid index(es): " + ", ".join(
                f"{okey(r['schema'], r['name'])} on {r['table']}" for r in inv)
                + " (drop with DROP INDEX CONCURRENTLY and rebuild)", indexes=inv)
        else:
            self.add("health.invalid_indexes", OK, "no invalid index")
        nv = _rows(self.conn, "verify/not_valid_constraints.sql")
        before_c = self.before["inventory"].get("constraints") or {}
        new_nv = [r for r in nv if (before_c.get(okey(r["schema"], r["owner_object"], r["name"]))
                                    or {}).get("validated", True)]
        if nv:
            self.add("health.not_valid_constraints", WARN,
                     f"{len(nv)} constraint(s) NOT VALID (existing rows unchecked): "
                     + ", ".join(f"{r['owner_object']}.{r['name']}" for r in nv[:8])
                     + "; run ALTER TABLE ... VALIDATE CONSTRAINT", constraints=nv,
                     new_since_before=new_nv)
        else:
            self.add("health.not_valid_constraints", OK, "every constraint is validated")
        dis = _rows(self.conn, "verify/disabled_triggers.sql")
        before_t = self.before["inventory"].get("triggers") or {}
        newly = [r for r in dis if (before_t.get(okey(r["schema"], r["table"], r["name"])) or {})
                 .get("enabled", "O") not in ("D", "R")]
        if newly:
            self.add("health.disabled_triggers", FAILED, "trigger(s) disabled since the backup: "
                     + ", ".join(f"{r['table']}.{r['name']}" for r in newly),
                     triggers=dis, newly_disabled=newly)
        elif dis:
            self.add("health.disabled_triggers", WARN, f"{len(dis)} trigger(s) disabled, as "
                     "before the migration: " + ", ".join(f"{r['table']}.{r['name']}"
                                                         for r in dis[:8]), triggers=dis)
        else:
            self.add("health.disabled_triggers", OK, "no disabled trigger")
        seqs = _rows(self.conn, "verify/sequences_usage.sql")
        hot = [r for r in seqs if (r["used_fraction"] or 0) >= SEQUENCE_WARN]
        worst = max((r["used_fraction"] or 0 for r in seqs), default=0.0)
        if hot:
            status = FAILED if worst >= SEQUENCE_FAIL else WARN
            self.add("health.sequences", status, "sequence(s) near exhaustion: " + ", ".join(
                f"{okey(r['schema'], r['name'])} {r['used_fraction']:.0%}" for r in hot),
                sequences=hot, warn_at=SEQUENCE_WARN, fail_at=SEQUENCE_FAIL)
        else:
            self.add("health.sequences", OK, f"{len(seqs)} sequence(s), the fullest at "
                     f"{worst:.1%} of its range", warn_at=SEQUENCE_WARN)
        ext = _rows(self.conn, "verify/extensions_behind.sql")
        if ext:
            self.add("health.extensions", WARN, "extension(s) behind the server's version: "
                     + ", ".join(f"{r['name']} {r['installed_version']} (available "
                                 f"{r['default_version']})" for r in ext)
                     + "; ALTER EXTENSION ... UPDATE", extensions=ext)
        else:
            self.add("health.extensions", OK, "every extension is at the server's version")
        na = _rows(self.conn, "verify/never_analyzed.sql")
        if na:
            self.add("health.never_analyzed", WARN, f"{len(na)} table(s) never analyzed: the "
                     "planner guesses their size (run the maintenance step VACUUM ANALYZE): "
                     + ", ".join(okey(r["schema"], r["name"]) for r in na[:8])
                     + (" ..." if len(na) > 8 else ""), tables=na)
        else:
            self.add("health.never_analyzed", OK, "every table has been analyzed")
        self.ledger()

    def ledger(self) -> None:
        a = self.applied
        if a is None:
            self.add("health.ledger", SKIPPED, "no migrations directory: cannot match ledger rows "
                     "to files")
            return
        ev: dict[str, Any] = {
            "ledger": a.ledger_kind, "applied_now": [f.name for f in a.files],
            "applied_before": sorted(a.before), "pending": [f.name for f in a.pending],
            "applied_without_ledger_row": [f.name for f in a.unrecorded]}
        drift = []
        for f in a.files:
            recorded = a.ledger.checksum_for(f)
            if recorded and recorded != f.sha256():
                drift.append({"file": f.name, "recorded": recorded, "file_sha256": f.sha256()})
        ev["checksum_drift"] = drift
        if a.unrecorded:
            self.add("health.ledger", FAILED, "applied but not recorded in the "
                     f"{a.ledger_kind} ledger: " + ", ".join(f.name for f in a.unrecorded)
                     + " (the objects exist; nself would run the file again)", **ev)
        elif drift:
            self.add("health.ledger", WARN, "file(s) changed since recorded: "
                     + ", ".join(d["file"] for d in drift), **ev)
        elif a.pending:
            self.add("health.ledger", WARN, f"{len(a.pending)} file(s) still pending: "
                     + ", ".join(f.name for f in a.pending), **ev)
        else:
            self.add("health.ledger", OK, f"{a.ledger_kind} ledger records all "
                     f"{len(a.files)} file(s) applied by this upgrade"
                     + (": " + ", ".join(f.name for f in a.files) if a.files else ""), **ev)


def check_health_url(url: str, release: str | None, timeout: float = 5.0) -> Check:
    """GET the application's health URL: "status" ok or healthy, and its version."""
    parts = urllib.parse.urlsplit(url)
    shown = urllib.parse.urlunsplit(parts._replace(
        netloc=parts.hostname + (f":{parts.port}" if parts.port else "")
        if parts.hostname else parts.netloc))
    ev: dict[str, Any] = {"url": shown, "expected_version": release}
    if parts.scheme not in ("http", "https"):
        return Check("app.health", "app", FAILED, f"{shown}: not an http(s) URL", ev)
    req = urllib.request.Request(url, headers={"Accept": "application/json",
                                               "User-Agent": "nchat-tui verify"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            code = resp.status
            body = resp.read(65536)
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read(65536) if exc.fp else b""
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        ev["error"] = str(reason)
        return Check("app.health", "app", FAILED, f"{shown} did not answer: {reason}", ev)
    ev["http_status"] = code
    ev["elapsed_ms"] = round((time.monotonic() - t0) * 1000)
    try:
        data = json.loads(body or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        ev["body"] = body[:200].decode("utf-8", "replace")
        return Check("app.health", "app", FAILED, f"{shown} answered HTTP {code} without a JSON "
                     "object", ev)
    status = str(data.get("status", "")).lower()
    version = data.get("version")
    ev.update(status=data.get("status"), version=version)
    if code >= 400 or status not in HEALTHY:
        return Check("app.health", "app", FAILED, f"{shown} answered HTTP {code}, status "
                     f"{data.get('status')!r} (expected ok or healthy)", ev)
    if release and version is not None:
        v = str(version).lstrip("vV")
        r = release.lstrip("vV")
        if not (v == r or v.startswith(r + ".") or v.startswith(r + "-")
                or v.startswith(r + "+")):
            return Check("app.health", "app", FAILED, f"{shown} is healthy but runs version "
                         f"{version}, not {release}", ev)
    vtxt = f", version {version}" if version is not None else ", no version reported"
    return Check("app.health", "app", OK, f"{shown}: {data.get('status')}{vtxt}", ev)


# ---------------------------------------------------------------------------------------------
# the stats baseline (for the rollback decision)
# ---------------------------------------------------------------------------------------------
def stats_baseline_path(target: Target) -> Path:
    return target.state_dir / "stats" / f"{target_key(target.masked())}.json"


def record_stats_baseline(conn: psycopg.Connection[Any], target: Target,
                          label: str = "verification") -> dict[str, Any]:
    """Write the write counters now to the state dir (atomically) and return them."""
    stats = read_table_stats(conn)
    stats["label"] = label
    p = stats_baseline_path(target)
    private_dir(p.parent)  # 0700/0600 from creation, every byte written and fsync'd
    write_file_atomic(p, json.dumps(stats, indent=1, default=str).encode())
    return stats


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def verify_upgrade(target: Target, against: dict[str, Any] | Path | str | None = None,
                   health_url: str | None = None, *, release: str | None = None,
                   applied: list[str] | None = None,
                   estimate_over_bytes: int | None = None,
                   count_budget_s: float = DEFAULT_BUDGET_S,
                   progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None,
                   journal: Any = None, record_baseline: bool = True) -> VerifyReport:
    """Verify the target after a migration against the before-snapshot (see the module doc).

    ``against``: a manifest or snapshot dict, a manifest path, or None for the latest verified
    backup's. ``applied`` names the files this upgrade applied (default: the files recorded in
    the ledger now but not in the snapshot's ledger rows). ``release``: the application version
    the health URL must report (default: the version of the release the applied files are,
    0.4.0 for the v0.4.0 files).
    Row counts are exact, all of them within ``count_budget_s`` seconds; tables larger than
    ``estimate_over_bytes`` (None: no table) are estimated after ANALYZE instead, with their
    error (``rowcounts``). Raises ``BadInput`` when there is no before-snapshot; a failed check
    is in the report.
    """
    say: ProgressFn = progress or (lambda _t, _f: None)
    t0 = time.monotonic()
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def step(text: str, frac: float | None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("verification cancelled by the operator")
        say(text, frac)

    with guarded(target, "nchat-tui verify", "the verification",
                 statement_timeout=VERIFY_STATEMENT_TIMEOUT_S) as conn:
        step("reading the before-snapshot", 0.0)
        before, source = load_before(target, against, conn)
        step("reading the live schema inventory", 0.1)
        after = schema_inventory(conn)
        appl = find_applied(conn, target.migrations_dir, before["inventory"], after)
        if appl is not None and applied is not None:
            wanted = set(applied)
            appl.files = [f for f in _discovered(target) if f.name in wanted
                          or f.prefix in wanted]
        files = (appl.files + appl.unrecorded) if appl else []
        files.sort(key=lambda f: (f.version, f.name))
        eff = analyse_files([(f.name, f.text()) for f in files])
        report = VerifyReport(target=target.masked(), database=target.database,
                              before_source=source, before_taken_at=before.get("taken_at"),
                              applied=[f.name for f in files], started_at=started)
        if appl is None:
            report.notes.append("no migrations directory: expected objects and ledger rows "
                                "were not checked")
        if eff.parse_errors:
            report.notes += [f"{e['file']}: cannot parse ({e['error']})" for e in eff.parse_errors]
        if count_budget_s <= 0:
            raise BadInput("the count budget must be a positive number of seconds")
        run = _Run(conn, before, after, eff, appl, report, estimate_over=estimate_over_bytes,
                   budget_s=count_budget_s, say=step, cancel=cancel)
        step("schema: comparing with the before-snapshot", 0.2)
        run.schema()
        step("data: row counts" + (f" (estimates for tables over {fmt.size(estimate_over_bytes)})"
                                   if estimate_over_bytes is not None else
                                   f", exact, within a {count_budget_s:g}s budget"), 0.35)
        run.data()
        step("health: indexes, constraints, triggers, sequences, extensions, ledger", 0.7)
        run.health()
        report.release_checks, recognised = releases.run_checks(conn, before, run.diff,
                                                                run.add, eff, step)
        release = release or recognised
        if record_baseline:
            try:
                report.notes.append("stats baseline recorded at "
                                    + record_stats_baseline(conn, target)["taken_at"])
            except OSError as exc:
                report.notes.append(f"stats baseline not recorded: {exc}")
    if health_url:
        step(f"application health: {health_url.split('@')[-1]}", 0.95)
        report.checks.append(check_health_url(health_url, release))
    else:
        report.checks.append(Check("app.health", "app", SKIPPED,
                                   "no health URL given (--health-url)"))
    report.duration_s = round(time.monotonic() - t0, 3)
    say("done", 1.0)
    if journal is not None:
        journal.append("verification", ok=report.ok, failed=[c.id for c in report.failed()],
                       before_source=report.before_source, applied=report.applied,
                       checks=[{"id": c.id, "status": c.status, "summary": c.summary}
                               for c in report.checks],
                       unexpected=(report.check("schema.unexpected") or Check("", "", "", ""))
                       .evidence.get("unexpected", [])[:200],
                       duration_s=report.duration_s)
    return report


def _discovered(target: Target) -> list[Any]:
    assert target.migrations_dir is not None
    return discover(target.migrations_dir).files


__all__ = ["Check", "VerifyReport", "check_health_url", "classify_diff", "diff_inventory",
           "diff_is_empty", "expected_problems", "load_before", "read_table_stats",
           "record_stats_baseline", "stats_baseline_path", "verify_upgrade"]


# ---------------------------------------------------------------------------------------------
# checklist actions (the lead registers them in actions.ACTIONS: "verify_schema", "verify_data")
# ---------------------------------------------------------------------------------------------
SCHEMA_STEP_CHECKS = ("schema.", "health.")
DATA_STEP_CHECKS = ("data.", "app.")
"""With each release's own checks of that step (``releases.check_ids``)."""
STEP_CACHE_S = 120.0


def _step_result(ctx: ActionContext, prefixes: tuple[str, ...], title: str) -> StepResult:
    def progress(text: str, frac: float | None) -> None:
        ctx.progress(Progress(frac, text))

    # Both steps read one verification when they run within STEP_CACHE_S of each other in
    # the same session: exact counts of a big database are not worth paying twice.
    hit = ctx.cache.verify if ctx.cache is not None else None
    if hit and time.monotonic() - hit[0] < STEP_CACHE_S:
        rep = hit[1]
    else:
        # Exact counts unless the session asked for estimates of large tables (never silently).
        opts = ctx.verify
        rep = verify_upgrade(ctx.target, opts.against, opts.health_url, release=opts.release,
                             estimate_over_bytes=opts.estimate_over_bytes,
                             count_budget_s=opts.count_budget_s or DEFAULT_BUDGET_S,
                             progress=progress, cancel=ctx.cancel, journal=ctx.journal)
        if ctx.cache is not None:
            ctx.cache.verify = (time.monotonic(), rep)
    mine = [c for c in rep.checks if c.id.startswith(prefixes)]
    failed = [c for c in mine if c.status == FAILED]
    warned = [c for c in mine if c.status == WARN]
    ev = {"before_source": rep.before_source, "applied": rep.applied,
          "checks": [asdict(c) for c in mine], "notes": rep.notes}
    if failed:
        return StepResult("failed", f"{title}: " + "; ".join(f"{c.id}: {c.summary}"
                                                            for c in failed), ev)
    status = "warn" if warned else "ok"
    n_ok = sum(1 for c in mine if c.status == OK)
    skipped = sum(1 for c in mine if c.status == SKIPPED)
    return StepResult(status, f"{title}: {n_ok} check(s) ok"
                      + (f", {skipped} skipped" if skipped else "")
                      + (", " + "; ".join(f"{c.id}: {c.summary}" for c in warned)
                         if warned else ""), ev)


def act_verify_schema(ctx: ActionContext) -> StepResult:
    """Checklist action: the schema and health checks, and the releases' schema checks."""
    return _step_result(ctx, SCHEMA_STEP_CHECKS + releases.check_ids("schema"),
                        "schema and health")


def act_verify_data(ctx: ActionContext) -> StepResult:
    """Checklist action: row counts, soft-deleted rows, the releases' data checks, health URL."""
    return _step_result(ctx, DATA_STEP_CHECKS + releases.check_ids("data"), "data")
