"""What a statement's text is, for the monitor: its header comment, its body, and whether it
is a monitoring query (ours, pg_activity's, PgHero's, pgwatch's, any tool that reads only the
statistics views and catalogs).

``describe(text)`` returns a ``QueryText``; the monitor keeps one per pg_stat_statements
queryid, so each statement is parsed once, not on every sample. Pure functions, no database,
no Textual. It must never decide from a cut text that a query is *not* the operator's: when
in doubt (no parse, a write, any relation outside the catalogs), a statement is not
monitoring and stays among the slow queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Our SQL files open with ``-- name.sql: what it returns``.
OWN_HEADER = re.compile(r"\s*--\s*([\w./-]+\.sql):")
_LEADING_COMMENT = re.compile(r"\A\s*(?:--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z))", re.S)
#: Tools that mark their statements with a comment or a name we can see in the text.
TOOL_MARKS = (
    (re.compile(r"pgwatch", re.I), "pgwatch"),
    (re.compile(r"pghero", re.I), "PgHero"),
    (re.compile(r"pg_activity", re.I), "pg_activity"),
    (re.compile(r"\bpgmetrics\b", re.I), "pgmetrics"),
    (re.compile(r"postgres_exporter|pg_exporter", re.I), "postgres_exporter"),
)
#: Schema-less relations a monitoring query may read besides pg_*: pgwatch's helper functions
#: and views read the statistics for a role without superuser.
MONITORING_HELPERS = re.compile(r"^(get_stat_\w+|get_load_average\w*|get_psutil_\w+|"
                                r"get_table_bloat\w*|get_wal_size|get_sequences)$")
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
#: Functions that read statistics or sizes: evidence of a monitoring query.
STATS_FUNCTIONS = re.compile(
    r"^pg_(stat_\w+|\w*_size|size_pretty|blocking_pids|safe_snapshot_blocking_pids|"
    r"backend_pid|is_in_recovery|current_wal_\w+|last_\w+|wal_lsn_diff|"
    r"postmaster_start_time|conf_load_time|ls_\w+|get_replication_slots)$")
#: Functions that wait, lock, signal or change something: never part of a monitoring query
#: (``SELECT pg_sleep($1)`` is an application's, or a test's, not a monitor's).
ACTION_FUNCTIONS = re.compile(
    r"^(pg_sleep\w*|pg_(try_)?advisory\w*|pg_notify|pg_terminate_backend|pg_cancel_backend|"
    r"pg_reload_conf|pg_switch_wal|pg_create_\w+|pg_drop_\w+|pg_promote|pg_rotate_logfile|"
    r"pg_stat_reset\w*|pg_stat_statements_reset|set_config|nextval|setval|lo_\w+|dblink\w*)$")


@dataclass(frozen=True)
class QueryText:
    """A statement's text, taken apart for display."""

    body: str
    """The statement without its leading comments, whitespace collapsed (may be empty when the
    stored text was cut inside the header comment)."""
    comment: str | None
    """The first line of its leading comment, when it has one."""
    monitoring: bool
    """A monitoring query: reads only statistics views and catalogs, writes nothing."""
    source: str | None
    """Who runs it, when the text says: ``nchat-tui <file>``, ``pg_activity``, ``PgHero``..."""


def split_comments(text: str) -> tuple[str | None, str]:
    """(first line of the leading comments, the rest of the text)."""
    first: str | None = None
    rest = text
    while True:
        m = _LEADING_COMMENT.match(rest)
        if not m:
            break
        chunk = m.group(0).strip()
        if first is None:
            inner = chunk[2:] if chunk.startswith("--") else chunk[2:].removesuffix("*/")
            for line in inner.splitlines():
                line = line.strip(" \t-*=#")
                if line:
                    first = line
                    break
        rest = rest[m.end():]
    return first, rest


def describe(text: str | None) -> QueryText:
    text = text or ""
    comment, rest = split_comments(text)
    body = " ".join(rest.split())
    own = OWN_HEADER.match(text)
    source = f"nchat-tui {own.group(1)}" if own else None
    if source is None:
        for pattern, name in TOOL_MARKS:
            if pattern.search(text):
                source = name
                break
    monitoring = bool(own) or _reads_only_statistics(rest)
    if source is not None and not own and not monitoring:
        source = None  # a tool's name in an application query says nothing about it
    return QueryText(body=body, comment=comment, monitoring=monitoring, source=source)


