"""The CLI's JSON is a contract (README, "CLI contract"): ``status --json`` and ``plan --json``
keep their keys, the types of their values and the keys' order, whatever types the code uses
inside. Run through the real command line against a real demo database (v0.3.0, the v0.4.0
files pending) whose migrations folder also holds a late file that names a dependency, so
the out-of-order and dependency parts carry data too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from nchat_tui.cli import main as cli
from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.migrate.status import pgss_state
from tests.json_shape import json_shape, key_order

LATE = ("-- A hot fix written before 013, merged late.\n"
        "-- Depends on: 013_e2ee_system.sql\n"
        "ALTER TABLE public.nchat_users ADD COLUMN IF NOT EXISTS late_flag boolean;\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n")


def demo_options(pg_db: dict[str, str], tmp_path: Path, mdir: Path) -> list[str]:
    load_demo(pg_db, scale=0.02)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    return ["--dsn", dsn, "--migrations", str(mdir), "--state-dir", str(tmp_path / "state"),
            "--backup-dir", str(tmp_path / "backups")]


@pytest.fixture
def demo(pg_db: dict[str, str], tmp_path: Path) -> list[str]:
    """The demo, and its migrations with a late file that names a dependency."""
    mdir = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), mdir)
    (mdir / "0005_late_fix.sql").write_text(LATE)
    return demo_options(pg_db, tmp_path, mdir)


@pytest.fixture
def plain_demo(pg_db: dict[str, str], tmp_path: Path) -> list[str]:
    """The demo and its own migrations (013-016 pending)."""
    return demo_options(pg_db, tmp_path, default_migrations_dir())


def run_json(capsys: pytest.CaptureFixture[str], opts: list[str], *argv: str) -> Any:
    capsys.readouterr()
    rc = cli.main([argv[0], "--json", *opts, *argv[1:]])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


PINNED_EVIDENCE = ("schema.expected", "schema.unexpected", "schema.foreign_keys",
                   "data.row_counts", "data.soft_deleted", "health.ledger")
"""The checks whose evidence ``verify --json`` pins: the others' depend on the release's
own checks (releases/) or on timing (autovacuum may analyze a new table first)."""


def verify_parts(doc: dict[str, Any]) -> dict[str, Any]:
    """``verify --json`` split for pinning: the report and its checks without their
    evidence, the release part left to the release's own tests; and the pinned evidence by
    check."""
    checks = [{k: v for k, v in c.items() if k != "evidence"} for c in doc["checks"]]
    report = {**doc, "checks": checks, "release_checks": {}}
    evidence = {c["id"].replace(".", "_"): c["evidence"] for c in doc["checks"]
                if c["id"] in PINNED_EVIDENCE}
    return {"report": report, "evidence": evidence}


STATUS_SHAPE = (
    '$: object',
    '$.target: string',
    '$.source: string',
    '$.server_version: string',
    '$.server_version_num: number',
    '$.database: string',
    '$.user: string',
    '$.is_superuser: bool',
    '$.database_size: number',
    '$.pg_stat_statements: object',
    '$.pg_stat_statements.available: bool',
    '$.pg_stat_statements.state: string',
    '$.pg_stat_statements.version: string',
    '$.ledger: object',
    '$.ledger.kind: string',
    '$.ledger.kinds: list',
    '$.ledger.kinds[]: string',
    '$.ledger.applied: list',
    '$.ledger.applied[]: string',
    '$.ledger.current_version: string',
    '$.migrations_dir: string',
    '$.pending: list',
    '$.pending[]: string',
    '$.pending_known: bool',
    '$.pending_unknown: null',
    '$.pending_files: list',
    '$.pending_files[]: object',
    '$.pending_files[].name: string',
    '$.pending_files[].version: number',
    '$.pending_files[].out_of_order: bool',
    '$.pending_files[].latest_applied: string',
    '$.pending_files[].depends_on: list',
    '$.pending_files[].depends_on[]: object',
    '$.pending_files[].depends_on[].label: string',
    '$.pending_files[].depends_on[].text: string',
    '$.pending_files[].depends_on[].refs: list',
    '$.pending_files[].depends_on[].refs[]: object',
    '$.pending_files[].depends_on[].refs[].ref: string',
    '$.pending_files[].depends_on[].refs[].file: string',
    '$.pending_files[].depends_on[].refs[].state: string',
    '$.pending_files[].notes: list',
    '$.pending_files[].notes[]: string',
    '$.pending_files[].latest_applied: null',
    '$.out_of_order: list',
    '$.out_of_order[]: string',
    '$.warnings: list',
    '$.warnings[]: string',
)
"""``status --json`` on the demo database, pinned before its fields became dataclasses."""

PLAN_SHAPE = (
    '$: object',
    '$.direction: string',
    '$.ledger_kind: string',
    '$.files: list',
    '$.files[]: object',
    '$.files[].file: string',
    '$.files[].version: number',
    '$.files[].path: string',
    '$.files[].checksum: string',
    '$.files[].txn_mode: string',
    '$.files[].txn_explanation: string',
    '$.files[].statements: list',
    '$.files[].statements[]: object',
    '$.files[].statements[].index: number',
    '$.files[].statements[].line: number',
    '$.files[].statements[].end_line: number',
    '$.files[].statements[].sql: string',
    '$.files[].statements[].kind: string',
    '$.files[].statements[].summary: string',
    '$.files[].statements[].lock: string',
    '$.files[].statements[].targets: list',
    '$.files[].statements[].targets[]: object',
    '$.files[].statements[].targets[].name: string',
    '$.files[].statements[].targets[].lock: string',
    '$.files[].statements[].targets[].role: string',
    '$.files[].statements[].targets[].exists: bool',
    '$.files[].statements[].targets[].created_by_plan: bool',
    '$.files[].statements[].targets[].qualified: string',
    '$.files[].statements[].targets[].size_bytes: number',
    '$.files[].statements[].targets[].row_estimate: number',
    '$.files[].statements[].rewrite: bool',
    '$.files[].statements[].rewrite_reason: null',
    '$.files[].statements[].scan: bool',
    '$.files[].statements[].non_transactional: bool',
    '$.files[].statements[].non_transactional_reason: null',
    '$.files[].statements[].transaction_control: null',
    '$.files[].statements[].creates: list',
    '$.files[].statements[].added_columns: list',
    '$.files[].statements[].added_columns[]: string',
    '$.files[].statements[].findings: list',
    '$.files[].statements[].volatile_candidates: list',
    '$.files[].statements[].if_not_exists_index: null',
    '$.files[].statements[].enum_value_added: null',
    '$.files[].statements[].function_refreshes: null',
    '$.files[].statements[].trigger_function: null',
    '$.files[].statements[].body: list',
    '$.files[].statements[].lock: null',
    '$.files[].findings: list',
    '$.files[].down_file: null',
    '$.files[].parse_error: null',
    '$.files[].parse_error_line: null',
    '$.files[].strongest_lock: string',
    '$.files[].rewrites: list',
    '$.files[].out_of_order: bool',
    '$.files[].depends_on: list',
    '$.files[].depends_on[]: object',
    '$.files[].depends_on[].label: string',
    '$.files[].depends_on[].text: string',
    '$.files[].depends_on[].refs: list',
    '$.files[].depends_on[].refs[]: object',
    '$.files[].depends_on[].refs[].ref: string',
    '$.files[].depends_on[].refs[].file: string',
    '$.files[].depends_on[].refs[].state: string',
    '$.files[].notes: list',
    '$.files[].notes[]: string',
    '$.files[].preflight: list',
    '$.files[].statements[].creates[]: string',
    '$.files[].statements[].targets[].qualified: null',
    '$.files[].statements[].targets[].size_bytes: null',
    '$.files[].statements[].targets[].row_estimate: null',
    '$.files[].statements[].findings[]: object',
    '$.files[].statements[].findings[].rule: string',
    '$.files[].statements[].findings[].severity: string',
    '$.files[].statements[].findings[].message: string',
    '$.files[].statements[].findings[].statement: number',
    '$.files[].statements[].findings[].line: number',
    '$.files[].statements[].findings[].table: string',
    '$.files[].statements[].findings[].size_sensitive: bool',
    '$.files[].findings[]: object',
    '$.files[].findings[].rule: string',
    '$.files[].findings[].severity: string',
    '$.files[].findings[].message: string',
    '$.files[].findings[].statement: number',
    '$.files[].findings[].line: number',
    '$.files[].findings[].table: string',
    '$.files[].findings[].size_sensitive: bool',
    '$.files[].down_file: string',
    '$.files[].statements[].volatile_candidates[]: string',
    '$.files[].statements[].body[]: object',
    '$.files[].statements[].body[].line: number',
    '$.files[].statements[].body[].summary: string',
    '$.files[].statements[].body[].how: string',
    '$.files[].statements[].body[].where: string',
    '$.files[].statements[].body[].kind: string',
    '$.files[].statements[].body[].locks: list',
    '$.files[].statements[].body[].locks[]: list',
    '$.files[].statements[].body[].locks[][]: string',
    '$.files[].statements[].body[].rewrite: null',
    '$.files[].statements[].findings[].table: null',
    '$.files[].statements[].function_refreshes: string',
    '$.files[].statements[].trigger_function: string',
    '$.files[].findings[].table: null',
    '$.drift: list',
    '$.warnings: list',
    '$.warnings[]: string',
    '$.preflight: object',
    '$.preflight.files: list',
    '$.preflight.files[]: string',
    '$.preflight.ok: bool',
    '$.preflight.problems: list',
    '$.preflight.guarded: list',
    '$.preflight.needs: list',
    '$.preflight.needs[]: object',
    '$.preflight.needs[].kind: string',
    '$.preflight.needs[].name: string',
    '$.preflight.needs[].file: string',
    '$.preflight.needs[].line: number',
    '$.preflight.needs[].statement: number',
    '$.preflight.needs[].context: string',
    '$.preflight.needs[].state: string',
    '$.preflight.needs[].detail: null',
    '$.preflight.needs[].fix: null',
    '$.preflight.needs[].detail: string',
    '$.preflight.unchecked: list',
    '$.summary: object',
    '$.summary.preflight_problems: number',
    '$.summary.out_of_order: list',
    '$.summary.out_of_order[]: string',
    '$.summary.files: number',
    '$.summary.statements: number',
    '$.summary.findings: object',
    '$.summary.findings.info: number',
    '$.summary.findings.warn: number',
    '$.summary.findings.danger: number',
    '$.summary.drift: number',
    '$.summary.needs_confirmation: list',
)
"""``plan --json`` on the demo database, pinned before its fields became dataclasses."""


def assert_same_shape(got: list[str], pinned: tuple[str, ...]) -> None:
    assert sorted(set(got) - set(pinned)) == [], "paths or types the contract lacks"
    assert sorted(set(pinned) - set(got)) == [], "paths or types the JSON lost"
    assert key_order(got) == key_order(list(pinned)), "keys in another order"


def test_status_json_keeps_its_keys_types_and_order(demo: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, demo, "status")
    assert doc["pending_files"][0]["name"] == "0005_late_fix.sql"  # the data the shape needs
    assert doc["pending_files"][0]["depends_on"][0]["refs"]
    assert_same_shape(json_shape(doc), STATUS_SHAPE)


def test_plan_json_keeps_its_keys_types_and_order(demo: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, demo, "plan")
    assert [f["file"] for f in doc["files"]][:2] == ["0005_late_fix.sql", "013_e2ee_system.sql"]
    assert any(st["body"] for f in doc["files"] for st in f["statements"])
    assert_same_shape(json_shape(doc), PLAN_SHAPE)


PGSS_CASES = [
    # (what the server says, the keys status prints, in order)
    ({"shared_preload_libraries": None, "pgss_installed": None, "pgss_default": None},
     ["available", "state", "fix"]),
    ({"shared_preload_libraries": None, "pgss_installed": "1.10", "pgss_default": "1.10"},
     ["available", "state", "version", "fix"]),
    ({"shared_preload_libraries": "auto_explain", "pgss_installed": None, "pgss_default": "1.10"},
     ["available", "state", "fix"]),
    ({"shared_preload_libraries": "pg_stat_statements", "pgss_installed": None,
      "pgss_default": "1.10"}, ["available", "state", "fix"]),
    ({"shared_preload_libraries": "pg_stat_statements", "pgss_installed": "1.10",
      "pgss_default": "1.10"}, ["available", "state", "version"]),
    ({"shared_preload_libraries": "pg_stat_statements", "pgss_installed": "1.9",
      "pgss_default": "1.10"}, ["available", "state", "version", "fix"]),
]


@pytest.mark.parametrize(("facts", "keys"), PGSS_CASES)
def test_pg_stat_statements_states_keep_their_keys(facts: dict[str, Any],
                                                   keys: list[str]) -> None:
    """Each state of ``status``'s pg_stat_statements object prints only the keys it has."""
    got = json.loads(json.dumps(pgss_state(facts), default=str))
    assert list(got) == keys


