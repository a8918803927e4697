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

    def banner(self) -> dict[str, Any]:
        return dict(FROZEN_STATUS)

    def refresh_banner(self) -> dict[str, Any]:
        return self.banner()

    def execute(self, action: str, ctx: ActionContext | None = None) -> StepResult:
        self.executed.append(action)
        if action in self.scripts and ctx is not None:
            return self.scripts[action](ctx)
        return FROZEN_RESULTS[action]
