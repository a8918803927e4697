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

import pytest

from nchat_tui.cli import main as cli
from nchat_tui.demo.builder import default_migrations_dir, load_demo
from nchat_tui.migrate.status import pgss_state
from tests.json_shape import json_shape, key_order

LATE = ("-- A hot fix written before 013, merged late.\n"
        "-- Depends on: 013_e2ee_system.sql\n"
        "ALTER TABLE public.nchat_users ADD COLUMN IF NOT EXISTS late_flag boolean;\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n")


@pytest.fixture
def demo(pg_db: dict[str, str], tmp_path: Path) -> list[str]:
    load_demo(pg_db, scale=0.02)
    mdir = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), mdir)
    (mdir / "0005_late_fix.sql").write_text(LATE)
    dsn = " ".join(f"{k}={v}" for k, v in pg_db.items())
    return ["--dsn", dsn, "--migrations", str(mdir), "--state-dir", str(tmp_path / "state"),
            "--backup-dir", str(tmp_path / "backups")]


def run_json(capsys: pytest.CaptureFixture[str], opts: list[str], *argv: str) -> Any:
    capsys.readouterr()
    rc = cli.main([argv[0], "--json", *opts, *argv[1:]])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


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