def _reads_only_statistics(sql_text: str) -> bool:
    """A plain read whose every relation and function is in the catalogs (pg_*)."""
    if not sql_text.strip():
        return False
    import pglast  # noqa: PLC0415 - heavy SQL parser, only for this check
    from pglast import ast  # noqa: PLC0415 - heavy SQL parser, only for this check
    from pglast.visitors import Visitor  # noqa: PLC0415 - heavy SQL parser, only for this check

    try:
        stmts = pglast.parse_sql(sql_text)
    except Exception:
        return False
    if not stmts:
        return False
    found = {"catalog": 0, "other": 0}

    class Walk(Visitor):
        def visit_RangeVar(self, _ancestor: Any, node: Any) -> None:
            schema, name = node.schemaname, node.relname or ""
            cte = name in ctes
            if cte:
                return
            if schema in CATALOG_SCHEMAS or (schema is None and name.startswith("pg_")) \
                    or MONITORING_HELPERS.match(name):
                found["catalog"] += 1
            else:
                found["other"] += 1

        def visit_RangeFunction(self, _ancestor: Any, node: Any) -> None:
            pass

        def visit_FuncCall(self, _ancestor: Any, node: Any) -> None:
            names = [getattr(n, "sval", None) or "" for n in node.funcname or ()]
            name = names[-1] if names else ""
            schema = names[0] if len(names) > 1 else None
            if ACTION_FUNCTIONS.match(name):
                found["other"] += 1
            elif schema in (None, *CATALOG_SCHEMAS) and (
                    STATS_FUNCTIONS.match(name) or MONITORING_HELPERS.match(name)):
                found["catalog"] += 1

    for raw in stmts:
        stmt = raw.stmt
        if not isinstance(stmt, ast.SelectStmt) or stmt.intoClause is not None \
                or stmt.lockingClause:
            return False
        ctes = {c.ctename for c in (stmt.withClause.ctes if stmt.withClause else ()) or ()}
        for c in (stmt.withClause.ctes if stmt.withClause else ()) or ():
            if not isinstance(c.ctequery, ast.SelectStmt):
                return False  # a data-modifying CTE
        Walk()(stmt)
    return found["catalog"] > 0 and found["other"] == 0


# -- sessions ---------------------------------------------------------------------------------
#: The ``application_name`` monitoring tools connect with (each sets its own): another
#: nchat-tui, pg_activity, pgwatch, PgHero, the Prometheus exporters, pgmetrics, pganalyze...
MONITOR_APPS = re.compile(
    r"^(nchat-tui monitor|pg_activity|pgwatch\S*|pghero|postgres_exporter|pg_exporter|"
    r"pgmetrics|pganalyze\S*|pgcenter|pg_top|check_postgres\S*|pgdash\S*|pgmonitor\S*)$",
    re.I)
#: Seconds a monitoring sample may run and still be left out of Sessions: a monitor's query
#: stuck longer than this (or waiting for a lock) is news, and is listed.
BRIEF_SAMPLE_S = 5.0
_READ = re.compile(r"(?:select|with|show|table|values)\b", re.I)
_WRITES = re.compile(
    r"\b(insert|update|delete|merge|copy|lock|truncate|create|alter|drop|grant|revoke|"
    r"vacuum|analyze|cluster|reindex|refresh|into|call|do|execute|share|nowait|"
    r"pg_sleep\w*|pg_(?:try_)?advisory\w*|pg_notify|pg_terminate_backend|pg_cancel_backend|"
    r"pg_reload_conf|pg_switch_wal|pg_create_\w+|pg_drop_\w+|pg_promote|pg_stat_reset\w*|"
    r"pg_stat_statements_reset|set_config|nextval|setval|lo_\w+|dblink\w*)\b", re.I)


def _monitor_headers() -> frozenset[str]:
    """The first lines of the monitor's own SQL files (``sql/monitor/*.sql``, reads all of
    them), whitespace collapsed: ``-- activity.sql: every client backend of the server...``."""
    global _MONITOR_HEADERS
    if _MONITOR_HEADERS is None:
        from nchat_tui.pg.queries import SQL_DIR  # noqa: PLC0415 - psycopg, only for sessions

        _MONITOR_HEADERS = frozenset(
            _first_line(p.read_text(encoding="utf-8"))
            for p in (SQL_DIR / "monitor").glob("*.sql"))
    return _MONITOR_HEADERS


_MONITOR_HEADERS: frozenset[str] | None = None


def _first_line(text: str) -> str:
    return " ".join(text.lstrip().split("\n", 1)[0].split())


def _our_monitor_query(query: str | None) -> bool | None:
    """Whether a text that opens like our SQL (``-- name.sql:``) is one of the monitor's
    queries, by its whole first line (not by the file name alone: any script may be called
    ``locks.sql``); None for a text that does not open like ours."""
    if not OWN_HEADER.match(query or ""):
        return None
    return _first_line(query or "") in _monitor_headers()


def monitor_session(application: str | None, query: str | None) -> bool:
    """A session of a monitoring tool: known by the name it connects with, or running (or
    last ran) one of the monitor's own queries."""
    return bool(MONITOR_APPS.match(application or "") or _our_monitor_query(query))


def monitoring_sample(application: str | None, query: str | None, state: str | None,
                      age_s: float | None, wait_event_type: str | None) -> bool:
    """A monitoring tool's session caught in one of its samples: a short read of the
    statistics, noise in a list of what the server is doing (a 1 s sampler catches a 50 ms
    query one time in twenty, and its row comes and goes).

    Only a read that has run under ``BRIEF_SAMPLE_S`` and waits for no lock: one of the
    monitor's own queries (``sql/monitor``: reads only), or, from a session named as a
    monitoring tool, a text that (as far as pg_stat_activity keeps it) starts as a read and
    names no write, lock, wait or signal. Anything else a monitor runs is listed like any
    session's. When in doubt: not a sample."""
    if state != "active" or wait_event_type == "Lock" or age_s is None \
            or age_s >= BRIEF_SAMPLE_S:
        return False
    ours = _our_monitor_query(query)
    if ours is not None:
        return ours
    if not MONITOR_APPS.match(application or ""):
        return False
    _comment, rest = split_comments(query or "")
    return bool(_READ.match(rest.lstrip("( \t\r\n"))) and not _WRITES.search(rest)