VERIFY_SHAPE = (
    '$: object',
    '$.report: object',
    '$.report.target: string',
    '$.report.database: string',
    '$.report.before_source: string',
    '$.report.before_taken_at: string',
    '$.report.applied: list',
    '$.report.applied[]: string',
    '$.report.checks: list',
    '$.report.checks[]: object',
    '$.report.checks[].id: string',
    '$.report.checks[].group: string',
    '$.report.checks[].status: string',
    '$.report.checks[].summary: string',
    '$.report.started_at: string',
    '$.report.duration_s: number',
    '$.report.notes: list',
    '$.report.notes[]: string',
    '$.report.release_checks: object',
    '$.report.ok: bool',
    '$.report.failed: list',
    '$.evidence: object',
    '$.evidence.schema_expected: object',
    '$.evidence.schema_expected.expected: number',
    '$.evidence.schema_expected.effects: object',
    '$.evidence.schema_expected.effects.files: list',
    '$.evidence.schema_expected.effects.files[]: string',
    '$.evidence.schema_expected.effects.creates: object',
    '$.evidence.schema_expected.effects.creates.tables: object',
    '$.evidence.schema_expected.effects.creates.tables[*]: string',
    '$.evidence.schema_expected.effects.creates.columns: object',
    '$.evidence.schema_expected.effects.creates.columns[*]: string',
    '$.evidence.schema_expected.effects.creates.indexes: object',
    '$.evidence.schema_expected.effects.creates.indexes[*]: string',
    '$.evidence.schema_expected.effects.creates.constraints: object',
    '$.evidence.schema_expected.effects.creates.constraints[*]: string',
    '$.evidence.schema_expected.effects.creates.functions: object',
    '$.evidence.schema_expected.effects.creates.functions[*]: string',
    '$.evidence.schema_expected.effects.creates.triggers: object',
    '$.evidence.schema_expected.effects.creates.triggers[*]: string',
    '$.evidence.schema_expected.effects.creates.views: object',
    '$.evidence.schema_expected.effects.creates.views[*]: string',
    '$.evidence.schema_expected.effects.creates.sequences: object',
    '$.evidence.schema_expected.effects.creates.sequences[*]: string',
    '$.evidence.schema_expected.effects.creates.enums: object',
    '$.evidence.schema_expected.effects.creates.enums[*]: string',
    '$.evidence.schema_expected.effects.drops: object',
    '$.evidence.schema_expected.effects.altered_tables: object',
    '$.evidence.schema_expected.effects.altered_tables[*]: string',
    '$.evidence.schema_expected.effects.deletes_rows: object',
    '$.evidence.schema_expected.effects.enum_values: object',
    '$.evidence.schema_expected.effects.foreign_keys: list',
    '$.evidence.schema_expected.effects.foreign_keys[]: object',
    '$.evidence.schema_expected.effects.foreign_keys[].table: string',
    '$.evidence.schema_expected.effects.foreign_keys[].columns: list',
    '$.evidence.schema_expected.effects.foreign_keys[].columns[]: string',
    '$.evidence.schema_expected.effects.foreign_keys[].ref_table: string',
    '$.evidence.schema_expected.effects.foreign_keys[].ref_columns: list',
    '$.evidence.schema_expected.effects.foreign_keys[].ref_columns[]: string',
    '$.evidence.schema_expected.effects.foreign_keys[].on_delete: string',
    '$.evidence.schema_expected.effects.foreign_keys[].name: null',
    '$.evidence.schema_expected.effects.foreign_keys[].file: string',
    '$.evidence.schema_expected.effects.foreign_keys[].name: string',
    '$.evidence.schema_expected.effects.opaque: list',
    '$.evidence.schema_expected.effects.parse_errors: list',
    '$.evidence.schema_unexpected: object',
    '$.evidence.schema_unexpected.explained: list',
    '$.evidence.schema_unexpected.explained[]: object',
    '$.evidence.schema_unexpected.explained[].category: string',
    '$.evidence.schema_unexpected.explained[].key: string',
    '$.evidence.schema_unexpected.explained[].change: string',
    '$.evidence.schema_unexpected.explained[].by: string',
    '$.evidence.schema_unexpected.unexpected: list',
    '$.evidence.schema_foreign_keys: object',
    '$.evidence.schema_foreign_keys.foreign_keys: list',
    '$.evidence.schema_foreign_keys.foreign_keys[]: object',
    '$.evidence.schema_foreign_keys.foreign_keys[].table: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].columns: list',
    '$.evidence.schema_foreign_keys.foreign_keys[].columns[]: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].references: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].declared_on_delete: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].file: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].live_on_delete: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].name: string',
    '$.evidence.schema_foreign_keys.foreign_keys[].validated: bool',
    '$.evidence.data_row_counts: object',
    '$.evidence.data_row_counts.counted_as: object',
    '$.evidence.data_row_counts.counted_as.role: string',
    '$.evidence.data_row_counts.counted_as.session_role: string',
    '$.evidence.data_row_counts.counted_as.is_superuser: bool',
    '$.evidence.data_row_counts.counted_as.bypassrls: bool',
    '$.evidence.data_row_counts.counted_as.createdb: bool',
    '$.evidence.data_row_counts.counted_as.tables_not_owned: number',
    '$.evidence.data_row_counts.before_counted_as: object',
    '$.evidence.data_row_counts.before_counted_as.role: string',
    '$.evidence.data_row_counts.before_counted_as.session_role: string',
    '$.evidence.data_row_counts.before_counted_as.is_superuser: bool',
    '$.evidence.data_row_counts.before_counted_as.bypassrls: bool',
    '$.evidence.data_row_counts.before_counted_as.createdb: bool',
    '$.evidence.data_row_counts.before_counted_as.tables_not_owned: number',
    '$.evidence.data_row_counts.rls_could_hide_rows: list',
    '$.evidence.data_row_counts.count_budget_s: number',
    '$.evidence.data_row_counts.count_seconds: number',
    '$.evidence.data_row_counts.estimate_over_bytes: null',
    '$.evidence.data_row_counts.tables: list',
    '$.evidence.data_row_counts.tables[]: object',
    '$.evidence.data_row_counts.tables[].table: string',
    '$.evidence.data_row_counts.tables[].before: number',
    '$.evidence.data_row_counts.tables[].after: number',
    '$.evidence.data_row_counts.tables[].method: string',
    '$.evidence.data_row_counts.tables[].bytes: number',
    '$.evidence.data_row_counts.tables[].seconds: number',
    '$.evidence.data_row_counts.tables[].delta: number',
    '$.evidence.data_row_counts.tables[].status: string',
    '$.evidence.data_row_counts.tables[].ok: bool',
    '$.evidence.data_row_counts.tables[].rls_could_hide_rows: bool',
    '$.evidence.data_soft_deleted: object',
    '$.evidence.data_soft_deleted.columns: list',
    '$.evidence.data_soft_deleted.columns[]: object',
    '$.evidence.data_soft_deleted.columns[].table: string',
    '$.evidence.data_soft_deleted.columns[].column: string',
    '$.evidence.data_soft_deleted.columns[].flagged: number',
    '$.evidence.data_soft_deleted.columns[].total: number',
    '$.evidence.health_ledger: object',
    '$.evidence.health_ledger.ledger: string',
    '$.evidence.health_ledger.applied_now: list',
    '$.evidence.health_ledger.applied_now[]: string',
    '$.evidence.health_ledger.applied_before: list',
    '$.evidence.health_ledger.applied_before[]: string',
    '$.evidence.health_ledger.pending: list',
    '$.evidence.health_ledger.applied_without_ledger_row: list',
    '$.evidence.health_ledger.checksum_drift: list',
)
"""``verify --json`` on the migrated demo (``verify_parts``), pinned before its data was typed."""


