"""The v0.4.0 guide's five troubleshooting cases (seed 004) as a tree of live checks.

Checked before or after a failed run: orphaned identity keys, duplicate device ids, disk
space, statement timeout, permission denied. Built on ``monitor.troubleshoot`` (``Tree``,
``Step``, ``check``; the disk space check is the generic one); the registry adds ``TREES`` to
the generic trees, so ``nchat-tui troubleshoot v040`` and the app's troubleshooting list
walk it. Like every check, these only read.
"""

from __future__ import annotations

from nchat_tui.monitor.troubleshoot import CheckContext, Finding, Step, Tree, check
from nchat_tui.pg.queries import sql_text

TREES = (
    Tree("v040", "v0.4.0 migration problems (seed 004)",
         "The five troubleshooting cases of the v0.4.0 guide, checked before or after a failed "
         "run: orphaned identity keys, duplicate device ids, disk space, statement timeout, "
         "permission denied.",
         (
             Step("orphans", "Issue 1: orphaned identity keys (foreign key error)",
                  "orphaned_identity_keys", on_problem="duplicates", on_ok="duplicates"),
             Step("duplicates", "Issue 2: duplicate device ids (materialized view unique index)",
                  "duplicate_device_ids", on_problem="disk", on_ok="disk"),
             Step("disk", "Issue 3: disk space", "disk_space", on_problem="timeout",
                  on_ok="timeout"),
             Step("timeout", "Issue 4: statement timeout", "statement_timeout",
                  on_problem="permissions", on_ok="permissions"),
             Step("permissions", "Issue 5: permission denied", "permissions", on_problem=None,
                  on_ok=None),
         )),
)
"""Every step runs whatever the one before found (a checklist-shaped tree)."""


@check("orphaned_identity_keys")
def check_orphaned_identity_keys(ctx: CheckContext) -> Finding:
    if not ctx.exists("public.nchat_identity_keys"):
        return Finding("orphaned_identity_keys", "ok", "public.nchat_identity_keys does not "
                       "exist yet: the migration creates it empty, no orphans possible")
    if not ctx.exists("public.nchat_users"):
        return Finding("orphaned_identity_keys", "problem", "public.nchat_users does not "
                       "exist: every foreign key to it fails",
                       action="is this the nChat database? check the target")
    r = ctx.rows("orphaned_identity_keys")[0]
    if r["orphans"]:
        return Finding("orphaned_identity_keys", "problem", f"{r['orphans']} identity key(s) "
                       "belong to users that no longer exist: the foreign key to nchat_users "
                       "will fail", r,
                       action="back up, then delete the orphans (review first), then retry",
                       action_sql="DELETE FROM public.nchat_identity_keys k WHERE NOT EXISTS "
                                  "(SELECT 1 FROM public.nchat_users u WHERE u.id = k.user_id);")
    return Finding("orphaned_identity_keys", "ok", "every identity key has its user", r)


@check("duplicate_device_ids")
def check_duplicate_device_ids(ctx: CheckContext) -> Finding:
    if not ctx.exists("public.nchat_identity_keys"):
        return Finding("duplicate_device_ids", "ok", "public.nchat_identity_keys does not exist "
                       "yet: no duplicates possible")
    dups = ctx.rows("duplicate_device_ids")
    multi = (ctx.rows("multiple_active_prekeys") if ctx.exists("public.nchat_signed_prekeys")
             else [])
    ev = {"duplicate_device_ids": dups, "devices_with_several_active_prekeys": multi}
    if dups:
        return Finding("duplicate_device_ids", "problem", f"{len(dups)} device id(s) appear "
                       f"more than once (e.g. {dups[0]['device_id']!r} x{dups[0]['copies']}): "
                       "the unique index idx_prekey_bundles_device cannot be built", ev,
                       action="keep the newest row per device_id and delete the others, then "
                              "retry (an older draft table without the primary key allowed "
                              "them)",
                       action_sql="DELETE FROM public.nchat_identity_keys k USING "
                                  "public.nchat_identity_keys n WHERE k.device_id = n.device_id "
                                  "AND k.ctid < n.ctid;")
    if multi:
        return Finding("duplicate_device_ids", "problem", f"{len(multi)} device(s) have several "
                       "active signed prekeys: the view's join yields duplicate device ids and "
                       "its unique index fails (the guide's query misses this)", ev,
                       action="deactivate all but the newest active signed prekey per device",
                       action_sql="UPDATE public.nchat_signed_prekeys s SET is_active = false "
                                  "WHERE s.is_active AND EXISTS (SELECT 1 FROM "
                                  "public.nchat_signed_prekeys n WHERE n.device_id = s.device_id "
                                  "AND n.is_active AND n.rotation_date > s.rotation_date);")
    return Finding("duplicate_device_ids", "ok", "device ids are unique", ev)


