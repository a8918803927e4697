"""What the target is, right now: server facts, ledger, pending migrations.

Shared by ``nchat-tui status``, the home screen's banner and the first automated steps, so
the screen and the CLI can never disagree. Read-only: it takes no lock beyond catalog reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, TypedDict

import psycopg
from psycopg.rows import dict_row

from nchat_tui.migrate.discovery import discover
from nchat_tui.migrate.ledger import PendingContext, describe_context, detect_ledger, pending, pending_context
from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.target import Target


class PgssState(TypedDict):
    """pg_stat_statements on the target: available, or which of its failure states, with the
    fix. JSON as it is (``status --json``): ``version`` and ``fix`` only where they apply."""

    available: bool
    state: str
    """``available``, ``outdated``, ``not_preloaded``, ``not_created`` or ``unknown`` (this
    role may not read ``shared_preload_libraries``)."""
    version: NotRequired[str]
    """The installed extension's version, when it is installed."""
    fix: NotRequired[str]
    """What to run or change, when it is not (fully) available."""


@dataclass
class ServerFacts:
    """Who and where we are (``sql/status/server_facts.sql``), with pg_stat_statements' state."""

    server_version: str
    server_version_num: int
    database: str
    user: str
    is_superuser: bool
    database_size: int
    shared_preload_libraries: str | None
    """None when this role may not read the setting."""
    pgss_installed: str | None
    pgss_default: str | None
    in_recovery: bool
    server_addr: str | None
    server_now: Any
    pg_stat_statements: PgssState


def server_facts(conn: psycopg.Connection[Any]) -> ServerFacts:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("status/server_facts.sql"))
        row = cur.fetchone()
    assert row is not None
    return ServerFacts(**row, pg_stat_statements=pgss_state(row))


def pgss_state(facts: dict[str, Any]) -> PgssState:
    """pg_stat_statements: available, or which of its failure states, with the fix.

    ``facts``: the server_facts.sql row (``shared_preload_libraries``, ``pgss_installed``,
    ``pgss_default``)."""
    preload_setting: str | None = facts.get("shared_preload_libraries")
    installed: str | None = facts.get("pgss_installed")
    if preload_setting is None:
        # This role may not read the setting: whether the library is loaded is unknown here.
        how = "GRANT pg_read_all_settings TO the role (or run as a superuser) to check"
        if not installed:
            return {"available": False, "state": "not_created",
                    "fix": "CREATE EXTENSION pg_stat_statements; in this database (whether it is "
                           f"in shared_preload_libraries cannot be read as this role: {how})"}
        return {"available": False, "state": "unknown", "version": installed,
                "fix": f"shared_preload_libraries cannot be read as this role: {how}"}
    preload = [s.strip() for s in preload_setting.split(",")]
    if "pg_stat_statements" not in preload:
        return {"available": False, "state": "not_preloaded",
                "fix": "add pg_stat_statements to shared_preload_libraries and restart PostgreSQL"}
    if not installed:
        return {"available": False, "state": "not_created",
                "fix": "CREATE EXTENSION pg_stat_statements; in this database"}
    st: PgssState = {"available": True, "state": "available", "version": installed}
    if facts.get("pgss_default") and facts["pgss_default"] != installed:
        st["state"] = "outdated"
        st["fix"] = "ALTER EXTENSION pg_stat_statements UPDATE;"
    return st


@dataclass
class LedgerSummary:
    """The migration ledger as ``status`` shows it."""

    kind: str
    """``go``, ``bash``, ``guide`` or ``none``: the one the nself CLI reads."""
    kinds: list[str]
    """Every ledger kind found (a database may hold several)."""
    applied: list[str]
    """File names, or versions as recorded, of the applied set."""
    current_version: str | None


@dataclass
class PendingFile(PendingContext):
    """A pending file with what an operator should know before it runs."""

    notes: list[str] = field(default_factory=list)
    """Out of order and dependency lines, as ``status`` prints them."""


@dataclass
class Status:
    """Everything ``status --json`` prints (``to_dict``), the banner and the first checks."""

    target: str
    """``user@host:port/db``: never the password."""
    source: str
    """Where the target came from (``--dsn``, an nself backend's env files, ...)."""
    server_version: str
    server_version_num: int
    database: str
    user: str
    is_superuser: bool
    database_size: int
    pg_stat_statements: PgssState
    ledger: LedgerSummary
    migrations_dir: str | None
    pending: list[str] = field(default_factory=list)
    """Pending file names in run order (empty when ``pending_known`` is False)."""
    pending_known: bool = False
    """False without a (readable) migrations directory: nothing was looked at."""
    pending_unknown: str | None = None
    """Why the pending files are unknown."""
    pending_files: list[PendingFile] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``status --json``."""
        return asdict(self)


def gather_status(target: Target, conn: psycopg.Connection[Any] | None = None) -> Status:
    """Everything `status --json` prints. Opens (and closes) its own connection if none given."""
    own = conn is None
    c = conn or target.connect("nchat-tui status")
    try:
        facts = server_facts(c)
        ledger = detect_ledger(c)
    finally:
        if own:
            c.close()
    out = Status(
        target=target.masked(), source=target.source,
        server_version=facts.server_version, server_version_num=facts.server_version_num,
        database=facts.database, user=facts.user, is_superuser=facts.is_superuser,
        database_size=facts.database_size, pg_stat_statements=facts.pg_stat_statements,
        ledger=LedgerSummary(ledger.kind, ledger.kinds, ledger.applied_names(),
                             ledger.current_version()),
        migrations_dir=str(target.migrations_dir) if target.migrations_dir else None,
        warnings=list(target.notes))
    if target.migrations_dir:
        if not target.migrations_dir.is_dir():
            out.pending_unknown = f"migrations directory {target.migrations_dir} does not exist"
            out.warnings.append(out.pending_unknown)
        else:
            disc = discover(target.migrations_dir)
            todo = pending(disc.files, ledger)
            ctx = pending_context(disc, ledger, todo)
            out.pending = [f.name for f in todo]
            out.pending_known = True
            out.pending_files = [PendingFile(**vars(ctx[f.name]),
                                             notes=describe_context(ctx[f.name]))
                                 for f in todo]
            out.out_of_order = [f.name for f in todo if ctx[f.name].out_of_order]
            if out.out_of_order:
                out.warnings.append(
                    f"{len(out.out_of_order)} pending file(s) sort below the latest applied "
                    f"version ({ledger.current_version()}): {', '.join(out.out_of_order)} "
                    "will run out of order, after files they numerically precede")
            out.warnings.extend(disc.warnings)
    else:
        out.pending_unknown = ("no migrations directory (give --migrations or "
                               "--backend-dir)")
        out.warnings.append(out.pending_unknown + ": pending migrations cannot be listed")
    return out