ROLLBACK_SHAPE = (
    '$: object',
    '$.database: string',
    '$.schema_changed: bool',
    '$.schema_changes: number',
    '$.applied: list',
    '$.applied[]: string',
    '$.down: object',
    '$.down.available: bool',
    '$.down.files: list',
    '$.down.files[]: object',
    '$.down.files[].file: string',
    '$.down.files[].down_file: string',
    '$.down.files[].drops: object',
    '$.down.files[].drops.tables: list',
    '$.down.files[].drops.tables[]: string',
    '$.down.files[].drops.functions: list',
    '$.down.files[].drops.functions[]: string',
    '$.down.files[].drops.enums: list',
    '$.down.files[].drops.enums[]: string',
    '$.down.files[].tables: list',
    '$.down.files[].tables[]: object',
    '$.down.files[].tables[].table: string',
    '$.down.files[].tables[].rows: number',
    '$.down.files[].columns: list',
    '$.down.files[].txn_mode: string',
    '$.down.files[].drops.columns: list',
    '$.down.files[].drops.columns[]: string',
    '$.down.files[].drops.indexes: list',
    '$.down.files[].drops.indexes[]: string',
    '$.down.files[].drops.constraints: list',
    '$.down.files[].drops.constraints[]: string',
    '$.down.files[].drops.triggers: list',
    '$.down.files[].drops.triggers[]: string',
    '$.down.files[].drops.views: list',
    '$.down.files[].drops.views[]: string',
    '$.down.files[].columns[]: object',
    '$.down.files[].columns[].column: string',
    '$.down.files[].columns[].values: number',
    '$.down.missing_down: list',
    '$.down.rows_lost: number',
    '$.down.values_lost: number',
    '$.down.unmeasured: list',
    '$.down.note: string',
    '$.restore: object',
    '$.restore.available: bool',
    '$.restore.backup: string',
    '$.restore.manifest: string',
    '$.restore.taken_at: string',
    '$.restore.age_s: number',
    '$.restore.net_rows_added: number',
    '$.restore.per_table: list',
    '$.restore.per_table[]: object',
    '$.restore.per_table[].table: string',
    '$.restore.per_table[].now: number',
    '$.restore.per_table[].in_backup: number',
    '$.restore.per_table[].added_since: number',
    '$.restore.per_table[].new_table: bool',
    '$.restore.written_since_baseline: object',
    '$.restore.written_since_baseline.since: string',
    '$.restore.written_since_baseline.label: string',
    '$.restore.written_since_baseline.inserted: number',
    '$.restore.written_since_baseline.updated: number',
    '$.restore.written_since_baseline.deleted: number',
    '$.restore.written_since_baseline.tables: list',
    '$.restore.writes_since_backup: object',
    '$.restore.writes_since_backup.inserted: number',
    '$.restore.writes_since_backup.updated: number',
    '$.restore.writes_since_backup.deleted: number',
    '$.restore.writes_since_backup.tables: list',
    '$.restore.writes_since_backup.tables[]: object',
    '$.restore.writes_since_backup.tables[].table: string',
    '$.restore.writes_since_backup.tables[].ins: number',
    '$.restore.writes_since_backup.tables[].upd: number',
    '$.restore.writes_since_backup.tables[].del: number',
    '$.restore.written_since_backup: string',
    '$.restore.note: string',
    '$.app_only: object',
    '$.app_only.available: bool',
    '$.app_only.why: string',
    '$.recommended: string',
    '$.gathered_at: string',
)
"""``rollback --json`` (the facts) on the migrated demo with a row written since, pinned
before the facts' inner dicts were typed."""


