-- slow_queries.sql: this database's statements from pg_stat_statements, top by total and
-- by mean execution time (a template: the monitor fills in the view's schema and the
-- version's column names, the total, mean, max and read-time columns, as identifiers).
-- Returns one row per statement: queryid, role, calls, total/mean/max ms, rows, shared
-- blocks hit/read, block read time and the query text (300 characters).
-- Parameter: limit. pg_stat_statements 1.7 (PG12) to 1.11 (PG17). No relation locks.
WITH s AS MATERIALIZED (
    SELECT p.queryid, p.userid, p.calls, p.{total} AS total_ms, p.{mean} AS mean_ms,
           p.{max} AS max_ms, p.rows, p.shared_blks_hit, p.shared_blks_read,
           p.{read_time} AS read_ms, p.query
    FROM {view} p
    WHERE p.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND p.queryid IS NOT NULL
), picked AS (
    (SELECT * FROM s ORDER BY total_ms DESC LIMIT %(limit)s)
    UNION
    (SELECT * FROM s ORDER BY mean_ms DESC LIMIT %(limit)s)
)
SELECT
    p.queryid,
    pg_get_userbyid(p.userid) AS "user",
    p.calls,
    p.total_ms::float8 AS total_ms,
    p.mean_ms::float8 AS mean_ms,
    p.max_ms::float8 AS max_ms,
    p.rows,
    p.shared_blks_hit,
    p.shared_blks_read,
    p.read_ms::float8 AS read_ms,
    left(p.query, 300) AS query
FROM picked p
ORDER BY p.total_ms DESC
