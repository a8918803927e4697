-- slow_queries.sql: this database's statements from pg_stat_statements, top by total and by
-- mean execution time (a template: the monitor fills in the view's schema and
-- the version's column names, the total, mean, max and read-time columns, as identifiers).
-- Monitoring statements (the queryids in monitoring, which the monitor recognised from
-- their text) are ranked apart, so other tools' and our own queries never push the
-- operator's out of the top N; they come back flagged, for the view that shows them.
-- Returns one row per statement: queryid, database, role, calls, total/mean/max ms (planning
-- included when pg_stat_statements.track_planning is on), rows, shared blocks hit/read, block
-- read time, the text cut to 300 characters, and the whole text only for queryids not in
-- known (the monitor reads each statement's text once).
-- Parameters: limit, monitoring and known (bigint arrays).
-- pg_stat_statements 1.7 (PG12) to 1.11 (PG17). No relation locks.
WITH s AS MATERIALIZED (
    SELECT p.queryid, p.userid, p.dbid, p.calls, p.{total} AS total_ms, p.{mean} AS mean_ms,
           p.{max} AS max_ms, p.rows, p.shared_blks_hit, p.shared_blks_read,
           p.{read_time} AS read_ms, p.query,
           p.queryid = ANY(%(monitoring)s::bigint[]) AS monitoring
    FROM {view} p
    WHERE p.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND p.queryid IS NOT NULL
), picked AS (
    (SELECT * FROM s WHERE NOT s.monitoring ORDER BY total_ms DESC LIMIT %(limit)s)
    UNION
    (SELECT * FROM s WHERE NOT s.monitoring ORDER BY mean_ms DESC LIMIT %(limit)s)
    UNION
    (SELECT * FROM s WHERE s.monitoring ORDER BY total_ms DESC LIMIT %(limit)s)
)
SELECT
    p.queryid,
    d.datname AS database,
    pg_get_userbyid(p.userid) AS "user",
    p.calls,
    p.total_ms::float8 AS total_ms,
    p.mean_ms::float8 AS mean_ms,
    p.max_ms::float8 AS max_ms,
    p.rows,
    p.shared_blks_hit,
    p.shared_blks_read,
    p.read_ms::float8 AS read_ms,
    left(p.query, 300) AS query,
    CASE WHEN p.queryid = ANY(%(known)s::bigint[]) THEN NULL ELSE p.query END AS full_query
FROM picked p
LEFT JOIN pg_database d ON d.oid = p.dbid
ORDER BY p.total_ms DESC