ROLLBACK_DOWN_SHAPE = (
    '$: object',
    '$.run: object',
    '$.run.status: string',
    '$.run.direction: string',
    '$.run.run_id: string',
    '$.run.files: list',
    '$.run.files[]: object',
    '$.run.files[].file: string',
    '$.run.files[].version: number',
    '$.run.files[].mode: string',
    '$.run.files[].status: string',
    '$.run.files[].statements: list',
    '$.run.files[].statements[]: object',
    '$.run.files[].statements[].index: number',
    '$.run.files[].statements[].line: number',
    '$.run.files[].statements[].summary: string',
    '$.run.files[].statements[].status: string',
    '$.run.files[].statements[].duration_ms: number',
    '$.run.files[].statements[].lock_wait_ms: number',
    '$.run.files[].statements[].attempts: number',
    '$.run.files[].duration_ms: number',
    '$.run.files[].ledger_written: bool',
    '$.run.files[].attempts: number',
    '$.run.error: null',
    '$.run.blockers: list',
    '$.run.invalid_indexes: list',
    '$.run.dropped_indexes: list',
    '$.run.choices: list',
    '$.run.ledger_kinds: list',
    '$.run.ledger_kinds[]: string',
    '$.run.gate: object',
    '$.run.gate.backup: string',
    '$.run.gate.backup_created: string',
    '$.run.gate.backup_time_from: string',
    '$.run.gate.ledger_latest_change: string',
    '$.run.duration_ms: number',
    '$.run.warnings: list',
    '$.run.committed: list',
    '$.run.committed[]: string',
    '$.run.rolled_back: list',
    '$.run.exit_code: number',
    '$.inventory_equal: bool',
    '$.differences: object',
    '$.ledger_equal: bool',
    '$.to_version: string',
    '$.before_source: string',
    '$.plan: object',
    '$.plan.to_version: string',
    '$.plan.revert: list',
    '$.plan.revert[]: string',
    '$.plan.source: string',
    '$.plan.run: null',
    '$.plan.extra: list',
    '$.plan.reason: string',
    '$.plan.nothing_to_do: string',
    '$.plan.migrations_dir: string',
    '$.notes: list',
    '$.notes[]: string',
    '$.ok: bool',
)
"""``rollback --down --yes --json`` on the migrated demo, pinned before it was typed."""