def _ms(setting: str) -> int:
    """A time setting as PostgreSQL shows it ('0', '250ms', '30s', '10min', '1h') in ms."""
    s = setting.strip()
    units = {"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
    for u in ("ms", "min", "s", "h", "d"):
        if s.endswith(u):
            return int(float(s[: -len(u)]) * units[u])
    return int(s or 0)


#: Rough index build speed used to estimate the migration's longest statement.
INDEX_BUILD_BYTES_PER_S = 20 * 1024 ** 2
#: The nself Go CLI runs each migration file with statement_timeout=60s.
NSELF_GO_STATEMENT_TIMEOUT_S = 60


@check("statement_timeout")
def check_statement_timeout(ctx: CheckContext) -> Finding:
    r = ctx.rows("timeouts")[0]
    # what a fresh session of this role in this database gets (ours overrides it)
    effective = None
    for o in (r["overrides"] or []):
        for item in o["settings"]:
            k, _, v = item.partition("=")
            if k == "statement_timeout" and (effective is None or o["role"]):
                effective = v
    session_default = effective if effective is not None else "0"
    timeout_ms = _ms(session_default)
    msg_bytes = r["messages_bytes"] or 0
    estimate_s = max(5.0, msg_bytes / INDEX_BUILD_BYTES_PER_S)
    ev = {"statement_timeout_for_new_sessions": session_default, "overrides": r["overrides"],
          "nchat_messages_bytes": msg_bytes, "estimated_longest_statement_s": round(estimate_s),
          "nself_go_cli_statement_timeout_s": NSELF_GO_STATEMENT_TIMEOUT_S}
    if timeout_ms and timeout_ms / 1000 < estimate_s:
        return Finding("statement_timeout", "problem", f"statement_timeout is {session_default} "
                       f"for new sessions, but building the indexes on nchat_messages may take "
                       f"about {estimate_s:.0f}s", ev,
                       action="run the migration with a longer timeout for its session only "
                              "(nchat-tui sets it per session); do not change it server-wide",
                       action_sql="SET statement_timeout = '10min';  -- in the migration's "
                                  "session only")
    if estimate_s > NSELF_GO_STATEMENT_TIMEOUT_S:
        return Finding("statement_timeout", "warning", f"the nself Go CLI runs each file with "
                       f"statement_timeout=60s; the index builds may take about "
                       f"{estimate_s:.0f}s", ev,
                       action="run the migration from nchat-tui (no 60s cap) instead of nself "
                              "db migrate up")
    return Finding("statement_timeout", "ok", f"statement_timeout for new sessions is "
                   f"{session_default}; estimated longest statement {estimate_s:.0f}s", ev)


@check("permissions")
def check_permissions(ctx: CheckContext) -> Finding:
    rows = ctx.rows("migration_privileges")
    role = ctx.conn().execute(sql_text("checks/current_role.sql")).fetchone()
    me = role[0] if role else "?"
    if rows and rows[0]["superuser"]:
        return Finding("permissions", "ok", f"{me} is a superuser", rows)
    missing = []
    if rows and not rows[0]["can_create_in_public"]:
        missing.append("CREATE on schema public (PostgreSQL 15 no longer grants it to PUBLIC)")
    for r in rows:
        if r["exists"] and r["ok"] is False:
            missing.append(f"{'ownership of' if r['need'] == 'owner' else 'REFERENCES on'} "
                           f"public.{r['table']} (owner {r['owner']})")
    if missing:
        owners = sorted({r["owner"] for r in rows if r["exists"]})
        return Finding("permissions", "problem", f"role {me} cannot run the migration: missing "
                       + "; ".join(missing), rows,
                       action=f"connect as the tables' owner ({', '.join(owners) or 'postgres'})"
                              " (--dsn user=...). The guide's 'docker exec -u postgres' sets "
                              "the OS user, not the database role: psql -U decides")
    return Finding("permissions", "ok", f"{me} owns or may alter every table the migration "
                   "touches", rows)
