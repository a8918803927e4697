"""What the target is, right now: server facts, ledger, pending migrations.

Shared by ``nchat-tui status``, the home screen's banner and the first automated steps, so
the screen and the CLI can never disagree. Read-only: it takes no lock beyond catalog reads.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from nchat_tui.pg.queries import sql_text
from nchat_tui.pg.target import Target


def server_facts(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("status/server_facts.sql"))
        row = cur.fetchone()
    assert row is not None
    facts = dict(row)
    facts["pg_stat_statements"] = pgss_state(facts)
    return facts


def pgss_state(facts: dict[str, Any]) -> dict[str, Any]:
    """pg_stat_statements: available, or which of its failure states, with the fix."""
    if facts.get("shared_preload_libraries") is None:
        # This role may not read the setting: whether the library is loaded is unknown here.
        how = "GRANT pg_read_all_settings TO the role (or run as a superuser) to check"
        if not facts.get("pgss_installed"):
            return {"available": False, "state": "not_created",
                    "fix": "CREATE EXTENSION pg_stat_statements; in this database (whether it is "
                           f"in shared_preload_libraries cannot be read as this role: {how})"}
        return {"available": False, "state": "unknown", "version": facts["pgss_installed"],
                "fix": f"shared_preload_libraries cannot be read as this role: {how}"}
    preload = [s.strip() for s in (facts.get("shared_preload_libraries") or "").split(",")]
    if "pg_stat_statements" not in preload:
        return {"available": False, "state": "not_preloaded",
                "fix": "add pg_stat_statements to shared_preload_libraries and restart PostgreSQL"}
    if not facts.get("pgss_installed"):
        return {"available": False, "state": "not_created",
                "fix": "CREATE EXTENSION pg_stat_statements; in this database"}
    st: dict[str, Any] = {"available": True, "state": "available",
                          "version": facts["pgss_installed"]}
    if facts.get("pgss_default") and facts["pgss_default"] != facts["pgss_installed"]:
        st["state"] = "outdated"
        st["fix"] = "ALTER EXTENSION pg_stat_statements UPDATE;"
    return st


def gather_status(target: Target, conn: psycopg.Connection[Any] | None = None) -> dict[str, Any]:
    """Everything `status --json` prints. Opens (and closes) its own connection if none given."""
    from nchat_tui.migrate.discovery import discover
    from nchat_tui.migrate.ledger import describe_context, detect_ledger, pending, pending_context

    own = conn is None
    c = conn or target.connect("nchat-tui status")
    try:
        facts = server_facts(c)
        ledger = detect_ledger(c)
    finally:
        if own:
            c.close()
    out: dict[str, Any] = {
        "target": target.masked(),
        "source": target.source,
        "server_version": facts["server_version"],
        "server_version_num": facts["server_version_num"],
        "database": facts["database"],
        "user": facts["user"],
        "is_superuser": facts["is_superuser"],
        "database_size": facts["database_size"],
        "pg_stat_statements": facts["pg_stat_statements"],
        "ledger": {"kind": ledger.kind, "kinds": ledger.kinds, "applied": ledger.applied_names(),
                   "current_version": ledger.current_version()},
        "migrations_dir": str(target.migrations_dir) if target.migrations_dir else None,
        "pending": [],
        "pending_known": False,
        "pending_unknown": None,
        "pending_files": [],
        "out_of_order": [],
        "warnings": list(target.notes),
    }
    if target.migrations_dir:
        if not target.migrations_dir.is_dir():
            out["pending_unknown"] = f"migrations directory {target.migrations_dir} does not exist"
            out["warnings"].append(out["pending_unknown"])
        else:
            disc = discover(target.migrations_dir)
            todo = pending(disc.files, ledger)
            ctx = pending_context(disc, ledger, todo)
            out["pending"] = [f.name for f in todo]
            out["pending_known"] = True
            out["pending_files"] = [{**ctx[f.name], "notes": describe_context(ctx[f.name])}
                                    for f in todo]
            out["out_of_order"] = [f.name for f in todo if ctx[f.name]["out_of_order"]]
            if out["out_of_order"]:
                out["warnings"].append(
                    f"{len(out['out_of_order'])} pending file(s) sort below the latest applied "
                    f"version ({ledger.current_version()}): {', '.join(out['out_of_order'])} "
                    "will run out of order, after files they numerically precede")
            out["warnings"].extend(disc.warnings)
    else:
        out["pending_unknown"] = ("no migrations directory (give --migrations or "
                                  "--backend-dir)")
        out["warnings"].append(out["pending_unknown"] + ": pending migrations cannot be listed")
    return out