def test_verify_and_rollback_json_keep_their_shape(plain_demo: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Backup, migrate, a row written since; then ``verify``, the rollback facts and the
    down rollback, each through ``--json``."""
    demo = plain_demo
    backup = run_json(capsys, demo, "backup")
    assert cli.main(["migrate", "--yes", *demo]) == 0
    with psycopg.connect(demo[1]) as c:
        c.execute("SET session_replication_role = replica")
        c.execute("INSERT INTO nchat_users (id, email, username, display_name) "
                  "SELECT gen_random_uuid(), 'late@example.com', 'late', 'Late'")
    verify = run_json(capsys, demo, "verify")
    assert verify["ok"], verify["failed"]
    assert_same_shape(json_shape(verify_parts(verify)), VERIFY_SHAPE)
    facts = run_json(capsys, demo, "rollback")
    assert facts["down"]["files"] and facts["restore"]["per_table"]
    assert facts["restore"]["written_since_baseline"]  # verify recorded the baseline
    assert_same_shape(json_shape(facts), ROLLBACK_SHAPE)
    run_json(capsys, demo, "backup")  # the down path is gated on a backup too
    down = run_json(capsys, demo, "rollback", "--down", "--yes", "--against",
                    backup["manifest"])
    assert down["ok"] and down["run"]["committed"]
    assert_same_shape(json_shape(down), ROLLBACK_DOWN_SHAPE)
