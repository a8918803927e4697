"""A fake upgrade session with frozen figures, for snapshot and Pilot tests of the screens.

Only what touches the database is faked (the banner and the actions' results); the checklist
engine and the journal are the real ones, writing to a temporary state dir.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nchat_tui.actions import ActionContext
from nchat_tui.checklist import StepResult
from nchat_tui.session import UpgradeSession
from nchat_tui.target import resolve_target

FROZEN_STATUS: dict[str, Any] = {
    "target": "postgres@db.example.internal:5432/nchat",
    "source": "nself backend /srv/chat/.backend (go env cascade)",
    "server_version": "15.18",
    "server_version_num": 150018,
    "database": "nchat",
    "user": "postgres",
    "is_superuser": True,
    "database_size": 734_003_200,
    "pg_stat_statements": {"available": True, "state": "available", "version": "1.10"},
    "ledger": {"kind": "go", "kinds": ["go"],
               "applied": [f"{n:03d}_x.sql" for n in range(1, 13)],
               "current_version": "012_search_and_audit.sql"},
    "migrations_dir": "/srv/chat/.backend/migrations",
    "pending": ["013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
                "016_live_streaming.sql"],
    "warnings": ["plain name order (nself CLI) differs from numeric order for 0007_x.sql"],
}

FROZEN_RESULTS: dict[str, StepResult] = {
    "connect": StepResult("ok", "PostgreSQL 15.18, database nchat (700 MiB) as postgres",
                          {"server_version": "15.18", "database": "nchat"}),
    "detect_ledger": StepResult("ok", "go ledger: 12 applied, current 012_search_and_audit.sql",
                                {"kind": "go", "applied": 12}),
    "pending_migrations": StepResult("ok", "4 pending, in run order: 013_e2ee_system.sql, "
                                     "014_e2ee_system.sql, 015_voice_calls.sql, "
                                     "016_live_streaming.sql", {"pending": 4}),
    "no_pending_migrations": StepResult("failed", "4 migration(s) still pending", {"pending": 4}),
    "backup": StepResult("ok", "verified: nchat_20261122_030000.dump, 212.4 MiB, 318,542 rows, "
                         "in 41.3 s", {"path": "/srv/backups/nchat_20261122_030000.dump"}),
    "plan": StepResult("warn", "4 file(s), 96 statement(s); findings: 3 warn, 1 danger "
                       "(press v to read the plan before running)", {"statements": 96}),
    "rehearse": StepResult("ok", "ok: up 12.0 s, down 3.1 s; scratch dropped", {}),
    "migrate": StepResult("ok", "applied 4 file(s) in 14.2 s", {"committed": 4}),
    "verify_schema": StepResult("ok", "schema and health: all 14 check(s) hold", {}),
    "verify_data": StepResult("ok", "data against the before-snapshot: all 3 check(s) hold", {}),
    "maintenance": StepResult("ok", "17 item(s) done in 3.2 s", {}),
    "rollback_options": StepResult("ok", "chosen: restore (recommended: down)", {}),
    "rollback": StepResult("ok", "nchat restored; the old database is kept as "
                           "nchat_before_rollback_20261122_040000", {}),
    "disk_space": StepResult("warn", "1.9 GiB free at /srv/backups for a 700 MiB database "
                             "(needs 1.0 GiB): tight", {"free_bytes": 2_040_109_465}),
}


class FakeSession(UpgradeSession):
    def __init__(self, state_dir: Path, path_id: str = "v0.4.0", new: bool = False) -> None:
        target = resolve_target(
            dsn="host=db.example.internal port=5432 user=postgres dbname=nchat "
                "password=hunter2-secret",
            state_dir=state_dir, backup_dir="/srv/backups", migrations="/srv/chat/migrations",
            environ={})
        super().__init__(target, path_id=path_id, new=new, status=dict(FROZEN_STATUS))
        self.executed: list[str] = []
        self.scripts: dict[str, Callable[[ActionContext], StepResult]] = {}
        self.fake_leftovers: list[Any] = []
        self.removed: list[Any] = []

    def banner(self) -> dict[str, Any]:
        return dict(FROZEN_STATUS)

    def refresh_banner(self) -> dict[str, Any]:
        return self.banner()

    def execute(self, action: str, ctx: ActionContext | None = None) -> StepResult:
        self.executed.append(action)
        if action in self.scripts and ctx is not None:
            return self.scripts[action](ctx)
        return FROZEN_RESULTS[action]

    def leftovers(self) -> list[Any]:
        return list(self.fake_leftovers)

    def remove_leftovers(self, found: list[Any]) -> list[str]:
        self.removed.extend(found)
        self.journal.append("leftovers_removed", removed=[str(x.paths) for x in found])
        return [str(x.paths) for x in found]

    def interrupted_run(self) -> dict[str, Any] | None:
        return None

    def start_up_notices(self) -> list[str]:
        return []
