"""A fake upgrade session with frozen figures, for snapshot and Pilot tests of the screens.

Only what touches the database is faked (the banner and the actions' results); the checklist
engine and the journal are the real ones, writing to a temporary state dir.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nchat_tui.backup.engine import Leftover
from nchat_tui.migrate.status import LedgerSummary, PendingFile, PgssState, Status
from nchat_tui.pg.target import resolve_target
from nchat_tui.upgrade.actions import ActionContext
from nchat_tui.upgrade.checklist import StepResult
from nchat_tui.upgrade.contract import SessionLike
from nchat_tui.upgrade.session import UpgradeSession
from tests.fake_evidence import FROZEN_EVIDENCE

FROZEN_STATUS = Status(
    target="postgres@db.example.internal:5432/nchat",
    source="nself backend /srv/chat/.backend (go env cascade)",
    server_version="15.18",
    server_version_num=150018,
    database="nchat",
    user="postgres",
    is_superuser=True,
    database_size=734_003_200,
    pg_stat_statements=PgssState(available=True, state="available", version="1.10"),
    ledger=LedgerSummary(kind="go", kinds=["go"],
                         applied=[f"{n:03d}_x.sql" for n in range(1, 13)],
                         current_version="012"),
    migrations_dir="/srv/chat/.backend/migrations",
    pending=["013_e2ee_system.sql", "014_e2ee_system.sql", "015_voice_calls.sql",
             "016_live_streaming.sql"],
    pending_known=True,
    pending_unknown=None,
    pending_files=[PendingFile(name=f"{n:03d}_x.sql", version=n, out_of_order=False,
                               latest_applied=None, depends_on=[], notes=[])
                   for n in (13, 14, 15, 16)],
    out_of_order=[],
    warnings=["plain name order (nself CLI) differs from numeric order for 0007_x.sql"],
)

FROZEN_STATUS_V080 = dataclasses.replace(
    FROZEN_STATUS,
    ledger=LedgerSummary(kind="go", kinds=["go"],
                         applied=[f"{n:03d}_x.sql" for n in range(1, 17)], current_version="016"),
    pending=[],
    pending_files=[],
    warnings=[],
)
"""v0.7 -> v0.8.0 changes no schema: every file applied, nothing pending."""

E = FROZEN_EVIDENCE

FROZEN_RESULTS: dict[str, StepResult] = {
    "connect": StepResult("ok", "PostgreSQL 15.18, database nchat (700 MiB) as postgres",
                          E["connect"]),
    "detect_ledger": StepResult("ok", "go ledger: 12 applied, current 012", E["detect_ledger"]),
    "pending_migrations": StepResult("ok", "4 pending, in run order: 013_e2ee_system.sql, "
                                     "014_e2ee_system.sql, 015_voice_calls.sql, "
                                     "016_live_streaming.sql", E["pending_migrations"]),
    "no_pending_migrations": StepResult("failed", "4 migration(s) still pending: "
                                        "013_e2ee_system.sql, 014_e2ee_system.sql, "
                                        "015_voice_calls.sql, 016_live_streaming.sql",
                                        E["no_pending_migrations"]),
    "backup": StepResult("ok", "verified: nchat_20261122_030000.dump, 212.4 MiB, 318,542 rows, "
                         "in 41.3 s", E["backup"]),
    "plan": StepResult("warn", "4 file(s), 140 statement(s); findings: 51 info, 3 warn "
                       "(press v to read the plan before running)", E["plan"]),
    "rehearse": StepResult("ok", "ok: up 12.0 s, down 3.1 s, slowest 014_e2ee_system.sql#46 "
                           "4.1s; production estimate 12 s; scratch dropped", E["rehearse"]),
    "migrate": StepResult("ok", "applied 4 file(s): 013_e2ee_system.sql, 014_e2ee_system.sql, "
                          "015_voice_calls.sql, 016_live_streaming.sql in 14.2 s", E["migrate"]),
    "verify_schema": StepResult("ok", "schema and health: 11 check(s) ok", E["verify_schema"]),
    "verify_data": StepResult("ok", "data: 5 check(s) ok", E["verify_data"]),
    "maintenance": StepResult("ok", "16 item(s) done in 3.2 s: 15 table(s) vacuumed and "
                              "analyzed, 1 view(s) refreshed", E["maintenance"]),
    "rollback_options": StepResult("ok", "chosen: restore (recommended: down)",
                                   E["rollback_options"]),
    "rollback": StepResult("ok", "nchat restored from nchat_20261122_030000.dump; the old "
                           "database is kept as nchat_before_rollback_20261122_040000",
                           E["rollback"], reverted=True),
    "verify_rollback": StepResult("ok", "the schema equals the snapshot taken before the upgrade "
                                  "(nchat_20261122_030000.manifest.json); no E2EE table left; 4 "
                                  "migration(s) pending again", E["verify_rollback"]),
    "disk_space": StepResult("warn", "1.9 GiB free at /srv/backups for a 700 MiB database "
                             "(needs 1.0 GiB): tight", E["disk_space"]),
}


class FakeSession(UpgradeSession):
    def __init__(self, state_dir: Path, path_id: str = "v0.4.0", new: bool = False) -> None:
        target = resolve_target(
            dsn="host=db.example.internal port=5432 user=postgres dbname=nchat "
                "password=hunter2-secret",
            state_dir=state_dir, backup_dir="/srv/backups", migrations="/srv/chat/migrations",
            environ={})
        frozen = FROZEN_STATUS_V080 if path_id == "v0.8.0" else FROZEN_STATUS
        super().__init__(target, path_id=path_id, new=new, status=copy.deepcopy(frozen))
        self.status: Status = copy.deepcopy(frozen)
        """What the banner shows; a test's script may change it (a migration, a rollback)."""
        self.executed: list[str] = []
        self.scripts: dict[str, Callable[[ActionContext], StepResult]] = {}
        self.fake_leftovers: list[Leftover] = []
        self.removed: list[Leftover] = []

    def banner(self) -> Status:
        return copy.deepcopy(self.status)

    def refresh_banner(self) -> Status:
        return self.banner()

    def execute(self, action: str, ctx: ActionContext | None = None) -> StepResult:
        self.executed.append(action)
        if action in self.scripts and ctx is not None:
            return self.scripts[action](ctx)
        return FROZEN_RESULTS[action]

    def leftovers(self) -> list[Leftover]:
        return list(self.fake_leftovers)

    def remove_leftovers(self, found: list[Leftover]) -> list[str]:
        self.removed.extend(found)
        self.journal.append("leftovers_removed", removed=[str(x.paths) for x in found])
        return [str(x.paths) for x in found]

    def interrupted_run(self) -> dict[str, Any] | None:
        return None

    def start_up_notices(self) -> list[str]:
        return []


_THE_FAKE_IS_A_SESSION: type[SessionLike] = FakeSession
"""mypy checks the fake against the screens' contract (``SessionLike``), as it checks the
real ``UpgradeSession`` where the app is made from it."""
